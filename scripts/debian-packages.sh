#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds the Debian packages of debian/ (libverrou0, libverrou-dev, verrou) from this checkout
# with `dpkg-buildpackage -b -us -uc`, installs them, checks them as a user would, and removes
# them again:
#   - the package names and versions agree with CMakeLists.txt (VERROU_SOVERSION, VERSION),
#     the vcpkg manifest's too;
#   - the shared library exports its whole public API (scripts/check-exports.sh);
#   - `verrou --version`, a `verrou run`, the man page and the bash completion work;
#   - consumers build and run against the packages with CMake and with pkg-config
#     (tests/packaging/check-install.sh /usr shared).
#
#   scripts/debian-packages.sh [--keep] [--again]
#     --keep   leave the packages installed
#     --again  rebuild in the build folder of the previous run (build/debian/), compiling only
#              what changed since; without it the packages are built from scratch
# The packages and the build log are left in build/debian/. The tests are not built inside
# the package build (DEB_BUILD_OPTIONS=nocheck): CI runs them in its own builds. Needs the
# build dependencies of debian/control (scripts/install-deps.sh), and root or sudo to install.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

say() { printf -- '--- %s\n' "$*"; }
fail() { echo "debian-packages: $*" >&2; exit 1; }

keep=false
again=false
while (($#)); do
  case "$1" in
    --keep) keep=true ;;
    --again) again=true ;;
    *) fail "unknown argument '$1' (usage: debian-packages.sh [--keep] [--again])" ;;
  esac
  shift
done
jobs="${VERROU_JOBS:-$(nproc)}"
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

# One version, one ABI number: CMakeLists.txt's, which debian/ must follow.
version="$(sed -n 's/^project(verrou VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
soversion="$(sed -n 's/^set(VERROU_SOVERSION \([0-9]*\)).*/\1/p' CMakeLists.txt)"
[[ -n "$version" && -n "$soversion" ]] || fail "cannot read VERSION and VERROU_SOVERSION from CMakeLists.txt"
package_version="$(dpkg-parsechangelog -l debian/changelog -S Version)"
upstream_version="${package_version#*:}"
upstream_version="${upstream_version%-*}"
[[ "$upstream_version" == "$version" ]] ||
  fail "debian/changelog is at $package_version but CMakeLists.txt at $version: add a changelog entry"
grep -qx "Package: libverrou$soversion" debian/control ||
  fail "debian/control has no package libverrou$soversion (VERROU_SOVERSION is $soversion)"
grep -q "\"version-semver\": \"$version\"" packaging/vcpkg/verrou/vcpkg.json ||
  fail "packaging/vcpkg/verrou/vcpkg.json does not say version $version"

out="$root/build/debian"
src="$out/verrou-$version"
build_flags=()
if $again && [[ -d "$src/debian" ]]; then
  # Keep the CMake build folder; let dh run every step again (it skips them after a build).
  rm -f "$src/debian/debhelper-build-stamp" "$src"/debian/*.debhelper.log "$src/debian/files" \
    "$out"/*.deb "$out"/*.ddeb
  build_flags=(-nc)
else
  rm -rf "$out"
fi
mkdir -p "$src"
# dpkg-buildpackage builds inside the source folder and writes the packages beside it: use a
# copy of the sources (the tracked and new files, not build/ nor ignored ones).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
else
  tar --exclude=./build --exclude=./.git --exclude=node_modules -cf - . | tar -xf - -C "$src"
fi

say "dpkg-buildpackage -b -us -uc (log: build/debian/build.log)"
start=$SECONDS
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$jobs" dpkg-buildpackage -b -us -uc "${build_flags[@]}") \
    >"$out/build.log" 2>&1; then
  tail -n 60 "$out/build.log" >&2
  fail "dpkg-buildpackage failed (whole log: build/debian/build.log)"
fi
echo "built in $((SECONDS - start)) s:"
(cd "$out" && ls -l ./*.deb)

say "what the shared library exports"
scripts/check-exports.sh "$src/obj-$(dpkg-architecture -qDEB_HOST_GNU_TYPE)"

say "install the packages"
packages=(libverrou$soversion libverrou-dev verrou)
remove_packages() {
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" >/dev/null
}
if ! $keep; then trap 'say "remove the packages"; remove_packages' EXIT; fi
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "$out"/libverrou"$soversion"_*.deb "$out"/libverrou-dev_*.deb "$out"/verrou_*.deb >/dev/null
for p in "${packages[@]}"; do
  echo "$p $(dpkg-query -W -f='${Version}: ${Depends}' "$p")"
done

say "the verrou command"
/usr/bin/verrou --version | grep -q "^verrou $version " || fail "verrou --version does not say $version"
/usr/bin/verrou --version | head -n 1
/usr/bin/verrou run --store memory: --key packaging -- true
commands="$(/usr/bin/verrou --help | awk '/^Subcommands:/ { l = 1; next } l && /^  [a-z]/ { print $1; next } l { exit }')"
[[ -n "$commands" ]] || fail "verrou --help lists no commands"
for command in $commands; do
  zcat /usr/share/man/man1/verrou.1.gz | grep -q "^\.SS \"verrou $command\"" ||
    fail "the man page has no section for verrou $command"
done
echo "man page: a section for each of $(echo $commands)"
# Completion as bash runs it on <Tab>: COMP_LINE/COMP_POINT are what bash-completion reads.
completion="$(bash -c '
  source /usr/share/bash-completion/bash_completion
  source /usr/share/bash-completion/completions/verrou
  complete_line() {
    COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<<"$COMP_LINE"
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _verrou; echo "${COMPREPLY[*]}"
  }
  complete_line "verrou ru"
  complete_line "verrou status --st"
  complete_line "verrou run --store mem"' 2>/dev/null)"
[[ "$completion" == $'run\n--store\nmemory:' ]] ||
  fail "bash completion offers '$completion', expected run, --store and memory:"
echo "bash completion: ok"

tests/packaging/check-install.sh /usr shared "$out/consumer"
say "the Debian packages work"
