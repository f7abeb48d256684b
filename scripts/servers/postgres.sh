#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The PostgreSQL of the tests: 127.0.0.1:5432 (VERROU_POSTGRES_PORT), role verrou with
# password verrou, database verrou, fsync off; state under $VERROU_SERVERS_DIR/postgres.
# Tests find it through VERROU_POSTGRES_URL
# (default postgres://verrou:verrou@127.0.0.1:5432/verrou).
#
#   scripts/servers/postgres.sh start|stop|status
#
# Runs as root (the server itself runs as the `postgres` user, which owns its folders) or as
# any other user (then as that user). Set VERROU_SERVERS_DIR and VERROU_POSTGRES_PORT to run
# a second, private instance (the restart tests do).
set -euo pipefail
dir="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/postgres"
port="${VERROU_POSTGRES_PORT:-5432}"
data="$dir/data"
sock="$dir/sock"
log="$dir/postgres.log"

bin=""
for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" ]] && bin="$d"; done
if [[ -z "$bin" ]]; then
  echo "postgres: no PostgreSQL server found (/usr/lib/postgresql/*/bin); run scripts/install-deps.sh" >&2
  exit 1
fi

as_pg=()
if [[ $(id -u) -eq 0 ]]; then as_pg=(runuser -u postgres --); fi

running() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1 >/dev/null 2>&1; }
psql_admin() { "${as_pg[@]}" "$bin/psql" -X -q -h "$sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

case "${1:-}" in
  start)
    if running; then echo "postgres: already running on 127.0.0.1:$port"; exit 0; fi
    mkdir -p "$dir" "$sock"
    if [[ ${#as_pg[@]} -gt 0 ]]; then chown postgres: "$dir" "$sock"; fi
    if [[ ! -s "$data/PG_VERSION" ]]; then
      rm -rf "$data"
      "${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 || {
        echo "postgres: initdb failed; see $dir/initdb.log" >&2
        exit 1
      }
    fi
    # setsid: the server must outlive the shell (and CI's job control) that started it.
    setsid "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null || {
      echo "postgres: did not start; see $log" >&2
      exit 1
    }
    for _ in $(seq 1 100); do running && break; sleep 0.1; done
    if ! running; then echo "postgres: not accepting connections; see $log" >&2; exit 1; fi
    if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'verrou'")" != 1 ]]; then
      psql_admin -c "CREATE ROLE verrou LOGIN PASSWORD 'verrou'"
    fi
    if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'verrou'")" != 1 ]]; then
      psql_admin -c "CREATE DATABASE verrou OWNER verrou"
    fi
    echo "postgres: ready on 127.0.0.1:$port (postgres://verrou:verrou@127.0.0.1:$port/verrou)"
    ;;
  stop)
    if [[ -s "$data/postmaster.pid" ]]; then
      "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    ;;
  status)
    if running; then echo "postgres: running on 127.0.0.1:$port"; else echo "postgres: stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
