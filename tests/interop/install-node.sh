#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs the interoperability helper's npm packages (@verrou/core and its store clients,
# pinned by package-lock.json) into tests/interop/node/node_modules with `npm ci`. Idempotent
# and safe to run concurrently: it does nothing when node_modules was installed from the
# current lock file, and installs under a file lock otherwise. Runs as a CTest fixture before
# the interop tests; run it by hand to prepare the comparison benchmark too.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/node"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "interop: Node.js 20+ and npm are needed (they also serve the DynamoDB test servers)" >&2
  exit 1
fi
exec 9>"$dir/.install.lock"
flock 9
stamp="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) $(node --version)"
marker="$dir/node_modules/.verrou-installed"
if [[ -f "$marker" && "$(cat "$marker")" == "$stamp" ]]; then
  echo "interop: npm packages up to date"
  exit 0
fi
echo "interop: npm ci in $dir (better-sqlite3 compiles from source: about a minute)"
log="$(mktemp)"
if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1); then
  echo "interop: npm ci failed:" >&2
  tail -40 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
echo "$stamp" >"$marker"
echo "interop: npm packages installed"
