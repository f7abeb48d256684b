#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Starts and stops the servers the tests talk to, all on loopback, state under
# $VERROU_SERVERS_DIR (default /tmp/verrou-servers).
#
#   scripts/servers.sh start [name…]    # every server in scripts/servers/, or those named
#   scripts/servers.sh stop  [name…]
#   scripts/servers.sh status
#
# Each server is scripts/servers/<name>.sh, answering `start` (start, wait until it serves,
# exit non-zero if it cannot), `stop` and `status`. Addresses are the loopback defaults the
# tests read (VERROU_REDIS_URL, VERROU_POSTGRES_URL, …); see docs/testing.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export VERROU_SERVERS_DIR="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}"
mkdir -p "$VERROU_SERVERS_DIR"

action="${1:-}"
shift || true
if [[ $# -gt 0 ]]; then
  names=("$@")
else
  names=()
  for f in "$here"/servers/*.sh; do
    [[ -e "$f" ]] && names+=("$(basename "$f" .sh)")
  done
fi

case "$action" in
  start|stop|status) ;;
  *) echo "usage: $0 start|stop|status [name…]" >&2; exit 2 ;;
esac

status=0
for name in "${names[@]}"; do
  script="$here/servers/$name.sh"
  if [[ ! -x "$script" ]]; then
    echo "servers: no server script $script" >&2
    status=1
    continue
  fi
  if ! "$script" "$action"; then
    echo "servers: $name $action failed" >&2
    status=1
  fi
done
exit $status
