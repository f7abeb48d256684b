#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The whole test suite, from nothing: installs the packages, starts the test servers on
# loopback, then builds and runs every test in three builds (optimised with warnings as
# errors, ASan+UBSan, TSan), then builds consumers of the installed library (static) and of its
# Debian packages (shared).
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
  step "packaging: install the static library, build consumers with CMake and pkg-config"
  rm -rf build/install
  cmake --install build/release --prefix "$root/build/install" >/dev/null
  tests/packaging/check-install.sh "$root/build/install" static build/packaging

  # The shared library, built as Debian packages of it (tests off, only what they contain),
  # installed, and used by the same consumers.
  step "packaging: Debian packages (shared library), installed and used by consumers"
  VERROU_JOBS="$jobs" scripts/debian-packages.sh
fi

fuzz_seconds="${VERROU_FUZZ_SECONDS:-10}"
if [[ "$fuzz_seconds" != 0 ]]; then
  step "fuzz: every libFuzzer target for ${fuzz_seconds}s (clang, ASan+UBSan)"
  scripts/fuzz.sh --seconds "$fuzz_seconds"
fi

step "all test builds passed: $presets"
