#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The standalone Redis of the tests: 127.0.0.1:6379, no persistence, state under
# $VERROU_SERVERS_DIR/redis, also on the Unix socket $VERROU_SERVERS_DIR/redis/redis.sock.
# Tests find it through VERROU_REDIS_URL (default redis://127.0.0.1:6379).
#
#   scripts/servers/redis.sh start|stop|status
set -euo pipefail
dir="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/redis"
port="${VERROU_REDIS_PORT:-6379}"
pidfile="$dir/redis.pid"

running() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }

case "${1:-}" in
  start)
    if running; then echo "redis: already running on 127.0.0.1:$port"; exit 0; fi
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --pidfile "$pidfile" \
      --dir "$dir" --logfile "$dir/redis.log" --save '' --appendonly no --maxclients 4096 \
      --unixsocket "$dir/redis.sock" --unixsocketperm 700
    for _ in $(seq 1 100); do
      if running; then echo "redis: ready on 127.0.0.1:$port"; exit 0; fi
      sleep 0.1
    done
    echo "redis: did not start; see $dir/redis.log" >&2
    exit 1
    ;;
  stop)
    if running; then redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true; fi
    for _ in $(seq 1 50); do running || exit 0; sleep 0.1; done
    [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    ;;
  status)
    if running; then echo "redis: running on 127.0.0.1:$port"; else echo "redis: stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
