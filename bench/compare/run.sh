#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# verrou-cpp side by side with @verrou/core (Node.js) on the same servers, in one run: builds
# the C++ half (Release), installs the npm packages, starts the test servers, runs the same
# workloads through both libraries store by store, and prints a table of both figures and
# their ratio. Takes a few minutes.
#
#   bench/compare/run.sh                      # every store, 3 s per workload
#   bench/compare/run.sh --update-docs        # also rewrite docs/benchmarks.md and docs/compare.png
#   COMPARE_SECONDS=5 COMPARE_STORES="redis postgres" bench/compare/run.sh
#   COMPARE_ROUNDS=3 bench/compare/run.sh     # best of 3 rounds, on a busy machine
#
# Stores: memory redis sqlite postgres mysql dynamodb (dynalite). Server addresses come from
# VERROU_REDIS_URL, VERROU_POSTGRES_URL, VERROU_MYSQL_URL, VERROU_DYNAMODB_URL (loopback defaults).
# Raw results go to build/compare-results/ (one JSON line per workload and side).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

update_docs=0
for arg in "$@"; do
  case "$arg" in
    --update-docs) update_docs=1 ;;
    *) echo "usage: $0 [--update-docs]" >&2; exit 2 ;;
  esac
done

seconds="${COMPARE_SECONDS:-3}"
rounds="${COMPARE_ROUNDS:-1}"
stores="${COMPARE_STORES:-memory redis sqlite postgres mysql dynamodb}"
build="${COMPARE_BUILD_DIR:-$root/build/compare-release}"
out="${COMPARE_OUT:-$root/build/compare-results}"
# The same pool size on both sides for the SQL servers (knex's default maximum is 10).
pool="${COMPARE_POOL_SIZE:-10}"
export NODE_NO_WARNINGS=1

say() { printf '== %s\n' "$*" >&2; }

say "npm packages (@verrou/core and its store clients)"
tests/interop/install-node.sh >&2

say "building verrou_compare (Release) in $build"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVERROU_BUILD_TESTS=OFF \
    -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --target verrou_compare >&2
cpp="$build/bench/compare/verrou_compare"

servers=()
for s in $stores; do
  case "$s" in
    redis) servers+=(redis) ;;
    postgres) servers+=(postgres) ;;
    mysql) servers+=(mariadb) ;;
    dynamodb) servers+=(dynalite) ;;
  esac
done
if ((${#servers[@]})); then
  say "test servers: ${servers[*]}"
  scripts/servers.sh start "${servers[@]}" >&2
fi

rm -rf "$out"
mkdir -p "$out"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# The URL each side uses: its own table (or file), so each library works on the table it
# creates itself, as in production.
url_for() {  # store side
  local store="$1" side="$2"
  case "$store" in
    memory) echo "memory:" ;;
    redis) echo "${VERROU_REDIS_URL:-redis://127.0.0.1:6379}" ;;
    sqlite) echo "sqlite://$scratch/$side.db" ;;
    postgres) echo "${VERROU_POSTGRES_URL:-postgres://verrou:verrou@127.0.0.1:5432/verrou}?table=verrou_compare_$side&pool_size=$pool" ;;
    mysql) echo "${VERROU_MYSQL_URL:-mysql://verrou:verrou@127.0.0.1:3306/verrou}?table=verrou_compare_$side&pool_size=$pool" ;;
    dynamodb) echo "${VERROU_DYNAMODB_URL:-dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000}&table=verrou_compare_$side" ;;
    *) echo "unknown store $store" >&2; return 1 ;;
  esac
}

drop_table() {  # url: a fresh table for each run (the helper opens the store, then drops it)
  echo '{"op":"drop"}' | node tests/interop/node/helper.mjs "$1" >/dev/null
}

{
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
  echo "debian=$(cat /etc/debian_version 2>/dev/null || echo unknown)"
  echo "kernel=$(uname -r)"
  echo "compiler=$(c++ --version | head -1)"
  echo "node=$(node --version)"
  echo "redis=$(redis-server --version 2>/dev/null | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
  echo "postgres=$( (/usr/lib/postgresql/*/bin/postgres --version 2>/dev/null || true) | head -1 | awk '{print $3}')"
  echo "mariadb=$( (mariadbd --version 2>/dev/null || /usr/sbin/mariadbd --version 2>/dev/null || true) | awk '{print $3}')"
  echo "sqlite=$(sqlite3 --version 2>/dev/null | awk '{print $1}')"
  echo "dynalite=$(node -p "require('${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/dynamodb-npm/node_modules/dynalite/package.json').version" 2>/dev/null || echo unknown)"
  echo "seconds=$seconds"
  echo "pool=$pool"
  echo "rounds=$rounds"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$out/machine.txt"

# Rounds alternate the two sides, so a burst of load elsewhere on the machine hits both; the
# report keeps each workload's best round (noise only ever slows a run down).
for store in $stores; do
  for round in $(seq 1 "$rounds"); do
    for side in cpp node; do
      url="$(url_for "$store" "$side")"
      case "$store" in postgres|mysql|dynamodb) drop_table "$url" ;; sqlite) rm -f "$scratch/$side.db"* ;; esac
      say "$store: $([[ $side == cpp ]] && echo verrou-cpp || echo @verrou/core), round $round/$rounds ($seconds s per workload)"
      if [[ $side == cpp ]]; then
        "$cpp" --store "$url" --seconds "$seconds" >>"$out/$store.$side.jsonl" || say "$store: verrou-cpp failed"
      else
        node "$here/compare.mjs" --store "$url" --seconds "$seconds" >>"$out/$store.$side.jsonl" || say "$store: @verrou/core failed"
      fi
      case "$store" in postgres|mysql|dynamodb) drop_table "$url" ;; esac
    done
  done
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

report_args=("$out")
if ((update_docs)); then
  report_args+=(--docs "$root/docs/benchmarks.md")
fi
node "$here/report.mjs" "${report_args[@]}"
if [[ " $stores " == *" dynamodb "* ]]; then "$here/ceiling_dynamodb.sh" "$build" || say "dynamodb: ceiling failed"; fi
if [[ " $stores " == *" postgres "* ]]; then "$here/ceiling_postgres.sh" --cpp "$cpp" || say "postgres: ceiling failed"; fi
if [[ " $stores " == *" redis "* ]]; then "$here/ceiling_redis.sh" "$cpp" || say "redis: ceiling failed"; fi
if [[ " $stores " == *" mysql "* ]]; then "$here/ceiling_mysql.sh" "$build" || say "mysql: ceiling failed"; fi

if ((update_docs)); then
  if command -v gnuplot >/dev/null; then
    gnuplot -e "data='$out'; output='$root/docs/compare.png'" "$here/compare.gp"
    say "chart written to docs/compare.png"
  else
    say "gnuplot not installed (Debian: gnuplot-nox): chart not drawn"
  fi
fi
COMPARE_BUILD_DIR="$build" COMPARE_OUT="$out" "$here/etcd.sh" || say "etcd: the comparison with etcd's own tools failed"  # no @verrou/core etcd store
