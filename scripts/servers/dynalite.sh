#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# dynalite, a DynamoDB-compatible server in Node.js, for the DynamoDB store's tests:
# 127.0.0.1:8000, in memory, tables ready at once. Installed from npm into
# $VERROU_SERVERS_DIR/dynamodb-npm; state and log under $VERROU_SERVERS_DIR/dynalite. Tests find
# it through VERROU_DYNAMODB_URL (default dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000).
#
#   scripts/servers/dynalite.sh start|stop|status
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/dynalite"
port="${VERROU_DYNALITE_PORT:-8000}"
pidfile="$dir/dynalite.pid"

running() {
  curl -s -m 2 -X POST "http://127.0.0.1:$port/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -d '{}' 2>/dev/null | grep -q '__type\|TableNames'
}

case "${1:-}" in
  start)
    if running; then echo "dynalite: already running on 127.0.0.1:$port"; exit 0; fi
    npm_dir="$("$here/dynamodb-npm/install.sh")"
    mkdir -p "$dir"
    # The child writes its own pid, then becomes the server: setsid may fork, so $! would not be it.
    setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
      node "$npm_dir/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$port" \
      --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >"$dir/dynalite.log" 2>&1 </dev/null &
    for _ in $(seq 1 100); do
      if running; then echo "dynalite: ready on 127.0.0.1:$port"; exit 0; fi
      sleep 0.1
    done
    echo "dynalite: did not start; see $dir/dynalite.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$pidfile" ]]; then
      pid="$(cat "$pidfile")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  status)
    if running; then echo "dynalite: running on 127.0.0.1:$port"; else echo "dynalite: stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
