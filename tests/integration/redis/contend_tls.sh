#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Multi-process contention over TLS with the ACL user: the URL (with its generated password)
# comes from VERROU_REDIS_TLS_URL or the file scripts/servers/redis-tls.sh wrote.
#   contend_tls.sh <run_contention.sh> <verrou_contend> <processes> <cycles>
set -euo pipefail
runner="$1" bin="$2" procs="$3" cycles="$4"
url="${VERROU_REDIS_TLS_URL:-}"
if [[ -z "$url" ]]; then
  file="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/redis-tls/url"
  if [[ ! -r "$file" ]]; then
    echo "contend_tls: no VERROU_REDIS_TLS_URL and no $file; start scripts/servers/redis-tls.sh" >&2
    exit 1
  fi
  url="$(cat "$file")"
fi
exec "$runner" "$bin" "$url" "$procs" "$cycles"
