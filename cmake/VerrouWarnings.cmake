# SPDX-License-Identifier: Apache-2.0
# verrou_set_warnings(<target>): the project's warning set, as errors when VERROU_WERROR is on.
function(verrou_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference
    -Wimplicit-fallthrough -Wformat=2)
  if(VERROU_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
