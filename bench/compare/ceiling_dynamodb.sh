#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The DynamoDB server's ceiling for a lock's acquire/release cycle on this machine, and
# verrou-cpp's share of it with as many workers. The ceiling is dynamodb_ceiling: a minimal
# libcurl loop keeping 32 requests in flight (one per key and keep-alive connection), sending
# the same requests verrou-cpp sends (its fenced UpdateItem pair) and, for reference, Verrou's
# PutItem/DeleteItem pair, with no signing and no JSON library. verrou-cpp is verrou_compare's
# `parallel` workload (32 workers, one key each, one shared store). Rounds alternate the
# programs; each keeps its best round (noise only slows a run down).
#
#   bench/compare/ceiling_dynamodb.sh [build-dir]     # default build/compare-release
#   CEILING_SECONDS=5 CEILING_ROUNDS=3 CEILING_WORKERS=32 bench/compare/ceiling_dynamodb.sh
#
# The server is VERROU_DYNAMODB_URL's endpoint (default dynalite, http://127.0.0.1:8000).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-${COMPARE_BUILD_DIR:-$root/build/compare-release}}"
seconds="${CEILING_SECONDS:-5}"
rounds="${CEILING_ROUNDS:-3}"
workers="${CEILING_WORKERS:-32}"
base_url="${VERROU_DYNAMODB_URL:-dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000}"
endpoint="$(sed -n 's/.*[?&]endpoint=\([^&]*\).*/\1/p' <<<"$base_url")"
endpoint="${endpoint:-http://127.0.0.1:8000}"
say() { printf '== %s\n' "$*" >&2; }

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVERROU_BUILD_TESTS=OFF \
    -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --target verrou_compare dynamodb_ceiling >&2
ceiling="$build/bench/compare/dynamodb_ceiling"
compare="$build/bench/compare/verrou_compare"

table="verrou_ceiling_$$"
cpp_table="verrou_ceiling_cpp_$$"
dynamo() {  # operation json: a request to the server, outside the measured loops
  curl -s -m 10 -X POST "$endpoint/" -H 'Content-Type: application/x-amz-json-1.0' \
    -H "X-Amz-Target: DynamoDB_20120810.$1" -H 'X-Amz-Date: 20240101T000000Z' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=verrouBench/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00' \
    -d "$2"
}
cleanup() {
  for t in "$table" "$cpp_table"; do dynamo DeleteTable "{\"TableName\":\"$t\"}" >/dev/null || true; done
}
trap cleanup EXIT
dynamo CreateTable "{\"TableName\":\"$table\",\"AttributeDefinitions\":[{\"AttributeName\":\"key\",\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"key\",\"KeyType\":\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\"}" >/dev/null
for _ in $(seq 1 50); do
  dynamo DescribeTable "{\"TableName\":\"$table\"}" | grep -q '"ACTIVE"' && break
  sleep 0.2
done

rate() { sed -n 's/.*"rate":\([0-9.]*\).*/\1/p'; }
best() { sort -g | tail -1; }
fenced=() verrou=() cpp=()
for round in $(seq 1 "$rounds"); do
  say "round $round/$rounds: ceiling (fenced pair, Verrou's pair), verrou-cpp with $workers workers, $seconds s each"
  fenced+=("$("$ceiling" --endpoint "$endpoint" --table "$table" --lanes "$workers" --seconds "$seconds" --pair fenced | rate)")
  verrou+=("$("$ceiling" --endpoint "$endpoint" --table "$table" --lanes "$workers" --seconds "$seconds" --pair verrou | rate)")
  cpp+=("$(AWS_ACCESS_KEY_ID=verrouBench AWS_SECRET_ACCESS_KEY=verrouBenchSecret AWS_SESSION_TOKEN= \
    "$compare" --store "$base_url&table=$cpp_table" --seconds "$seconds" --workers "$workers" \
    --only parallel | rate)")
done
f="$(printf '%s\n' "${fenced[@]}" | best)"
v="$(printf '%s\n' "${verrou[@]}" | best)"
c="$(printf '%s\n' "${cpp[@]}" | best)"
echo
echo "DynamoDB ($endpoint), $workers in flight, cycles/s (acquire + release), best of $rounds:"
printf '  %-58s %10.0f\n' "ceiling, verrou-cpp's requests (UpdateItem + UpdateItem)" "$f"
printf '  %-58s %10.0f\n' "ceiling, Verrou's requests (PutItem + DeleteItem)" "$v"
printf '  %-58s %10.0f\n' "verrou-cpp, $workers workers" "$c"
awk -v c="$c" -v f="$f" 'BEGIN { printf "  verrou-cpp share of the ceiling: %.0f %% (goal >= 80 %%)\n", 100 * c / f }'
