#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the multi-process contention test (tests/contention/run_contention.sh) on an SQL store
# whose URL comes from an environment variable, with a loopback default. An unreachable
# server skips (exit 77), or fails when VERROU_REQUIRE_SERVERS=1.
#   contend_sql.sh <run_contention.sh> <verrou_contend> <ENV_VAR> <default-url> <processes> <cycles>
set -euo pipefail
runner="$1" bin="$2" var="$3" default="$4" procs="$5" cycles="$6"
url="${!var:-$default}"
if [[ "$url" != sqlite:* ]]; then
  hostport="$(printf '%s' "$url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')"
  host="${hostport%:*}" port="${hostport##*:}"
  if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "contention: no server at $host:$port ($var)" >&2
    if [[ "${VERROU_REQUIRE_SERVERS:-0}" == 1 ]]; then exit 1; fi
    exit 77
  fi
fi
exec "$runner" "$bin" "$url" "$procs" "$cycles"
