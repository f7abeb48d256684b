#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the multi-process contention test (tests/contention/run_contention.sh) on a SOCI store.
# The server comes from the native stores' variable (VERROU_POSTGRES_URL or VERROU_MYSQL_URL,
# postgres://user:pass@host:port/db), turned into the soci:// URL of the path under test. An
# unreachable server skips (exit 77), or fails when VERROU_REQUIRE_SERVERS=1.
#   contend_soci.sh <run_contention.sh> <verrou_contend> <path> <processes> <cycles>
#   path: sqlite3:<file> | postgresql | mysql | odbc
set -euo pipefail
runner="$1" bin="$2" path="$3" procs="$4" cycles="$5"

case "$path" in
  sqlite3:*)
    exec "$runner" "$bin" "soci://sqlite3/${path#sqlite3:}" "$procs" "$cycles" ;;
  mysql) url="${VERROU_MYSQL_URL:-mysql://verrou:verrou@127.0.0.1:3306/verrou}" ;;
  *) url="${VERROU_POSTGRES_URL:-postgres://verrou:verrou@127.0.0.1:5432/verrou}" ;;
esac
re='^[a-z]+://([^:@/]*)(:([^@/]*))?@([^:/?]+):([0-9]+)/([^?]+)'
if [[ ! "$url" =~ $re ]]; then
  echo "contention: cannot read user, password, host, port and database from $url" >&2
  exit 1
fi
user="${BASH_REMATCH[1]}" pass="${BASH_REMATCH[3]}" host="${BASH_REMATCH[4]}"
port="${BASH_REMATCH[5]}" db="${BASH_REMATCH[6]}"
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "contention: no server at $host:$port" >&2
  if [[ "${VERROU_REQUIRE_SERVERS:-0}" == 1 ]]; then exit 1; fi
  exit 77
fi
case "$path" in
  postgresql) soci="soci://$user:$pass@postgresql/host=$host%20port=$port%20dbname=$db" ;;
  mysql) soci="soci://$user:$pass@mysql/host=$host%20port=$port%20db=$db" ;;
  odbc) soci="soci://$user:$pass@odbc/DRIVER={PostgreSQL%20Unicode};SERVER=$host;PORT=$port;DATABASE=$db" ;;
  *) echo "contention: unknown path $path" >&2; exit 2 ;;
esac
exec "$runner" "$bin" "$soci" "$procs" "$cycles"
