#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The single etcd member of the tests: client 127.0.0.1:2379, peer 127.0.0.1:2380, data under
# $VERROU_SERVERS_DIR/etcd, written without fsync (test data only). Tests find it through
# VERROU_ETCD_URL (default etcd://127.0.0.1:2379). The etcd store's fault tests start their own
# members on private ports instead of disturbing this one.
#
#   scripts/servers/etcd.sh start|stop|status
set -euo pipefail
dir="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/etcd"
port="${VERROU_ETCD_PORT:-2379}"
peer_port="${VERROU_ETCD_PEER_PORT:-2380}"
pidfile="$dir/etcd.pid"

running() { curl -s -m 2 "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"health":"true"'; }

case "${1:-}" in
  start)
    if running; then echo "etcd: already running on 127.0.0.1:$port"; exit 0; fi
    if ! command -v etcd >/dev/null; then
      echo "etcd: the etcd binary is missing (Debian package etcd-server; scripts/install-deps.sh)" >&2
      exit 1
    fi
    mkdir -p "$dir"
    # The child writes its own pid, then becomes the server: setsid may fork, so $! would not be it.
    setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
      etcd --name verrou-test --data-dir "$dir/data" \
      --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
      --listen-peer-urls "http://127.0.0.1:$peer_port" \
      --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
      --initial-cluster "verrou-test=http://127.0.0.1:$peer_port" \
      --unsafe-no-fsync --log-level warn >"$dir/etcd.log" 2>&1 </dev/null &
    for _ in $(seq 1 100); do
      if running; then echo "etcd: ready on 127.0.0.1:$port"; exit 0; fi
      sleep 0.1
    done
    echo "etcd: did not start; see $dir/etcd.log" >&2
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
    if running; then echo "etcd: running on 127.0.0.1:$port"; else echo "etcd: stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
