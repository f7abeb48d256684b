# SPDX-License-Identifier: Apache-2.0
#
# The verrou(1) man page, made from the command's own help by help2man (a script run at build
# time by cli/CMakeLists.txt when VERROU_BUILD_MANPAGE is on):
#
#   cmake -DVERROU=<verrou binary> -DHELP2MAN=<help2man> -DOUTPUT=<verrou.1> -P VerrouManPage.cmake
#
# help2man writes NAME, SYNOPSIS, DESCRIPTION and OPTIONS from `verrou --help` and the version
# from `verrou --version`; a COMMANDS section adds `verrou <command> --help` for each command
# listed under "Subcommands:", so the page follows the command as it grows.
foreach(var IN ITEMS VERROU HELP2MAN OUTPUT)
  if(NOT ${var})
    message(FATAL_ERROR "VerrouManPage.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND "${VERROU}" --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${VERROU} --help failed (${rc})")
endif()

# The commands: the lines "  name   summary" under "Subcommands:".
# (A ';' in a summary would split a CMake list: drop it first.)
string(REPLACE ";" "," lines "${help}")
string(REPLACE "\n" ";" lines "${lines}")
set(commands "")
set(in_list FALSE)
foreach(line IN LISTS lines)
  if(line MATCHES "^Subcommands:")
    set(in_list TRUE)
  elseif(in_list AND line MATCHES "^  ([a-z][a-z-]*)")
    list(APPEND commands "${CMAKE_MATCH_1}")
  elseif(in_list)
    break()
  endif()
endforeach()
if(NOT commands)
  message(FATAL_ERROR "no commands found under \"Subcommands:\" in `${VERROU} --help`")
endif()

# help2man's include file: one subsection per command, its help as preformatted text.
set(include "[COMMANDS]\n")
foreach(command IN LISTS commands)
  execute_process(COMMAND "${VERROU}" ${command} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${VERROU} ${command} --help failed (${rc})")
  endif()
  string(REPLACE "\\" "\\e" text "${text}")                     # roff's escape character
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}") # a leading . or ' is a request
  string(APPEND include ".SS \"verrou ${command}\"\n.nf\n${text}\n.fi\n")
endforeach()
get_filename_component(dir "${OUTPUT}" DIRECTORY)
set(include_file "${dir}/verrou-manpage-commands.h2m")
file(WRITE "${include_file}" "${include}")

execute_process(
  COMMAND "${HELP2MAN}" --no-info --no-discard-stderr --section=1
          "--name=run commands under a lock shared by processes and machines"
          "--include=${include_file}" "--output=${OUTPUT}" "${VERROU}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed (${rc})")
endif()
