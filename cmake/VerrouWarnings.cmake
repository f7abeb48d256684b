# SPDX-License-Identifier: Apache-2.0
# verrou_set_warnings(<target>): the project's warning set, as errors when VERROU_WERROR is on.
function(verrou_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference
    -Wimplicit-fallthrough -Wformat=2)
  # GCC 12 reports -Wrestrict on std::string concatenation at -O2/-O3, a known false positive
  # of its optimiser (GCC bugs 105329, 105651), fixed in GCC 13.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(VERROU_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
