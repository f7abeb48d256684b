#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A local Redis Cluster of three masters (no replicas) on 127.0.0.1:7000-7002, state under
# $VERROU_SERVERS_DIR/redis-cluster. Tests find it through VERROU_REDIS_CLUSTER_URL
# (default redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002).
#
#   scripts/servers/redis-cluster.sh start|stop|status
set -euo pipefail
dir="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/redis-cluster"
ports=(7000 7001 7002)

up() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }
cluster_ok() {
  for p in "${ports[@]}"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}

case "${1:-}" in
  start)
    if cluster_ok; then echo "redis-cluster: already running on 127.0.0.1:${ports[0]}-${ports[-1]}"; exit 0; fi
    # Start from a clean slate: a half-made cluster from an earlier run cannot be trusted.
    for p in "${ports[@]}"; do
      up "$p" && redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
    mkdir -p "$dir"
    for p in "${ports[@]}"; do
      mkdir -p "$dir/$p"
      redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --pidfile "$dir/$p/redis.pid" \
        --dir "$dir/$p" --logfile "$dir/$p/redis.log" --save '' --appendonly no \
        --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
        --cluster-node-timeout 2000
    done
    for p in "${ports[@]}"; do
      for _ in $(seq 1 100); do up "$p" && break; sleep 0.1; done
      up "$p" || { echo "redis-cluster: node $p did not start; see $dir/$p/redis.log" >&2; exit 1; }
    done
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 \
      --cluster-yes >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; exit 1; }
    for _ in $(seq 1 200); do
      if cluster_ok; then echo "redis-cluster: ready on 127.0.0.1:${ports[0]}-${ports[-1]}"; exit 0; fi
      sleep 0.1
    done
    echo "redis-cluster: cluster_state never became ok; see $dir" >&2
    exit 1
    ;;
  stop)
    for p in "${ports[@]}"; do
      up "$p" && redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true
    done
    ;;
  status)
    if cluster_ok; then echo "redis-cluster: running on 127.0.0.1:${ports[0]}-${ports[-1]}"
    else echo "redis-cluster: stopped or not ok"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
