# SPDX-License-Identifier: Apache-2.0
#
# How a driver joins the build. A driver folder (src/drivers/<name>/CMakeLists.txt) does:
#
#   verrou_driver_option(redis "Redis store (hiredis, OpenSSL)")
#   find_package(...)                                  # its client library
#   verrou_driver_enabled(redis <found> build_it)      # honours VERROU_DRIVER_REDIS=ON|OFF|AUTO
#   if(build_it)
#     verrou_add_driver(NAME redis
#       SOURCES redis_store.cpp ...
#       LIBRARIES PkgConfig::HIREDIS OpenSSL::SSL
#       CONFIG_CODE "find_dependency(OpenSSL) ...")    # re-finds LIBRARIES for find_package(verrou)
#   endif()
#
# The driver's sources are compiled into libverrou (verrou_objects, src/core/CMakeLists.txt),
# so `open_store` reaches every driver built, with no registration order to get wrong, and
# `verrou::<name>` is an interface target that consumers name to say they need it. The driver defines
# `void verrou::detail::register_<name>_driver(verrou::detail::DriverRegistry&)`, which adds
# its URL schemes; verrou_finalize_drivers() generates the call. The LIBRARIES also say what
# the driver's pkg-config file names for a static link (VerrouPkgConfig.cmake).

include(VerrouPkgConfig)

function(verrou_driver_option name description)
  string(TOUPPER "${name}" upper)
  set(VERROU_DRIVER_${upper} AUTO CACHE STRING "${description}: ON, OFF or AUTO (built when its library is found)")
  set_property(CACHE VERROU_DRIVER_${upper} PROPERTY STRINGS ON OFF AUTO)
  set_property(GLOBAL PROPERTY VERROU_DRIVER_DESCRIPTION_${name} "${description}")
endfunction()

function(verrou_driver_enabled name found out_var)
  string(TOUPPER "${name}" upper)
  set(mode "${VERROU_DRIVER_${upper}}")
  if(mode STREQUAL "OFF")
    set(${out_var} FALSE PARENT_SCOPE)
  elseif(${found})
    set(${out_var} TRUE PARENT_SCOPE)
  elseif(mode STREQUAL "ON")
    message(FATAL_ERROR "verrou: VERROU_DRIVER_${upper}=ON but the ${name} driver's library was not found")
  else()
    message(STATUS "verrou: ${name} driver skipped (its library was not found)")
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()

function(verrou_add_driver)
  cmake_parse_arguments(PARSE_ARGV 0 D "" "NAME" "SOURCES;LIBRARIES;CONFIG_CODE")
  target_sources(verrou_objects PRIVATE ${D_SOURCES})
  string(TOUPPER "${D_NAME}" upper)
  target_compile_definitions(verrou_objects PUBLIC VERROU_HAS_${upper}=1)
  target_compile_definitions(verrou_core PUBLIC VERROU_HAS_${upper}=1)
  if(D_LIBRARIES)
    target_link_libraries(verrou_objects PRIVATE ${D_LIBRARIES})
    target_link_libraries(verrou_core PRIVATE ${D_LIBRARIES})
  endif()
  get_target_property(internal_type verrou_internal TYPE)
  if(internal_type STREQUAL "STATIC_LIBRARY")
    target_compile_definitions(verrou_internal PUBLIC VERROU_HAS_${upper}=1)
    if(D_LIBRARIES)
      target_link_libraries(verrou_internal PRIVATE ${D_LIBRARIES})
    endif()
  endif()
  # The project's own programs take the driver from verrou_internal (the same library, or its
  # static twin when libverrou is shared); installed users from verrou::core.
  add_library(verrou_${D_NAME} INTERFACE)
  target_link_libraries(verrou_${D_NAME} INTERFACE $<BUILD_INTERFACE:verrou_internal>
                        $<INSTALL_INTERFACE:verrou::core>)
  set_target_properties(verrou_${D_NAME} PROPERTIES EXPORT_NAME ${D_NAME})
  add_library(verrou::${D_NAME} ALIAS verrou_${D_NAME})
  set_property(GLOBAL APPEND PROPERTY VERROU_DRIVERS ${D_NAME})
  verrou_pkg_config_record(${D_NAME} "${D_LIBRARIES}")
  # cmake_parse_arguments(PARSE_ARGV) keeps a ';' inside an argument as '\;': undo that, so
  # the code reads as written (e.g. find_library(... NAMES mariadb;mysqlclient)).
  string(REPLACE "\\;" ";" config_code "${D_CONFIG_CODE}")
  set_property(GLOBAL APPEND_STRING PROPERTY VERROU_CONFIG_CODE "${config_code}\n")
endfunction()

function(verrou_finalize_drivers)
  get_property(drivers GLOBAL PROPERTY VERROU_DRIVERS)
  set(declarations "")
  set(calls "")
  foreach(d IN LISTS drivers)
    string(APPEND declarations "void register_${d}_driver(DriverRegistry& registry);\n")
    string(APPEND calls "  register_${d}_driver(registry);\n")
  endforeach()
  configure_file("${PROJECT_SOURCE_DIR}/src/core/builtin_drivers.cpp.in"
                 "${PROJECT_BINARY_DIR}/generated/builtin_drivers.cpp" @ONLY)
  target_sources(verrou_objects PRIVATE "${PROJECT_BINARY_DIR}/generated/builtin_drivers.cpp")
endfunction()
