#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The MariaDB of the tests: 127.0.0.1:3306 (VERROU_MARIADB_PORT), user verrou@127.0.0.1 with
# password verrou, database verrou; state under $VERROU_SERVERS_DIR/mariadb.
# Tests find it through VERROU_MYSQL_URL (default mysql://verrou:verrou@127.0.0.1:3306/verrou).
#
#   scripts/servers/mariadb.sh start|stop|status
#
# Set VERROU_SERVERS_DIR and VERROU_MARIADB_PORT to run a second, private instance (the
# restart tests do).
set -euo pipefail
dir="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/mariadb"
port="${VERROU_MARIADB_PORT:-3306}"
data="$dir/data"
sock="$dir/mysqld.sock"
pidfile="$dir/mysqld.pid"
log="$dir/mariadb.log"

for tool in mariadbd mariadb-install-db mariadb-admin mariadb; do
  if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$tool ]]; then
    echo "mariadb: $tool not found; run scripts/install-deps.sh" >&2
    exit 1
  fi
done
export PATH="$PATH:/usr/sbin"

running() { mariadb-admin --no-defaults --socket="$sock" -uroot --connect-timeout=1 ping >/dev/null 2>&1; }

case "${1:-}" in
  start)
    if running; then echo "mariadb: already running on 127.0.0.1:$port"; exit 0; fi
    mkdir -p "$dir"
    if [[ ! -d "$data/mysql" ]]; then
      rm -rf "$data"
      mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$data" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 || {
        echo "mariadb: mariadb-install-db failed; see $dir/install.log" >&2
        exit 1
      }
    fi
    rm -f "$sock"
    # setsid: the server must outlive the shell (and CI's job control) that started it.
    setsid nohup mariadbd --no-defaults --user="$(id -un)" --datadir="$data" --port="$port" \
      --bind-address=127.0.0.1 --socket="$sock" --pid-file="$pidfile" --skip-log-bin \
      --skip-name-resolve --max-connections=500 --innodb-flush-log-at-trx-commit=2 \
      --innodb-buffer-pool-size=64M --log-error="$log" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 300); do running && break; sleep 0.1; done
    if ! running; then echo "mariadb: did not start; see $log" >&2; exit 1; fi
    mariadb --no-defaults --socket="$sock" -uroot -e "
      CREATE DATABASE IF NOT EXISTS verrou;
      CREATE USER IF NOT EXISTS 'verrou'@'127.0.0.1' IDENTIFIED BY 'verrou';
      CREATE USER IF NOT EXISTS 'verrou'@'localhost' IDENTIFIED BY 'verrou';
      GRANT ALL ON verrou.* TO 'verrou'@'127.0.0.1';
      GRANT ALL ON verrou.* TO 'verrou'@'localhost';"
    echo "mariadb: ready on 127.0.0.1:$port (mysql://verrou:verrou@127.0.0.1:$port/verrou)"
    ;;
  stop)
    if running; then mariadb-admin --no-defaults --socket="$sock" -uroot shutdown >/dev/null 2>&1 || true; fi
    for _ in $(seq 1 100); do
      if [[ ! -s "$pidfile" ]] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then exit 0; fi
      sleep 0.1
    done
    [[ -s "$pidfile" ]] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    ;;
  status)
    if running; then echo "mariadb: running on 127.0.0.1:$port"; else echo "mariadb: stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
