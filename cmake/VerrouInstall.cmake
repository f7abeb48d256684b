# SPDX-License-Identifier: Apache-2.0
include(CMakePackageConfigHelpers)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/verrou" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")

get_property(verrou_drivers GLOBAL PROPERTY VERROU_DRIVERS)
set(verrou_install_targets verrou_core)
foreach(d IN LISTS verrou_drivers)
  list(APPEND verrou_install_targets verrou_${d})
endforeach()
# Adapters that are components of their own (src/observers: verrou::prometheus).
get_property(verrou_extra_components GLOBAL PROPERTY VERROU_EXTRA_COMPONENTS)
foreach(c IN LISTS verrou_extra_components)
  list(APPEND verrou_install_targets verrou_${c})
endforeach()
install(TARGETS ${verrou_install_targets} EXPORT verrouTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET verrou_testing)
  install(TARGETS verrou_testing EXPORT verrouTargets
          OBJECTS DESTINATION ${CMAKE_INSTALL_LIBDIR}/verrou-testing)
  set(VERROU_HAS_TESTING TRUE)
else()
  set(VERROU_HAS_TESTING FALSE)
endif()
install(EXPORT verrouTargets NAMESPACE verrou:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/verrou)

get_property(VERROU_CONFIG_CODE GLOBAL PROPERTY VERROU_CONFIG_CODE)
set(VERROU_BUILT_COMPONENTS core ${verrou_drivers} ${verrou_extra_components})
if(VERROU_HAS_TESTING)
  list(APPEND VERROU_BUILT_COMPONENTS testing)
endif()
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/verrou-config.cmake.in"
  "${PROJECT_BINARY_DIR}/verrou-config.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/verrou)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/verrou-config-version.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/verrou-config.cmake"
              "${PROJECT_BINARY_DIR}/verrou-config-version.cmake"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/verrou)
