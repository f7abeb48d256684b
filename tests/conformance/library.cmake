# SPDX-License-Identifier: Apache-2.0
# The store conformance suite, installed as verrou::testing for users to check stores of their
# own. An OBJECT library, so every TEST_P registration is linked into the programs that use it.
# Included from the top-level CMakeLists.txt: built for the tests, and without them when
# VERROU_BUILD_TESTING_LIBRARY is on (packages install it).
set(verrou_testing_dir "${CMAKE_CURRENT_LIST_DIR}")
add_library(verrou_testing OBJECT
  ${verrou_testing_dir}/conformance.cpp ${verrou_testing_dir}/fencing.cpp
  ${verrou_testing_dir}/semaphore.cpp ${verrou_testing_dir}/server.cpp
  ${verrou_testing_dir}/listing.cpp)
add_library(verrou::testing ALIAS verrou_testing)
set_target_properties(verrou_testing PROPERTIES EXPORT_NAME testing)
# The project's tests link verrou_internal (the library, or its static twin when libverrou is
# shared); installed users link verrou::core.
target_link_libraries(verrou_testing PUBLIC $<BUILD_INTERFACE:verrou_internal>
                      $<INSTALL_INTERFACE:verrou::core> GTest::gtest)
verrou_set_warnings(verrou_testing)
