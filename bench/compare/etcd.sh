#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The etcd store against etcd's own tools on the same member (there is no @verrou/core etcd
# store to compare with): verrou-cpp's cycle rate, 32-worker rate and hand-off latency
# (bench/compare/verrou_compare), beside
#   - the ceiling: the same transactions a cycle sends (create-if-absent, then delete-if-
#     unchanged) from a bare libcurl loop, 1 and 32 workers (bench/etcd/etcd_txn_ceiling;
#     etcd's `benchmark txn-put` tool is not packaged in Debian);
#   - `etcdctl lock NAME -- true` in a loop: etcd's own lock recipe, one process per cycle
#     (process start-up included, as a shell script pays it), and its hand-off: from a
#     holder's command ending to a queued waiter's command starting.
#
#   bench/compare/etcd.sh                       # 3 s per workload, one round
#   COMPARE_SECONDS=5 COMPARE_ROUNDS=3 bench/compare/etcd.sh   # best of 3 rounds
#
# Uses VERROU_ETCD_URL (default etcd://127.0.0.1:2379; started with scripts/servers.sh start
# etcd). Raw results go to build/compare-results/etcd.*.jsonl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

seconds="${COMPARE_SECONDS:-3}"
rounds="${COMPARE_ROUNDS:-1}"
build="${COMPARE_BUILD_DIR:-$root/build/compare-release}"
out="${COMPARE_OUT:-$root/build/compare-results}"
url="${VERROU_ETCD_URL:-etcd://127.0.0.1:2379}"
endpoint="http://$(sed -e 's|^etcd://||' -e 's|^[^@]*@||' -e 's|[,/?].*||' <<<"$url")"
say() { printf '== %s\n' "$*" >&2; }

say "building verrou_compare, bench_etcd and etcd_txn_ceiling (Release) in $build"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVERROU_BUILD_TESTS=OFF \
    -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --target verrou_compare etcd_txn_ceiling bench_etcd >&2
if [[ -z "${VERROU_ETCD_URL:-}" ]]; then scripts/servers.sh start etcd >&2; fi

mkdir -p "$out"
rm -f "$out"/etcd.*.jsonl
rate_of() { sed -n 's/.*"rate":\([0-9.]*\).*/\1/p' | head -1; }
best() { sort -g | tail -1; }

for round in $(seq 1 "$rounds"); do
  say "round $round/$rounds: verrou-cpp ($seconds s per workload)"
  "$build/bench/compare/verrou_compare" --store "$url" --seconds "$seconds" \
    --only cycle,parallel,handoff,semaphore_cycle,semaphore_parallel >>"$out/etcd.cpp.jsonl"
  # Hand-off between two store objects (to etcd, two processes): the watch stream wakes the
  # waiter.
  VERROU_ETCD_URL="$url" "$build/bench/etcd/bench_etcd" --benchmark_filter='BM_EtcdHandOff/1/' \
    --benchmark_format=json 2>/dev/null | sed -n 's/.*"real_time": \([0-9.e+]*\).*/{"workload":"handoff_stores","ns":\1}/p' \
    >>"$out/etcd.cpp.jsonl"
  say "round $round/$rounds: bare transactions, 1 and 32 workers"
  "$build/bench/etcd/etcd_txn_ceiling" --endpoint "$endpoint" --seconds "$seconds" --workers 1 \
    >>"$out/etcd.ceiling1.jsonl"
  "$build/bench/etcd/etcd_txn_ceiling" --endpoint "$endpoint" --seconds "$seconds" --workers 32 \
    >>"$out/etcd.ceiling32.jsonl"
  say "round $round/$rounds: etcdctl lock"
  n=0
  end=$((SECONDS + ${seconds%.*}))
  start_ns=$(date +%s%N)
  while ((SECONDS < end)); do
    etcdctl --endpoints "$endpoint" lock "verrou-bench-etcdctl" -- true >/dev/null
    n=$((n + 1))
  done
  elapsed_ns=$(( $(date +%s%N) - start_ns ))
  awk -v n="$n" -v ns="$elapsed_ns" 'BEGIN { printf "{\"workload\":\"etcdctl_lock\",\"rate\":%.1f}\n", n / (ns / 1e9) }' \
    >>"$out/etcd.etcdctl.jsonl"
  # Hand-off: a holder's command writes the time and ends (etcdctl then deletes its key); a
  # waiter queued meanwhile writes the time as its command starts.
  for i in 1 2 3 4 5; do
    t="$(mktemp -d)"
    etcdctl --endpoints "$endpoint" lock verrou-bench-handoff -- sh -c "sleep 0.3; date +%s%N >$t/released" &
    holder=$!
    sleep 0.1
    etcdctl --endpoints "$endpoint" lock verrou-bench-handoff -- sh -c "date +%s%N >$t/acquired" >/dev/null
    wait "$holder"
    echo "{\"workload\":\"etcdctl_handoff\",\"us\":$(( ($(cat "$t/acquired") - $(cat "$t/released")) / 1000 ))}" \
      >>"$out/etcd.etcdctl.jsonl"
    rm -rf "$t"
  done
done

cycle=$(grep '"workload":"cycle"' "$out/etcd.cpp.jsonl" | rate_of | best)
parallel=$(grep '"workload":"parallel"' "$out/etcd.cpp.jsonl" | while read -r l; do rate_of <<<"$l"; done | best)
semaphore_cycle=$(grep '"workload":"semaphore_cycle"' "$out/etcd.cpp.jsonl" | while read -r l; do rate_of <<<"$l"; done | best)
semaphore_parallel=$(grep '"workload":"semaphore_parallel"' "$out/etcd.cpp.jsonl" | while read -r l; do rate_of <<<"$l"; done | best)
cycle_p50=$(grep '"workload":"cycle"' "$out/etcd.cpp.jsonl" | sed -n 's/.*"p50_us":\([0-9.]*\).*/\1/p' | sort -g | head -1)
handoff=$(grep '"workload":"handoff","delay_ms":250' "$out/etcd.cpp.jsonl" | sed -n 's/.*"p50_us":\([0-9.]*\).*/\1/p' | sort -g | head -1)
ceiling1=$(while read -r l; do rate_of <<<"$l"; done <"$out/etcd.ceiling1.jsonl" | best)
ceiling32=$(while read -r l; do rate_of <<<"$l"; done <"$out/etcd.ceiling32.jsonl" | best)
etcdctl=$(grep '"etcdctl_lock"' "$out/etcd.etcdctl.jsonl" | while read -r l; do rate_of <<<"$l"; done | best)
etcdctl_handoff=$(sed -n 's/.*"etcdctl_handoff","us":\([0-9]*\).*/\1/p' "$out/etcd.etcdctl.jsonl" | sort -n |
  awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
handoff_stores=$(sed -n 's/.*"handoff_stores","ns":\([0-9.e+]*\).*/\1/p' "$out/etcd.cpp.jsonl" |
  awk 'NR == 1 || $1 < m { m = $1 } END { if (NR) printf "%.0f", m / 1000 }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

cat <<TABLE

etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p') at $endpoint, $(nproc) cores, best of $rounds round(s) of ${seconds} s
| workload | verrou-cpp | ceiling (bare transactions) | verrou-cpp / ceiling | etcdctl lock |
| --- | --- | --- | --- | --- |
| cycle, 1 worker (cycles/s) | $cycle | $ceiling1 | $(ratio "$cycle" "$ceiling1") | $etcdctl |
| 32 workers, distinct keys (cycles/s) | $parallel | $ceiling32 | $(ratio "$parallel" "$ceiling32") | |
| cycle latency p50 (µs) | $cycle_p50 | | | |
| hand-off p50 in one process, 250 ms retry delay (µs) | $handoff | | | |
| hand-off between two stores (processes), mean (µs) | $handoff_stores | | | $etcdctl_handoff (median) |
| semaphore of 8, acquire + release, 1 worker (cycles/s) | $semaphore_cycle | | | |
| semaphore of 8, 32 workers holding 1 ms (cycles/s, at most 8000) | $semaphore_parallel | | | |
TABLE
