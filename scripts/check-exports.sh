#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Checks what a shared libverrou exports, from a build folder made with -DBUILD_SHARED_LIBS=ON:
#   - its SONAME is libverrou.so.<VERROU_SOVERSION>;
#   - every function, variable and type information of namespace verrou that the library
#     defines is exported, except those of verrou::detail (private) and unnamed namespaces.
#     A declaration of include/verrou/ without VERROU_EXPORT shows up here: hidden, so users of
#     the shared library cannot link it (or cannot dynamic_cast to or catch its type);
#   - with PROGRAMS_BUILD_DIR (any build of the project with its tests, static or shared): every
#     symbol of namespace verrou that the project's own programs there (tests, benchmarks,
#     examples, the verrou command) take from the library is exported, so they also link
#     against this shared library. A private function a white-box test calls needs
#     VERROU_INTERNAL_EXPORT (src/core/detail/export.hpp).
#
#   scripts/check-exports.sh SHARED_BUILD_DIR [PROGRAMS_BUILD_DIR]
#   scripts/check-exports.sh build/shared build/release
# Exit status: 0 fine, 1 a check failed, 2 usage.
set -euo pipefail

build="${1:?usage: check-exports.sh SHARED_BUILD_DIR [PROGRAMS_BUILD_DIR]}"
programs="${2:-}"
lib="$(find "$build" -name 'libverrou.so.*.*' -type f | head -n 1)"
if [[ -z "$lib" ]]; then
  echo "check-exports: no libverrou.so.* under $build (configure with -DBUILD_SHARED_LIBS=ON)" >&2
  exit 2
fi
objects_dir="$(dirname "$lib")/CMakeFiles/verrou_core.dir"
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

if [[ -n "$programs" ]]; then
  # Mangled names of namespace verrou: functions (_ZN6verrou, _ZNK6verrou for const members),
  # variables, and the type information and vtables of its classes.
  ours='^_Z(N|NK|TI|TV|TS)?N?6verrou'
  objects=()
  while IFS= read -r -d '' object; do objects+=("$object"); done < <(
    find "$programs" -name '*.o' -not -path '*/verrou_core.dir/*' -not -path '*/_deps/*' -print0)
  if ((${#objects[@]} == 0)); then
    echo "check-exports: no object files of programs under $programs" >&2
    exit 2
  fi
  needed="$(nm -u "${objects[@]}" 2>/dev/null | awk '{print $NF}' | grep -E "$ours" | sort -u || true)"
  defined="$(nm --defined-only "${objects[@]}" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u)"
  exported="$(nm -D --defined-only "$lib" | awk '{print $3}' | sort -u)"
  missing="$(comm -23 <(comm -23 <(echo "$needed") <(echo "$defined")) <(echo "$exported") |
    sed '/^$/d' | c++filt)"
  if [[ -n "$missing" ]]; then
    echo "check-exports: programs under $programs use these symbols that $soname does not export." >&2
    echo "Mark their declarations with VERROU_EXPORT (include/verrou/) or, for private code," >&2
    echo "VERROU_INTERNAL_EXPORT (src/core/detail/export.hpp):" >&2
    sed 's/^/  /' <<<"$missing" >&2
    status=1
  fi
fi

if [[ $status -eq 0 ]]; then
  echo "check-exports: $soname exports the whole public namespace ($(nm -D --defined-only "$lib" | wc -l) symbols)"
fi
exit $status
