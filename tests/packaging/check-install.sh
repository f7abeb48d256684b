#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds and runs consumers of one installed verrou, as its users would:
#   1. with CMake: find_package(verrou COMPONENTS core sqlite testing) (tests/packaging/),
#      including the conformance suite run against a store the consumer defines;
#   2. without CMake: `c++ consumer.cpp $(pkg-config --cflags --libs verrou-sqlite)`, the same
#      for a static and a shared libverrou, after checking every verrou*.pc file.
#
#   tests/packaging/check-install.sh PREFIX static|shared WORK_DIR
#     PREFIX    where verrou is installed (/usr for the Debian packages)
#     WORK_DIR  scratch folder for the consumers' builds (emptied first)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:?usage: check-install.sh PREFIX static|shared WORK_DIR}"
kind="${2:?usage: check-install.sh PREFIX static|shared WORK_DIR}"
work="${3:?usage: check-install.sh PREFIX static|shared WORK_DIR}"
case "$kind" in
  static | shared) ;;
  *) echo "check-install: kind must be static or shared, not '$kind'" >&2; exit 2 ;;
esac
rm -rf "$work"
mkdir -p "$work"

say() { printf -- '--- %s\n' "$*"; }

say "CMake consumer of the $kind verrou in $prefix"
cmake -S "$here" -B "$work/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DVERROU_EXPECTED_LIBRARY_TYPE="${kind^^}" >"$work/cmake.log" ||
  { cat "$work/cmake.log"; exit 1; }
grep 'verrou [0-9]' "$work/cmake.log" || true
cmake --build "$work/cmake"
ctest --test-dir "$work/cmake" --output-on-failure

say "pkg-config consumer of the $kind verrou in $prefix"
pc_dirs=()
for dir in "$prefix"/lib/pkgconfig "$prefix"/lib/*/pkgconfig; do
  [[ -e "$dir/verrou.pc" ]] && pc_dirs+=("$dir")
done
if ((${#pc_dirs[@]} != 1)); then
  echo "check-install: expected one folder with verrou.pc under $prefix/lib, found ${#pc_dirs[@]}" >&2
  exit 1
fi
pc_dir="${pc_dirs[0]}"
export PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
for pc in "$pc_dir"/verrou*.pc; do
  module="$(basename "$pc" .pc)"
  pkg-config --validate "$module"
  pkg-config --cflags --libs "$module" >/dev/null
  echo "$module $(pkg-config --modversion "$module"): ok"
done
flags="$(pkg-config --cflags --libs verrou-sqlite)"
echo "pkg-config --cflags --libs verrou-sqlite: $flags"
# shellcheck disable=SC2086  # the flags are words
c++ -std=c++20 -Wall -Wextra -Werror \
  -DVERROU_PACKAGE_VERSION="\"$(pkg-config --modversion verrou)\"" \
  "$here/consumer.cpp" $flags -o "$work/pkg-config-consumer"
libdir="$(pkg-config --variable=libdir verrou)"
if [[ "$kind" == shared ]]; then
  readelf -dW "$work/pkg-config-consumer" | grep -q 'NEEDED.*\[libverrou\.so\.' ||
    { echo "check-install: the pkg-config consumer does not load libverrou.so" >&2; exit 1; }
else
  if readelf -dW "$work/pkg-config-consumer" | grep -q 'NEEDED.*\[libverrou\.so'; then
    echo "check-install: the static consumer loads a shared libverrou" >&2
    exit 1
  fi
fi
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/pkg-config-consumer"
say "the $kind verrou in $prefix works with CMake and with pkg-config"
