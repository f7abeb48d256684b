#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The MySQL/MariaDB server's ceiling for a lock's acquire/release cycle on this machine, and
# verrou-cpp's share of it with as many workers. The ceiling is mariadb-slap (mysqlslap)
# running verrou-cpp's own statements from 32 clients, each on its own key: the acquisition as
# the one multi-statement round trip the store sends (START TRANSACTION; INSERT; raise the
# fencing counter; COMMIT), then the release; and, for reference, the two statements of a
# cycle without fencing tokens (INSERT, DELETE). mariadb-slap speaks the text protocol;
# verrou-cpp sends its release as a prepared statement. verrou-cpp is verrou_compare's
# `parallel` workload (32 workers, one key each, one shared store). Beside each rate, the
# server's CPU time per cycle, read from /proc/<pid>/stat of mariadbd. Rounds alternate the
# programs; each keeps its best round (noise only slows a run down).
#
#   bench/compare/ceiling_mysql.sh [build-dir]     # default build/compare-release
#   CEILING_ROUNDS=3 CEILING_WORKERS=32 CEILING_CYCLES=300 CEILING_SECONDS=5 \
#     CEILING_POOL_SIZE=32 bench/compare/ceiling_mysql.sh
#
# The server is VERROU_MYSQL_URL's (default mysql://verrou:verrou@127.0.0.1:3306/verrou); its
# process id comes from MARIADB_PID, or the pid file of scripts/servers/mariadb.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-${COMPARE_BUILD_DIR:-$root/build/compare-release}}"
rounds="${CEILING_ROUNDS:-3}"
workers="${CEILING_WORKERS:-32}"
cycles="${CEILING_CYCLES:-300}"     # per client, for mariadb-slap
seconds="${CEILING_SECONDS:-5}"     # for verrou_compare
pool="${CEILING_POOL_SIZE:-$workers}"
url="${VERROU_MYSQL_URL:-mysql://verrou:verrou@127.0.0.1:3306/verrou}"
say() { printf '== %s\n' "$*" >&2; }

# mysql://user:pass@host:port/db
rest="${url#*://}"
cred="${rest%@*}" hostpart="${rest##*@}"
user="${cred%%:*}" password="${cred#*:}"
hostport="${hostpart%%/*}" db="${hostpart#*/}"
db="${db%%\?*}"
host="${hostport%:*}" port="${hostport##*:}"
[[ "$port" == "$hostport" ]] && port=3306

pid="${MARIADB_PID:-}"
if [[ -z "$pid" ]]; then
  pidfile="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/mariadb/mysqld.pid"
  pid="$(cat "$pidfile" 2>/dev/null || true)"
fi
if [[ -z "$pid" || ! -r "/proc/$pid/stat" ]]; then
  say "no mariadbd process found (set MARIADB_PID): server CPU is not reported"
  pid=""
fi
slap="$(command -v mariadb-slap || command -v mysqlslap || true)"
client="$(command -v mariadb || command -v mysql || true)"
if [[ -z "$slap" || -z "$client" ]]; then
  say "mariadb-slap and mariadb (Debian: mariadb-client) are needed"
  exit 1
fi

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVERROU_BUILD_TESTS=OFF \
    -DVERROU_BUILD_CLI=OFF -DVERROU_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --target verrou_compare >&2
compare="$build/bench/compare/verrou_compare"

sql() { "$client" --no-defaults -h "$host" -P "$port" -u "$user" -p"$password" "$db" -N -e "$1"; }
table="verrou_ceiling_$$"
cpp_table="verrou_ceiling_cpp_$$"
cleanup() {
  for t in "$table" "${table}_fencing" "$cpp_table" "${cpp_table}_fencing"; do
    sql "DROP TABLE IF EXISTS $t" 2>/dev/null || true
  done
  rm -f "$scratch"/*.sql
  rmdir "$scratch" 2>/dev/null || true
}
scratch="$(mktemp -d)"
trap cleanup EXIT
# The tables as the store creates them (its binary, non-padding collation).
collation="$(sql "SELECT IF(VERSION() LIKE '%MariaDB%', 'utf8mb4_nopad_bin', 'utf8mb4_0900_bin')")"
sql "CREATE TABLE $table (\`key\` varchar(255) NOT NULL, \`owner\` varchar(255) NOT NULL,
     \`expiration\` bigint NULL, PRIMARY KEY (\`key\`)) CHARACTER SET utf8mb4 COLLATE $collation;
     CREATE TABLE ${table}_fencing (\`key\` varchar(255) NOT NULL, \`token\` bigint NOT NULL,
     PRIMARY KEY (\`key\`)) CHARACTER SET utf8mb4 COLLATE $collation"

# The statements, with each client's key from its connection id and the store's clock.
now="(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(3)) DIV 1000)"
key="CONCAT('ceiling:', CONNECTION_ID())"
owner="'0123456789abcdef0123456789abcdef'"
insert="INSERT INTO \`$table\` (\`key\`, \`owner\`, \`expiration\`) VALUES ($key, $owner, CAST(30000 AS SIGNED) + $now)"
bump="INSERT INTO \`${table}_fencing\` (\`key\`, \`token\`) VALUES ($key, LAST_INSERT_ID(1)) ON DUPLICATE KEY UPDATE \`token\` = LAST_INSERT_ID(\`token\` + 1)"
release="DELETE FROM \`$table\` WHERE \`key\` = $key AND \`owner\` = $owner AND (\`expiration\` IS NULL OR \`expiration\` > $now)"
printf '%s|%s|\n' "START TRANSACTION;$insert;$bump;COMMIT" "$release" >"$scratch/fenced.sql"
printf '%s|%s|\n' "$insert" "$release" >"$scratch/plain.sql"

server_cpu_us() {  # the server's user + system CPU time, µs
  if [[ -z "$pid" ]]; then echo 0; return; fi
  awk -v tck="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1e6 / tck }' "/proc/$pid/stat"
}
# Prints "cycles/s server_cpu_us_per_cycle" for mariadb-slap on query file $1.
slap_run() {
  local file="$1" c0 c1 t0 t1
  c0="$(server_cpu_us)"; t0="$(date +%s.%N)"
  "$slap" --no-defaults -h "$host" -P "$port" -u "$user" -p"$password" --create-schema="$db" \
    --concurrency="$workers" --iterations=1 --number-of-queries=$((workers * cycles * 2)) \
    --delimiter='|' --query="$file" >/dev/null
  t1="$(date +%s.%N)"; c1="$(server_cpu_us)"
  awk -v n=$((workers * cycles)) -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
    'BEGIN { printf "%.0f %.1f\n", n / (t1 - t0), (c1 - c0) / n }'
}
# The same for verrou-cpp's `parallel` workload.
cpp_run() {
  local c0 c1 out
  c0="$(server_cpu_us)"
  out="$("$compare" --store "$url?table=$cpp_table&pool_size=$pool" --seconds "$seconds" \
    --workers "$workers" --only parallel)"
  c1="$(server_cpu_us)"
  awk -v out="$out" -v c0="$c0" -v c1="$c1" 'BEGIN {
    match(out, /"rate":[0-9.]+/); rate = substr(out, RSTART + 7, RLENGTH - 7)
    match(out, /"count":[0-9]+/); n = substr(out, RSTART + 8, RLENGTH - 8)
    printf "%.0f %.1f\n", rate, (n > 0 ? (c1 - c0) / n : 0) }'
}

fenced=() plain=() cpp=()
for round in $(seq 1 "$rounds"); do
  say "round $round/$rounds: ceiling (fenced, plain) with mariadb-slap, verrou-cpp; $workers clients"
  fenced+=("$(slap_run "$scratch/fenced.sql")")
  plain+=("$(slap_run "$scratch/plain.sql")")
  cpp+=("$(cpp_run)")
done
best() { printf '%s\n' "$@" | sort -g -k1,1 | tail -1; }
f="$(best "${fenced[@]}")" p="$(best "${plain[@]}")" c="$(best "${cpp[@]}")"
echo
echo "MySQL/MariaDB ($host:$port), $workers clients, best of $rounds (cycles/s; server CPU per cycle):"
printf '  %-62s %8s  %8s µs\n' "ceiling, verrou-cpp's statements (fenced acquire + release)" $f
printf '  %-62s %8s  %8s µs\n' "ceiling, without fencing (INSERT + DELETE)" $p
printf '  %-62s %8s  %8s µs\n' "verrou-cpp, $workers workers (pool of $pool)" $c
awk -v c="${c%% *}" -v f="${f%% *}" \
  'BEGIN { printf "  verrou-cpp share of the ceiling: %.0f %% (goal >= 90 %%)\n", 100 * c / f }'
