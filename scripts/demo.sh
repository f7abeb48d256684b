#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The Quick start: from a fresh checkout, installs the build dependencies, builds the verrou
# command (release build in build/quickstart), then shows its main job: four processes
# started at once, each running `verrou run --key demo -- …`, take turns on the default
# store (an SQLite file), one second each.
#
#   scripts/demo.sh
#
# The demo keeps its store under build/quickstart/demo-state, never in your own
# ~/.local/state. About five seconds after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/quickstart

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

step "Installing the build dependencies (Debian packages)"
scripts/install-deps.sh --build-only

step "Building the verrou command in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DVERROU_BUILD_TESTS=OFF -DVERROU_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target verrou
verrou="$PWD/$build/cli/verrou"
"$verrou" --version

# A private state folder: the default store is $XDG_STATE_HOME/verrou/locks.db.
export XDG_STATE_HOME="$PWD/$build/demo-state"
unset VERROU_STORE
rm -rf "$XDG_STATE_HOME"

# Prefixes each line with the seconds since the workers started, to show the turns.
stamp() {
  local line elapsed
  while IFS= read -r line; do
    elapsed=$(( (${EPOCHREALTIME/[.,]/} - start) / 10000 ))
    printf '[%2d.%02ds] %s\n' $((elapsed / 100)) $((elapsed % 100)) "$line"
  done
}

step "Four workers start at once, each under the lock \"demo\" on the default SQLite store"
cat <<'EOF'
$ for n in 1 2 3 4; do
    verrou run --key demo -- sh -c 'echo "worker N got the lock"; sleep 1; echo "worker N done"' &
  done
EOF
start=${EPOCHREALTIME/[.,]/}
for n in 1 2 3 4; do
  "$verrou" run --key demo -- \
    sh -c "echo \"worker $n got the lock\"; sleep 1; echo \"worker $n done\"" 2>&1 | stamp &
done

sleep 0.4
echo "\$ verrou status --key demo"
"$verrou" status --key demo | stamp
echo "\$ verrou run --key demo --no-wait -- echo 'not printed: the lock is taken'"
set +e
"$verrou" run --key demo --no-wait -- echo 'not printed: the lock is taken' 2>&1 | stamp
code=${PIPESTATUS[0]}
set -e
echo "  (exit code $code: the lock was held elsewhere)"

wait
echo "\$ verrou status --key demo"
"$verrou" status --key demo | stamp

step "Done"
cat <<EOF
Each worker held the lock in turn: no two "got the lock" lines without a "done" between them.
The store was the SQLite file $XDG_STATE_HOME/verrou/locks.db; give
--store redis://host:6379 (or postgres://, mysql://, dynamodb://) to share locks across
machines. More: $verrou run --help, and docs/cli.md.
EOF
