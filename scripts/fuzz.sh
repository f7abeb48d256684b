#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan, library code
# instrumented for coverage) in build/fuzz, and runs each for a while. Only the drivers the
# targets reach (Redis, DynamoDB) are built there.
#
#   scripts/fuzz.sh                      # every target, 10 seconds each
#   scripts/fuzz.sh --seconds 600        # longer
#   scripts/fuzz.sh --seconds 60 fuzz_url fuzz_redis_reply
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>/, never written to)
# plus what earlier runs found (build/fuzz/corpus/<target>/). A crash stops the run: the
# input is saved as build/fuzz/crashes/<target>-crash-…; copy it into
# tests/fuzz/corpus/<target>/ so the ordinary test build replays it from then on.
# Exit status: 0 no crash, 1 a target crashed, 2 usage or build failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds=10
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    -h|--help) sed -n '4,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

cxx="${VERROU_FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || true)}"
cc="${VERROU_FUZZ_CC:-$(command -v clang || command -v clang-14 || true)}"
if [[ -z "$cxx" || -z "$cc" ]]; then
  echo "fuzz.sh: clang++ not found (Debian: apt-get install clang)" >&2
  exit 2
fi

build="$root/build/fuzz"
mkdir -p "$build"
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DVERROU_BUILD_FUZZERS=ON -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=OFF \
  -DVERROU_EXCLUDE_DRIVERS="soci;database;sqlite;postgres;mysql" >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  exit 2
}
rm -f "$build/configure.log"

if [[ ${#targets[@]} -eq 0 ]]; then
  # Read the list once: `grep -q` on a pipe could end cmake early, failing under pipefail.
  defined="$(cmake --build "$build" --target help 2>/dev/null || true)"
  for source in tests/fuzz/fuzz_*.cpp; do
    name="$(basename "$source" .cpp)"
    # A target whose driver is not built is not defined in this build.
    if grep -q "^$name:" <<<"$defined"; then targets+=("$name"); fi
  done
fi
cmake --build "$build" -j "${VERROU_JOBS:-2}" --target "${targets[@]}" >"$build/build.log" 2>&1 || {
  tail -n 60 "$build/build.log" >&2
  exit 2
}

mkdir -p "$build/crashes"
failed=()
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  echo "=== fuzz $target for ${seconds}s"
  # -rss_limit_mb: the Redis target runs a server thread per input; -timeout: one input
  # must finish in seconds (operations have 200 ms timeouts), or it counts as a hang.
  if ! "$build/tests/fuzz/$target" "$corpus" "$root/tests/fuzz/corpus/$target" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=4096 \
      -artifact_prefix="$build/crashes/$target-" -print_final_stats=1 2>"$build/$target.log"; then
    tail -n 60 "$build/$target.log" >&2
    failed+=("$target")
  else
    grep -aE '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$build/$target.log" || true
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: CRASH in ${failed[*]}; inputs in $build/crashes/ — add them to tests/fuzz/corpus/<target>/" >&2
  exit 1
fi
echo "fuzz.sh: ${targets[*]}: no crash in ${seconds}s each"
