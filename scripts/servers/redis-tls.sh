#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A Redis served only over TLS with an ACL user, as managed services (Upstash, Vercel KV) are:
# 127.0.0.1:6380, TLS only (no plain port), user `verrou` with a generated password.
# Made under $VERROU_SERVERS_DIR/redis-tls:
#   ca.crt            the CA that signed the server certificate (VERROU_REDIS_TLS_CA)
#   server.crt/.key   the server certificate, for 127.0.0.1 and localhost
#   password          the password of user `verrou`
#   url               a rediss:// URL with user, password and ca_file (VERROU_REDIS_TLS_URL)
#
#   scripts/servers/redis-tls.sh start|stop|status
set -euo pipefail
dir="${VERROU_SERVERS_DIR:-/tmp/verrou-servers}/redis-tls"
port="${VERROU_REDIS_TLS_PORT:-6380}"
pidfile="$dir/redis.pid"

cli() {
  redis-cli --tls --cacert "$dir/ca.crt" -h 127.0.0.1 -p "$port" \
    --user verrou --pass "$(cat "$dir/password")" --no-auth-warning "$@"
}
running() { [[ -f "$dir/password" ]] && cli ping 2>/dev/null | grep -q PONG; }

make_certificates() {
  mkdir -p "$dir"
  chmod 700 "$dir"
  [[ -f "$dir/server.crt" && -f "$dir/ca.crt" && -f "$dir/password" ]] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=verrou test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  # A CA the server does not use, for tests of verification failures.
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=verrou unrelated CA" \
    -keyout "$dir/other-ca.key" -out "$dir/other-ca.crt" 2>/dev/null
  openssl rand -hex 24 >"$dir/password"
  chmod 600 "$dir"/*.key "$dir/password"
}

case "${1:-}" in
  start)
    make_certificates
    if running; then echo "redis-tls: already running on 127.0.0.1:$port"; exit 0; fi
    password="$(cat "$dir/password")"
    # ACL: the default user is off, so only `verrou` (password from the file) gets in.
    printf 'user default off\nuser verrou on >%s ~* &* +@all\n' "$password" >"$dir/users.acl"
    chmod 600 "$dir/users.acl"
    redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --daemonize yes \
      --pidfile "$pidfile" --dir "$dir" --logfile "$dir/redis.log" --save '' --appendonly no \
      --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" \
      --tls-ca-cert-file "$dir/ca.crt" --tls-auth-clients no --aclfile "$dir/users.acl"
    printf 'rediss://verrou:%s@127.0.0.1:%s?ca_file=%s\n' "$password" "$port" "$dir/ca.crt" >"$dir/url"
    chmod 600 "$dir/url"
    for _ in $(seq 1 100); do
      if running; then echo "redis-tls: ready on 127.0.0.1:$port (TLS, user verrou)"; exit 0; fi
      sleep 0.1
    done
    echo "redis-tls: did not start; see $dir/redis.log" >&2
    exit 1
    ;;
  stop)
    if running; then cli shutdown nosave >/dev/null 2>&1 || true; fi
    for _ in $(seq 1 50); do running || exit 0; sleep 0.1; done
    [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    ;;
  status)
    if running; then echo "redis-tls: running on 127.0.0.1:$port"; else echo "redis-tls: stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
