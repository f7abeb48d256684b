# SPDX-License-Identifier: Apache-2.0
#
# pkg-config files: verrou.pc for the library, and verrou-<driver>.pc for each driver built
# into it, for builds without CMake:
#
#   c++ -std=c++20 app.cpp $(pkg-config --cflags --libs verrou-redis)   # static or shared
#
# Every driver is compiled into libverrou, so a static libverrou.a needs the client library of
# every driver built: verrou.pc names them all (Requires, Libs: always needed, so not in the
# .private fields), and each driver's file names its own again. A shared libverrou records
# them itself (DT_NEEDED), so its files name none, and building against it needs none of the
# drivers' -dev packages.
#
# What a driver needs is read from the LIBRARIES it gives verrou_add_driver (VerrouDrivers.cmake
# calls verrou_pkg_config_record): the imported targets of CMake's find modules map to their
# pkg-config modules below; a PkgConfig::<X> target to the module pkg_check_modules found; any
# other imported library to -l<name>.

# The pkg-config module of each imported target of a CMake find module the drivers use.
set(VERROU_PC_MODULE_OF_OpenSSL::SSL libssl)
set(VERROU_PC_MODULE_OF_OpenSSL::Crypto libcrypto)
set(VERROU_PC_MODULE_OF_PostgreSQL::PostgreSQL libpq)
set(VERROU_PC_MODULE_OF_SQLite::SQLite3 sqlite3)
set(VERROU_PC_MODULE_OF_CURL::libcurl libcurl)

# _verrou_pc_link_flag(<library file or name> <out>): -l<name>, with -L<dir> unless the linker
# searches that folder anyway.
function(_verrou_pc_link_flag item out)
  if(IS_ABSOLUTE "${item}")
    get_filename_component(dir "${item}" DIRECTORY)
    get_filename_component(file "${item}" NAME)
    if(NOT file MATCHES "^lib(.+)\\.(so|a)(\\..*)?$")
      message(FATAL_ERROR "verrou: cannot name ${item} in a pkg-config file")
    endif()
    set(flag "-l${CMAKE_MATCH_1}")
    if(NOT dir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
      set(flag "-L${dir} ${flag}")
    endif()
  elseif(item MATCHES "^-")
    set(flag "${item}")
  else()
    set(flag "-l${item}")
  endif()
  set(${out} "${flag}" PARENT_SCOPE)
endfunction()

# _verrou_pc_deps(<libraries> <out requires> <out libs>): the pkg-config modules and the linker
# flags that stand for <libraries> (CMake link items) in a static link.
function(_verrou_pc_deps libraries out_requires out_libs)
  set(requires "")
  set(libs "")
  foreach(item IN LISTS libraries)
    if(DEFINED VERROU_PC_MODULE_OF_${item})
      list(APPEND requires ${VERROU_PC_MODULE_OF_${item}})
    elseif(item MATCHES "^PkgConfig::(.+)$")
      if(NOT ${CMAKE_MATCH_1}_MODULE_NAME)
        message(FATAL_ERROR "verrou: no pkg-config module name known for ${item}")
      endif()
      list(APPEND requires ${${CMAKE_MATCH_1}_MODULE_NAME})
    elseif(item STREQUAL "Threads::Threads")
      list(APPEND libs "-pthread")
    elseif(TARGET "${item}")
      get_target_property(imported "${item}" IMPORTED)
      get_target_property(location "${item}" IMPORTED_LOCATION)
      if(NOT imported OR NOT location)
        message(FATAL_ERROR "verrou: cannot write the pkg-config files: no library file known "
                            "for ${item}; map it in cmake/VerrouPkgConfig.cmake")
      endif()
      _verrou_pc_link_flag("${location}" flag)
      list(APPEND libs "${flag}")
      get_target_property(dependencies "${item}" INTERFACE_LINK_LIBRARIES)
      if(dependencies)
        _verrou_pc_deps("${dependencies}" more_requires more_libs)
        list(APPEND requires ${more_requires})
        list(APPEND libs ${more_libs})
      endif()
    elseif(item MATCHES "::")
      message(FATAL_ERROR "verrou: cannot write the pkg-config files: ${item} is no target; "
                          "map it in cmake/VerrouPkgConfig.cmake")
    else()
      _verrou_pc_link_flag("${item}" flag)
      list(APPEND libs "${flag}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES requires)
  # A library goes after every library that needs it (the order a static link wants): keep
  # the last of repeated flags.
  list(REVERSE libs)
  list(REMOVE_DUPLICATES libs)
  list(REVERSE libs)
  set(${out_requires} "${requires}" PARENT_SCOPE)
  set(${out_libs} "${libs}" PARENT_SCOPE)
endfunction()

# verrou_pkg_config_record(<driver> <libraries>): called by verrou_add_driver, in the driver's
# own folder (where pkg_check_modules left its module names).
function(verrou_pkg_config_record driver libraries)
  _verrou_pc_deps("${libraries}" requires libs)
  set_property(GLOBAL PROPERTY VERROU_PC_REQUIRES_${driver} "${requires}")
  set_property(GLOBAL PROPERTY VERROU_PC_LIBS_${driver} "${libs}")
endfunction()

# _verrou_pc_write(<file name> <name> <description> <Requires> <Requires.private>
#                  <Libs> <Libs.private> <Cflags>): a .pc file in the build tree whose
# prefix line is written at install time, so `cmake --install --prefix` is honoured.
function(_verrou_pc_write file name description requires requires_private libs libs_private
         cflags)
  foreach(dir IN ITEMS LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
      set(${dir} "${CMAKE_INSTALL_${dir}}")
    else()
      set(${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
    endif()
  endforeach()
  foreach(var IN ITEMS requires requires_private)
    string(REPLACE ";" ", " ${var} "${${var}}")
  endforeach()
  string(REPLACE ";" " " libs_private "${libs_private}")
  set(text "prefix=@VERROU_PC_PREFIX@
libdir=${LIBDIR}
includedir=${INCLUDEDIR}

Name: ${name}
Description: ${description}
Version: ${PROJECT_VERSION}
")
  if(requires)
    string(APPEND text "Requires: ${requires}\n")
  endif()
  if(requires_private)
    string(APPEND text "Requires.private: ${requires_private}\n")
  endif()
  if(libs)
    string(APPEND text "Libs: ${libs}\n")
  endif()
  if(libs_private)
    string(APPEND text "Libs.private: ${libs_private}\n")
  endif()
  if(cflags)
    string(APPEND text "Cflags: ${cflags}\n")
  endif()
  file(WRITE "${PROJECT_BINARY_DIR}/pkgconfig/${file}.in" "${text}")
  install(CODE "
    file(READ \"${PROJECT_BINARY_DIR}/pkgconfig/${file}.in\" text)
    string(REPLACE \"@VERROU_PC_PREFIX@\" \"\${CMAKE_INSTALL_PREFIX}\" text \"\${text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/pkgconfig/${file}\" \"\${text}\")")
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/${file}"
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()

# verrou_install_pkg_config(): writes and installs verrou.pc and one file per driver built.
function(verrou_install_pkg_config)
  get_target_property(type verrou_core TYPE)
  set(static FALSE)
  if(type STREQUAL "STATIC_LIBRARY")
    set(static TRUE)
  endif()
  get_property(drivers GLOBAL PROPERTY VERROU_DRIVERS)

  # The same compile flags CMake users get from verrou::core.
  set(cflags "-I\${includedir}")
  if(static)
    string(APPEND cflags " -DVERROU_STATIC_DEFINE")
  endif()
  foreach(d IN LISTS drivers)
    string(TOUPPER "${d}" upper)
    string(APPEND cflags " -DVERROU_HAS_${upper}=1")
  endforeach()

  set(all_requires "")
  set(all_libs "")
  foreach(d IN LISTS drivers)
    get_property(requires GLOBAL PROPERTY VERROU_PC_REQUIRES_${d})
    get_property(libs GLOBAL PROPERTY VERROU_PC_LIBS_${d})
    list(APPEND all_requires ${requires})
    list(APPEND all_libs ${libs})
  endforeach()
  list(REMOVE_DUPLICATES all_requires)
  list(REVERSE all_libs)
  list(REMOVE_DUPLICATES all_libs)
  list(REVERSE all_libs)
  if(NOT static)
    set(all_requires "")
    set(all_libs "")
  endif()
  # A static libverrou always needs its drivers' client libraries, so they are in Requires
  # and Libs, not the .private fields: `pkg-config --cflags --libs` alone links a consumer,
  # against the shared builds of those libraries (`--static` would also ask for their own
  # private dependencies, which Debian does not ship as static libraries).
  string(REPLACE ";" " " all_libs "${all_libs}")
  _verrou_pc_write(verrou.pc verrou "${PROJECT_DESCRIPTION}: the library, its memory store and every driver built in"
    "${all_requires}" "" "-L\${libdir} -lverrou -pthread ${all_libs}" "" "${cflags}")

  foreach(d IN LISTS drivers)
    get_property(requires GLOBAL PROPERTY VERROU_PC_REQUIRES_${d})
    get_property(libs GLOBAL PROPERTY VERROU_PC_LIBS_${d})
    get_property(description GLOBAL PROPERTY VERROU_DRIVER_DESCRIPTION_${d})
    if(NOT description)
      set(description "the ${d} driver")
    endif()
    if(NOT static)
      set(requires "")
      set(libs "")
    endif()
    string(REPLACE ";" " " libs "${libs}")
    list(PREPEND requires "verrou = ${PROJECT_VERSION}")
    _verrou_pc_write(verrou-${d}.pc verrou-${d} "verrou-cpp: ${description}"
      "${requires}" "" "${libs}" "" "")
  endforeach()
endfunction()
