#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package verrou-cpp needs to build, test and benchmark, and the test
# servers (Redis, PostgreSQL, MariaDB, etcd). Idempotent: packages already present are skipped quickly.
# Usage: scripts/install-deps.sh [--build-only]
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libpq-dev libmariadb-dev libhiredis-dev libssl-dev
  libcurl4-openssl-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libsoci-dev unixodbc-dev
  prometheus-cpp-dev
  clang libclang-rt-14-dev
)
server_packages=(
  redis-server redis-tools postgresql mariadb-server mariadb-client etcd-server etcd-client
  sqlite3 openssl procps psmisc curl
  odbc-postgresql
  gnuplot-nox
)

packages=("${build_packages[@]}")
if [[ "${1:-}" != "--build-only" ]]; then
  packages+=("${server_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  # Debian starts services on install when it can; the project's scripts run their own
  # instances on loopback, so keep the packaged ones from starting.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
    trap '"${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all packages present"
