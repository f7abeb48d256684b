#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# verrou-cpp's 32-worker Redis command rate as a share of the server's pipelined ceiling,
# measured in one run on the same server:
#
#   ceiling     redis-benchmark -P 16 -c 32: SET, and EVALSHA of a script as costly as the
#               store's save (SET NX + TIME + counter), the store's own commands
#   verrou-cpp  verrou_compare --only parallel --workers 32 (one cycle = two commands:
#               the save script and the release script)
#
#   bench/compare/ceiling_redis.sh [path/to/verrou_compare]
#
# Run by bench/compare/run.sh after the comparison; alone, it builds verrou_compare like
# run.sh does. VERROU_REDIS_URL names the server (redis://host:port, loopback by default);
# COMPARE_SECONDS and COMPARE_ROUNDS as for run.sh (the best round counts on each side).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cpp="${1:-}"
if [[ -z "$cpp" ]]; then
  build="${COMPARE_BUILD_DIR:-$root/build/compare-release}"
  if [[ ! -f "$build/build.ninja" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVERROU_BUILD_TESTS=OFF \
      -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=ON >/dev/null
  fi
  cmake --build "$build" --target verrou_compare >&2
  cpp="$build/bench/compare/verrou_compare"
fi
url="${VERROU_REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${url#redis://}"
hostport="${hostport%%/*}"
hostport="${hostport%%\?*}"
host="${hostport%:*}"
port="${hostport##*:}"
[[ "$port" == "$hostport" ]] && port=6379
seconds="${COMPARE_SECONDS:-3}"
rounds="${COMPARE_ROUNDS:-1}"
requests=$((200000 * seconds))

# A script doing what the save script does on a free key: SET NX PX, TIME, counter write.
save_like="local t = redis.call('set', KEYS[1], ARGV[1], 'PX', 100, 'NX') local n = redis.call('time') redis.call('set', KEYS[2], n[1], 'PX', 100) return 1"
sha="$(redis-cli -h "$host" -p "$port" SCRIPT LOAD "$save_like")"

rate_of() {  # redis-benchmark --csv output → requests per second of its one test
  tail -1 | tr -d '"' | cut -d, -f2 | cut -d. -f1
}
best=0; set_best=0; eval_best=0
for round in $(seq 1 "$rounds"); do
  set_rate="$(redis-benchmark -h "$host" -p "$port" -P 16 -c 32 -n "$requests" -r 100000 --csv \
    SET 'verrou-ceiling:__rand_int__' x PX 100 NX | rate_of)"
  eval_rate="$(redis-benchmark -h "$host" -p "$port" -P 16 -c 32 -n "$requests" -r 100000 --csv \
    EVALSHA "$sha" 2 'verrou-ceiling:{__rand_int__}' 'verrou-ceiling:{__rand_int__}:n' owner | rate_of)"
  cycles="$("$cpp" --store "$url" --seconds "$seconds" --only parallel --workers 32 |
    sed -n 's/.*"rate":\([0-9.]*\).*/\1/p' | cut -d. -f1)"
  ((set_rate > set_best)) && set_best=$set_rate
  ((eval_rate > eval_best)) && eval_best=$eval_rate
  ((cycles > best)) && best=$cycles
  echo "round $round: SET ceiling $set_rate/s, save-script ceiling $eval_rate/s, verrou-cpp $cycles cycles/s" >&2
done
commands=$((best * 2))
printf '\nRedis at 32 workers, best of %s round(s), %s s each, %s\n' "$rounds" "$seconds" "$host:$port"
printf '  ceiling, redis-benchmark -P 16 -c 32: SET %s/s, a save-like EVALSHA %s/s\n' "$set_best" "$eval_best"
printf '  verrou-cpp: %s cycles/s = %s commands/s (save script + release script)\n' "$best" "$commands"
printf '  share of the SET ceiling: %s %%; of the script ceiling: %s %%\n' \
  "$((100 * commands / (set_best > 0 ? set_best : 1)))" "$((100 * commands / (eval_best > 0 ? eval_best : 1)))"
