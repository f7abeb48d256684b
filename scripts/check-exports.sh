#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Checks what a shared libverrou exports, from a build folder made with -DBUILD_SHARED_LIBS=ON:
#   - its SONAME is libverrou.so.<VERROU_SOVERSION>;
#   - every function, variable and type information of namespace verrou that the library
#     defines is exported, except those of verrou::detail (private) and unnamed namespaces.
#     A declaration of include/verrou/ without VERROU_EXPORT shows up here: hidden, so users of
#     the shared library cannot link it (or cannot dynamic_cast to or catch its type).
#   The project's own tests link a static copy of the library (verrou_internal), so private
#   code needs no export; the verrou command links the shared library, and the few private
#   functions it calls are marked VERROU_INTERNAL_EXPORT (src/core/detail/export.hpp).
#
#   scripts/check-exports.sh SHARED_BUILD_DIR
#   scripts/check-exports.sh build/shared
# Exit status: 0 fine, 1 a check failed, 2 usage.
set -euo pipefail

build="${1:?usage: check-exports.sh SHARED_BUILD_DIR}"
lib="$(find "$build" -name 'libverrou.so.*.*' -type f | head -n 1)"
if [[ -z "$lib" ]]; then
  echo "check-exports: no libverrou.so.* under $build (configure with -DBUILD_SHARED_LIBS=ON)" >&2
  exit 2
fi
objects_dir="$(dirname "$lib")/CMakeFiles/verrou_objects.dir"
soversion="$(sed -n 's/^set(VERROU_SOVERSION \([0-9]*\)).*/\1/p' "$(dirname "$0")/../CMakeLists.txt")"
status=0

soname="$(readelf -dW "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
if [[ "$soname" != "libverrou.so.$soversion" ]]; then
  echo "check-exports: $lib has SONAME '$soname', expected libverrou.so.$soversion" >&2
  status=1
fi

# Symbols the objects define with hidden visibility: global ones (out-of-line functions and
# variables), and the weak type information and vtables of classes defined in headers.
hidden="$(find "$objects_dir" -name '*.o' -print0 | xargs -0 readelf -sW 2>/dev/null |
  awk '$6 == "HIDDEN" && $7 != "UND" && ($5 == "GLOBAL" || ($5 == "WEAK" && $8 ~ /^_ZT[IV]/)) {print $8}' |
  sort -u | c++filt |
  grep -E '^((typeinfo|vtable) for )?verrou::' |
  grep -vE '^((typeinfo|vtable) for )?verrou::(detail::|.*\(anonymous namespace\))' || true)"
if [[ -n "$hidden" ]]; then
  echo "check-exports: libverrou defines these symbols of its public namespace without exporting them." >&2
  echo "Mark their declarations in include/verrou/ with VERROU_EXPORT (see include/verrou/export.hpp)," >&2
  echo "or move private code into namespace verrou::detail:" >&2
  sed 's/^/  /' <<<"$hidden" >&2
  status=1
fi

if [[ $status -eq 0 ]]; then
  echo "check-exports: $soname exports the whole public namespace ($(nm -D --defined-only "$lib" | wc -l) symbols)"
fi
exit $status
