# SPDX-License-Identifier: Apache-2.0
# vcpkg port of verrou-cpp, used as an overlay port from a checkout of the project:
#   vcpkg install "verrou[redis,postgres,cli]" --overlay-ports=<checkout>/packaging/vcpkg
# It builds the checkout it lives in. For a registry, replace SOURCE_PATH with
# vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/<repo> REF v${VERSION} SHA512 ...).
# Untested: vcpkg is not available where the project is built (see packaging/README.md).
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

vcpkg_check_features(OUT_FEATURE_OPTIONS feature_options
  FEATURES
    sqlite   VERROU_DRIVER_SQLITE
    postgres VERROU_DRIVER_POSTGRES
    mysql    VERROU_DRIVER_MYSQL
    soci     VERROU_DRIVER_SOCI
    redis    VERROU_DRIVER_REDIS
    dynamodb VERROU_DRIVER_DYNAMODB
    etcd     VERROU_DRIVER_ETCD
    cli      VERROU_BUILD_CLI
    testing  VERROU_BUILD_TESTING_LIBRARY
)

# vcpkg_cmake_configure passes BUILD_SHARED_LIBS from the triplet's VCPKG_LIBRARY_LINKAGE.
vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${feature_options}
    -DVERROU_BUILD_TESTS=OFF
    -DVERROU_BUILD_BENCH=OFF
    -DVERROU_BUILD_EXAMPLES=OFF
    -DVERROU_BUILD_MANPAGE=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME verrou CONFIG_PATH lib/cmake/verrou)
vcpkg_fixup_pkgconfig()

if("cli" IN_LIST FEATURES)
  vcpkg_copy_tools(TOOL_NAMES verrou AUTO_CLEAN)
endif()
# The bash completion belongs with the tool; vcpkg has no place for it.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/bash-completion"
                    "${CURRENT_PACKAGES_DIR}/debug/share/bash-completion")
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/include" "${CURRENT_PACKAGES_DIR}/debug/share")
if(VCPKG_LIBRARY_LINKAGE STREQUAL "static")
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/bin" "${CURRENT_PACKAGES_DIR}/debug/bin")
endif()

file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright"
  "verrou-cpp is licensed under the Apache License, Version 2.0\n"
  "(SPDX-License-Identifier: Apache-2.0): https://www.apache.org/licenses/LICENSE-2.0\n")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
