#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs PROCESSES copies of verrou_contend at once on one store URL and key, then checks that
# none saw an overlap and the shared counter equals PROCESSES × CYCLES (no lost increment).
#   run_contention.sh <verrou_contend> <store-url> <processes> <cycles> [extra args…]
set -euo pipefail
bin="$1" url="$2" procs="$3" cycles="$4"
shift 4
dir="$(mktemp -d "${TMPDIR:-/tmp}/verrou-contend.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
key="contention:$$:$RANDOM"
pids=()
for ((p = 0; p < procs; p++)); do
  "$bin" --store "$url" --key "$key" --cycles "$cycles" --dir "$dir" "$@" &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
  if ! wait "$pid"; then failed=1; fi
done
count="$(cat "$dir/counter" 2>/dev/null || echo 0)"
expected=$((procs * cycles))
echo "contention: $procs processes × $cycles cycles on $(printf '%s' "$url" | sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#'): counter $count of $expected"
if [[ $failed -ne 0 ]]; then
  echo "contention: FAILED: a process saw an overlap or an error" >&2
  exit 1
fi
if [[ "$count" -ne "$expected" ]]; then
  echo "contention: FAILED: $((expected - count)) increments lost" >&2
  exit 1
fi
echo "contention: passed"
