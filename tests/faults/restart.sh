#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Stops a store's server while the mutual-exclusion checker runs on it, then starts it again:
# operations in the gap must fail with LockStorageError within their timeouts (the checker
# fails any operation slower than --max-op, and any other error kind), the store must recover
# (locks taken after the last failure), and no two holders may overlap.
#
#   tests/faults/restart.sh <verrou_mutex_check> redis|redis-cluster|postgres|mariadb|dynamodb|sqlite [seconds [checker options…]]
#
# Checker options after the seconds go to its `run` (e.g. `--limit 2`: semaphores).
#
# Every server here is a private one on its own port and folder, so the shared test servers
# (and the tests running beside this one) are never disturbed:
#   redis          redis-server with an append-only file synced on every write, killed with
#                  SIGKILL (a crash) and restarted on the same files;
#   redis-cluster  three masters; one of them is killed with SIGKILL and restarted;
#   postgres       scripts/servers/postgres.sh on a private port and folder, stopped (fast
#                  shutdown: every session is cut) and started again;
#   mariadb        scripts/servers/mariadb.sh likewise;
#   dynamodb       a private dynalite keeping its tables on disk (LevelDB), stopped and
#                  started again;
#   sqlite         no server: another process holds an exclusive transaction on the file
#                  for 3 s, past the store's busy timeout.
# A server that keeps no data across a restart loses its locks, and the checker would rightly
# see two holders: the Redis servers here are run with persistence for that reason.
set -euo pipefail
checker="$1"
kind="$2"
seconds="${3:-14}"
checker_options=("${@:4}")
root="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$PATH:/usr/sbin"

# Ports base..base+2 (and, for the cluster, their bus ports 10000 higher) stay below the
# ephemeral range (32768+), where client sockets could hold a port; skip ports in use.
port_used() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=$((20000 + ($$ % 240) * 10))
for _ in $(seq 1 240); do
  if ! port_used "$base" && ! port_used $((base + 1)) && ! port_used $((base + 2)); then break; fi
  base=$((base >= 22390 ? 20000 : base + 10))
done
work="$(mktemp -d "${TMPDIR:-/tmp}/verrou-fault-$kind.XXXXXX")"
# The folder must be reachable by the postgres user when the script runs as root.
chmod 755 "$work"
log() { printf '[%s] fault(%s): %s\n' "$(date +%T.%3N)" "$kind" "$*"; }

skip_or_fail() {
  log "$1"
  if [[ "${VERROU_REQUIRE_SERVERS:-}" == 1 ]]; then exit 1; fi
  exit 77
}

redis_up() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }
redis_start() {  # port [cluster]
  local port="$1"
  mkdir -p "$work/$port"
  local extra=()
  if [[ "${2:-}" == cluster ]]; then
    extra=(--cluster-enabled yes --cluster-config-file "$work/$port/nodes.conf" --cluster-node-timeout 1000)
  fi
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --pidfile "$work/$port/redis.pid" \
    --dir "$work/$port" --logfile "$work/$port/redis.log" --save '' \
    --appendonly yes --appendfsync always "${extra[@]}" >/dev/null
  for _ in $(seq 1 100); do redis_up "$port" && return 0; sleep 0.1; done
  log "redis on $port did not start"; return 1
}
redis_kill() { kill -9 "$(cat "$work/$1/redis.pid")" 2>/dev/null || true; rm -f "$work/$1/redis.pid"; }
cluster_ok() {
  local p
  for p in "$@"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}

server_script() {  # name action port-var port
  VERROU_SERVERS_DIR="$work" env "$3=$4" "$root/scripts/servers/$1.sh" "$2" >>"$work/server.log" 2>&1
}

dynalite_up() {
  curl -s -m 2 -X POST "http://127.0.0.1:$1/" -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -d '{}' 2>/dev/null | grep -q '__type\|TableNames'
}
dynalite_start() {  # port: a private dynalite keeping its tables in LevelDB under $work
  mkdir -p "$work/dynalite"
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$work/dynalite.pid" \
    node "$npm_dir/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$1" \
    --path "$work/dynalite" --createTableMs 0 >>"$work/dynalite.log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do dynalite_up "$1" && return 0; sleep 0.1; done
  log "dynalite on $1 did not start:"; cat "$work/dynalite.log"; return 1
}
dynalite_kill() {
  [[ -s "$work/dynalite.pid" ]] || return 0
  local pid
  pid="$(cat "$work/dynalite.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$work/dynalite.pid"
}

cleanup() {
  case "$kind" in
    dynamodb) dynalite_kill ;;
    redis) redis_kill "$base" ;;
    redis-cluster) for p in "$base" $((base + 1)) $((base + 2)); do redis_kill "$p"; done ;;
    postgres) server_script postgres stop VERROU_POSTGRES_PORT "$base" || true ;;
    mariadb) server_script mariadb stop VERROU_MARIADB_PORT "$base" || true ;;
  esac
  if [[ "${keep:-0}" == 1 ]]; then log "kept $work for inspection"; else rm -rf "$work"; fi
}
trap cleanup EXIT

case "$kind" in
  redis)
    command -v redis-server >/dev/null || skip_or_fail "redis-server not installed"
    redis_start "$base" || exit 1
    url="redis://127.0.0.1:$base?connect_timeout=1s&command_timeout=2s"
    stop() { redis_kill "$base"; }
    start() { redis_start "$base"; }
    ;;
  redis-cluster)
    command -v redis-server >/dev/null || skip_or_fail "redis-server not installed"
    ports=("$base" $((base + 1)) $((base + 2)))
    for p in "${ports[@]}"; do redis_start "$p" cluster || exit 1; done
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 \
      --cluster-yes >"$work/create.log" 2>&1 || { cat "$work/create.log"; exit 1; }
    for _ in $(seq 1 200); do cluster_ok "${ports[@]}" && break; sleep 0.1; done
    cluster_ok "${ports[@]}" || { log "private cluster never became ok"; exit 1; }
    url="redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}?connect_timeout=1s&command_timeout=2s"
    # The checker's keys spread over all three masters; one master goes down.
    stop() { redis_kill "${ports[1]}"; }
    start() {
      redis_start "${ports[1]}" cluster || return 1
      for _ in $(seq 1 100); do cluster_ok "${ports[@]}" && return 0; sleep 0.1; done
      log "cluster did not become ok again"; return 1
    }
    ;;
  postgres)
    server_script postgres start VERROU_POSTGRES_PORT "$base" || skip_or_fail "cannot start a private PostgreSQL (see scripts/servers/postgres.sh)"
    url="postgres://verrou:verrou@127.0.0.1:$base/verrou?connect_timeout=2s&query_timeout=3s"
    stop() { server_script postgres stop VERROU_POSTGRES_PORT "$base"; }
    start() { server_script postgres start VERROU_POSTGRES_PORT "$base"; }
    ;;
  mariadb)
    server_script mariadb start VERROU_MARIADB_PORT "$base" || skip_or_fail "cannot start a private MariaDB (see scripts/servers/mariadb.sh)"
    url="mysql://verrou:verrou@127.0.0.1:$base/verrou?connect_timeout=2s&query_timeout=3s"
    stop() { server_script mariadb stop VERROU_MARIADB_PORT "$base"; }
    start() { server_script mariadb start VERROU_MARIADB_PORT "$base"; }
    ;;
  dynamodb)
    npm_dir="$("$root/scripts/servers/dynamodb-npm/install.sh" 2>>"$work/server.log")" ||
      skip_or_fail "cannot install dynalite (see scripts/servers/dynamodb-npm/install.sh)"
    dynalite_start "$base" || exit 1
    # Any credentials do for dynalite; the store insists on having some.
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-verrouTests}"
    export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-verrouTestsSecret}"
    url="dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:$base&table=verrou_faults&connect_timeout=1s&request_timeout=2s&retry_deadline=1s"
    stop() { dynalite_kill; }
    start() { dynalite_start "$base"; }
    ;;
  sqlite)
    # No server to stop: another process holds an exclusive transaction for 3 s instead,
    # longer than the store's busy timeout, so writers fail with "database is locked".
    url="sqlite://{dir}/stress.db?busy_timeout=1s"
    stop() { "$checker" hog-sqlite --dir "$work/check" --seconds 3 & hog_pid=$!; }
    start() { wait "$hog_pid"; }
    ;;
  *) echo "usage: $0 <verrou_mutex_check> redis|redis-cluster|postgres|mariadb|dynamodb|sqlite [seconds]" >&2; exit 2 ;;
esac

log "checker on $url for ${seconds}s"
"$checker" run --store "$url" --processes 2 --threads 2 --keys 4 --seconds "$seconds" \
  --ttl 3s --acquire-timeout 3s --max-op 12s --expect-recovery --dir "$work/check" \
  "${checker_options[@]}" &
checker_pid=$!
# One stop/start cycle every 6 s while at least 4 s of the run would remain after it, so a
# 10-second run sees one outage and a longer one many.
end=$((SECONDS + seconds))
outages=0
while ((SECONDS + 10 <= end)); do
  sleep 3
  log "fault on: stopping the server (sqlite: locking the database)"
  stop
  sleep 3
  log "fault off: starting the server again"
  start || { kill "$checker_pid" 2>/dev/null; wait "$checker_pid" || true; exit 1; }
  outages=$((outages + 1))
done
log "$outages outage(s) done; waiting for the checker"
status=0
wait "$checker_pid" || status=$?
log "checker exit status $status"
if [[ $status -ne 0 ]]; then keep=1; fi
exit "$status"
