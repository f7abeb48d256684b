# SPDX-License-Identifier: Apache-2.0
# bash completion for the verrou command, installed as
# <prefix>/share/bash-completion/completions/verrou.
#
# Commands, options and store schemes are read from the command itself (`verrou --help`,
# `verrou COMMAND --help`, `verrou --version`), so this file follows the command as it grows.
# After `verrou run ... --`, the command to run is completed as bash would complete it.

# The commands listed under "Subcommands:" in `verrou --help`.
_verrou_commands() {
  "$1" --help 2>/dev/null |
    awk '/^Subcommands:/ { list = 1; next } list && /^  [a-z]/ { print $1; next } list { exit }'
}

# The option lines of a command's help (the first field of each: "-s,--store URL ...").
_verrou_option_lines() {
  awk '/^Options:/ { list = 1; next } list && /^  -/ { sub(/^ +/, ""); print; next }
       list && !/^ / { exit }' <<<"$1"
}

# Every option name of a command's help.
_verrou_options() {
  _verrou_option_lines "$1" | awk '{ n = split($1, names, ","); for (i = 1; i <= n; i++) print names[i] }'
}

# What the option $2 takes, from the help text $1: its placeholder (URL, DURATION=30s, KEY, ...),
# or nothing for an option that takes no value.
_verrou_placeholder() {
  _verrou_option_lines "$1" | awk -v option="$2" '{
      n = split($1, names, ",")
      for (i = 1; i <= n; i++) if (names[i] == option) {
        if ($2 ~ /^[A-Z][A-Z|_-]*([:=]|$)/ && $2 != "REQUIRED") print $2
        exit
      }
    }'
}

# The store URL schemes this build knows, from the "stores:" line of `verrou --version`, as
# the start of a URL: "redis://", and "memory:" alone.
_verrou_schemes() {
  "$1" --version 2>/dev/null | sed -n 's/^stores: //p' | tr -d ',' | tr ' ' '\n' |
    sed '/^memory:$/!s|:$|://|'
}

_verrou() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion -n := || return   # URLs hold ':' and '='; keep them in one word
  else
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD - 1]}"
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi
  local verrou="${words[0]}" i

  if ((cword == 1)); then
    mapfile -t COMPREPLY < <(compgen -W "$(_verrou_commands "$verrou") -h --help -V --version" -- "$cur")
    return
  fi

  # After `--`, the command that `verrou run` runs.
  for ((i = 2; i < cword; i++)); do
    if [[ "${words[i]}" == "--" ]]; then
      if declare -F _command_offset >/dev/null; then
        _command_offset $((i + 1))
      else
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
      fi
      return
    fi
  done

  local help
  help="$("$verrou" "${words[1]}" --help 2>/dev/null)" || return

  if [[ "$prev" == -* ]]; then
    local placeholder
    placeholder="$(_verrou_placeholder "$help" "$prev")"
    if [[ -n "$placeholder" ]]; then
      case "$placeholder" in
        URL*)
          mapfile -t COMPREPLY < <(compgen -W "$(_verrou_schemes "$verrou")" -- "$cur")
          compopt -o nospace 2>/dev/null
          ;;
        *) COMPREPLY=() ;;   # a key, a duration, a number, JSON: nothing to offer
      esac
      return
    fi
  fi

  mapfile -t COMPREPLY < <(compgen -W "$(_verrou_options "$help") --" -- "$cur")
}
complete -F _verrou verrou
