#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The whole test suite, from nothing: installs the packages, starts the test servers on
# loopback, then builds and runs every test in three builds (optimised with warnings as
# errors, ASan+UBSan, TSan), and builds a consumer of the installed package.
#
#   scripts/test.sh                    # everything (what CI runs)
#   VERROU_PRESETS="release" scripts/test.sh     # only some builds
#   VERROU_FUZZ_SECONDS=0 scripts/test.sh        # skip the short fuzz run (default 10 s a target)
#
# Servers are required: a test whose server is unreachable fails rather than skips.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

presets="${VERROU_PRESETS:-release dev tsan}"
jobs="${VERROU_JOBS:-$(nproc)}"
export VERROU_REQUIRE_SERVERS="${VERROU_REQUIRE_SERVERS:-1}"

step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "install packages"
scripts/install-deps.sh

step "start test servers"
scripts/servers.sh stop >/dev/null 2>&1 || true
scripts/servers.sh start
trap 'step "stop test servers"; scripts/servers.sh stop || true' EXIT

for preset in $presets; do
  step "build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  step "test: $preset"
  ctest --preset "$preset" -j "$((jobs + 1))"
done

if [[ " $presets " == *" release "* ]]; then
  step "packaging: install and build a consumer with find_package(verrou)"
  rm -rf build/install build/packaging
  cmake --install build/release --prefix "$root/build/install" >/dev/null
  cmake -S tests/packaging -B build/packaging -G Ninja -DCMAKE_PREFIX_PATH="$root/build/install" \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/packaging
  ctest --test-dir build/packaging --output-on-failure
fi

fuzz_seconds="${VERROU_FUZZ_SECONDS:-10}"
if [[ "$fuzz_seconds" != 0 ]]; then
  step "fuzz: every libFuzzer target for ${fuzz_seconds}s (clang, ASan+UBSan)"
  scripts/fuzz.sh --seconds "$fuzz_seconds"
fi

step "all test builds passed: $presets"
