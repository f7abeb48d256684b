#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Longer runs of the mutual-exclusion checker (tests/stress/mutex_check.cpp) on every store,
# and optionally of the restart faults (tests/faults/restart.sh). Uses the test servers of
# scripts/servers.sh (start them first) and the VERROU_*_URL variables when set.
#
#   scripts/stress.sh --seconds 300                    # every store, 5 minutes each
#   scripts/stress.sh --seconds 60 redis postgres      # some stores
#   scripts/stress.sh --seconds 60 --faults            # then restart each server under load
#   scripts/stress.sh --processes 8 --threads 4 --ttl 2s --hold-us 2000 sqlite
#   scripts/stress.sh --seconds 60 --limit 3 memory dynamodb etcd   # semaphores of 3 permits
#
# Stores: memory sqlite postgres mysql redis redis-cluster dynamodb dynamodb-local etcd.
# Builds verrou_mutex_check in build/stress (optimised, no sanitizers) unless --build DIR
# names a build that has it. Exit status: 0 every run passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds=60 processes=4 threads=4 keys=3 faults=0 build="" extra=() limit=()
stores=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --processes) processes="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --keys) keys="$2"; shift 2 ;;
    --ttl|--hold-us|--acquire-timeout) extra+=("$1" "$2"); shift 2 ;;
    --limit) limit=(--limit "$2"); shift 2 ;;
    --faults) faults=1; shift ;;
    --build) build="$2"; shift 2 ;;
    -h|--help) sed -n '4,16p' "$0"; exit 0 ;;
    -*) echo "stress.sh: unknown option $1" >&2; exit 2 ;;
    *) stores+=("$1"); shift ;;
  esac
done
[[ ${#stores[@]} -gt 0 ]] || stores=(memory sqlite postgres mysql redis redis-cluster dynamodb)

if [[ -z "$build" ]]; then
  build="$root/build/stress"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=OFF -DVERROU_EXCLUDE_DRIVERS=soci >/dev/null
  cmake --build "$build" -j "${VERROU_JOBS:-2}" --target verrou_mutex_check >/dev/null
fi
checker="$build/tests/stress/verrou_mutex_check"
[[ -x "$checker" ]] || { echo "stress.sh: no $checker" >&2; exit 2; }

export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-verrouTests}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-verrouTestsSecret}"
url_of() {
  case "$1" in
    memory) echo "memory:" ;;
    sqlite) echo "sqlite://{dir}/stress.db" ;;
    postgres) echo "${VERROU_POSTGRES_URL:-postgres://verrou:verrou@127.0.0.1:5432/verrou}" ;;
    mysql) echo "${VERROU_MYSQL_URL:-mysql://verrou:verrou@127.0.0.1:3306/verrou}" ;;
    redis) echo "${VERROU_REDIS_URL:-redis://127.0.0.1:6379}" ;;
    redis-cluster) echo "${VERROU_REDIS_CLUSTER_URL:-redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002}" ;;
    dynamodb) echo "${VERROU_DYNAMODB_URL:-dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000&table=verrou_tests}" ;;
    dynamodb-local) echo "${VERROU_DYNAMODB_LOCAL_URL:-dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8001&table=verrou_tests}" ;;
    etcd) echo "${VERROU_ETCD_URL:-etcd://127.0.0.1:2379}" ;;
    *) return 1 ;;
  esac
}

failed=()
for store in "${stores[@]}"; do
  url="$(url_of "$store")" || { echo "stress.sh: unknown store $store" >&2; exit 2; }
  p="$processes"
  [[ "$store" == memory ]] && p=1  # a memory store lives in one process: threads only
  echo "=== $store: ${seconds}s, $p processes x $threads threads, $keys keys"
  "$checker" run --store "$url" --seconds "$seconds" --processes "$p" --threads "$threads" \
    --keys "$keys" "${extra[@]}" "${limit[@]}" || failed+=("$store")
done

if [[ $faults -eq 1 ]]; then
  for server in redis redis-cluster postgres mariadb dynamodb; do
    echo "=== restart $server under load (${seconds}s)"
    "$root/tests/faults/restart.sh" "$checker" "$server" "$seconds" "${limit[@]}" ||
      failed+=("restart-$server")
  done
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "stress.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "stress.sh: every run passed"
