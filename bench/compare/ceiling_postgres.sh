#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# PostgreSQL's own ceiling for a lock cycle, and verrou-cpp's share of it, in one run.
#
# The ceiling is `pgbench -M prepared` from 32 clients (one connection each), each running
# the store's two statements of a cycle on a key of its own: the INSERT … ON CONFLICT DO
# NOTHING of an acquire and the owner-checked DELETE of a release, without NOTIFY. Beside it,
# the same with a NOTIFY on every release (what every release cost before releases learnt to
# notify only when someone waits), then verrou-cpp's `parallel` workload (32 workers, each on
# its own key, one store) and its hand-off latency (wake-ups still working). Rounds alternate
# the sides; each figure is the best of its rounds (noise only ever slows a run down).
#
#   bench/compare/ceiling_postgres.sh [--cpp path/to/verrou_compare]
#   COMPARE_SECONDS=5 COMPARE_ROUNDS=3 bench/compare/ceiling_postgres.sh
#
# Environment: VERROU_POSTGRES_URL (default postgres://verrou:verrou@127.0.0.1:5432/verrou),
# COMPARE_POOL_SIZE (verrou-cpp's pool, default 10 as in run.sh), CEILING_CLIENTS (32).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

cpp=""
while (($#)); do
  case "$1" in
    --cpp) cpp="$2"; shift 2 ;;
    *) echo "usage: $0 [--cpp path/to/verrou_compare]" >&2; exit 2 ;;
  esac
done
if [[ -z "$cpp" ]]; then
  build="${COMPARE_BUILD_DIR:-$root/build/compare-release}"
  if [[ ! -f "$build/build.ninja" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVERROU_BUILD_TESTS=OFF \
      -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=ON >/dev/null
  fi
  cmake --build "$build" --target verrou_compare >&2
  cpp="$build/bench/compare/verrou_compare"
fi

seconds="${COMPARE_SECONDS:-3}"
rounds="${COMPARE_ROUNDS:-1}"
pool="${COMPARE_POOL_SIZE:-10}"
clients="${CEILING_CLIENTS:-32}"
url="${VERROU_POSTGRES_URL:-postgres://verrou:verrou@127.0.0.1:5432/verrou}"
pgbench="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)"
psql="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -1)"
if [[ -z "$pgbench" || -z "$psql" ]]; then
  echo "ceiling_postgres: pgbench and psql are needed (Debian: postgresql-client)" >&2
  exit 1
fi
say() { printf '== %s\n' "$*" >&2; }

table="verrou_ceiling_$$"
cpp_table="verrou_ceiling_cpp_$$"
scratch="$(mktemp -d)"
cleanup() {
  "$psql" -X -q "$url" -c "DROP TABLE IF EXISTS $table; DROP TABLE IF EXISTS $cpp_table" \
    >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

"$psql" -X -q -v ON_ERROR_STOP=1 "$url" -c "CREATE TABLE $table (\"key\" varchar(255) NOT NULL PRIMARY KEY, \"owner\" varchar(255) NOT NULL, \"expiration\" bigint NULL)" >/dev/null

# The server's clock in epoch milliseconds, as the store reads it.
now="floor(extract(epoch from clock_timestamp()) * 1000)::bigint"
insert="INSERT INTO $table (\"key\", \"owner\", \"expiration\") VALUES ('ceiling:' || :client_id, 'owner', 30000::bigint + $now) ON CONFLICT (\"key\") DO NOTHING;"
delete="DELETE FROM $table WHERE \"key\" = 'ceiling:' || :client_id AND \"owner\" = 'owner' AND (\"expiration\" IS NULL OR \"expiration\" > $now) RETURNING \"key\""
printf '%s\nWITH d AS (%s) SELECT \"key\" FROM d;\n' "$insert" "$delete" >"$scratch/plain.sql"
printf '%s\nWITH d AS (%s) SELECT pg_notify('\''verrou_ceiling'\'', \"key\") FROM d;\n' "$insert" "$delete" >"$scratch/notify.sql"

pgbench_tps() {  # script → cycles per second
  "$pgbench" -n -M prepared -c "$clients" -j "$clients" -T "$seconds" -f "$1" "$url" 2>/dev/null |
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p'
}
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (b + 0 > a + 0) ? b : a }'; }
json_field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | head -1; }

ceiling=0 with_notify=0 cpp_rate=0 handoff_p50=""
for round in $(seq 1 "$rounds"); do
  say "round $round/$rounds: pgbench -M prepared -c $clients, no NOTIFY"
  ceiling="$(best "$ceiling" "$(pgbench_tps "$scratch/plain.sql")")"
  say "round $round/$rounds: pgbench -M prepared -c $clients, NOTIFY on every release"
  with_notify="$(best "$with_notify" "$(pgbench_tps "$scratch/notify.sql")")"
  say "round $round/$rounds: verrou-cpp, 32 workers and hand-off"
  out="$("$cpp" --store "$url?table=$cpp_table&pool_size=$pool" --seconds "$seconds" \
    --only parallel,handoff --delays 250)"
  cpp_rate="$(best "$cpp_rate" "$(grep '"parallel"' <<<"$out" | json_field rate)")"
  p50="$(grep '"handoff"' <<<"$out" | json_field p50_us)"
  if [[ -n "$p50" ]] && { [[ -z "$handoff_p50" ]] || awk -v a="$p50" -v b="$handoff_p50" 'BEGIN { exit !(a < b) }'; }; then
    handoff_p50="$p50"
  fi
done

awk -v c="$ceiling" -v n="$with_notify" -v v="$cpp_rate" -v h="${handoff_p50:-?}" -v k="$clients" -v p="$pool" 'BEGIN {
  printf "PostgreSQL ceiling (pgbench -M prepared -c %d, the two statements, no NOTIFY): %.0f cycles/s\n", k, c
  printf "  with a NOTIFY on every release:                                  %.0f cycles/s (%.0f %% of the ceiling)\n", n, (c > 0 ? 100 * n / c : 0)
  printf "verrou-cpp, 32 workers, pool of %2d connections:                   %.0f cycles/s = %.0f %% of the ceiling\n", p, v, (c > 0 ? 100 * v / c : 0)
  printf "verrou-cpp hand-off p50 (release → waiter holds the lock):         %s us\n", h
}'
