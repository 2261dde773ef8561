#!/usr/bin/env bash
# /userinfo and /introspect per second (each checks the token's signature and its revocation)
# on the embedded default, measured with wrk from Debian on loopback: the gateway and wrk share
# the machine's cores. Prints one line per endpoint with the median of RUNS runs.
#   GATEWAY_BIN   the gateway binary (default: a release build of this checkout)
#   RUNS          runs per endpoint (default 3), DURATION seconds each (default 10)
#   CONNECTIONS   wrk connections (default 32), THREADS wrk threads (default 1)
#   BACKEND       embedded (default: SQLite + in-memory store) or postgres (a fresh database on
#                 VNEID_TEST_POSTGRES_URL's server, and Redis at VNEID_TEST_REDIS_URL)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
if [ -z "${GATEWAY_BIN:-}" ]; then
  cargo build --release -p vneid-gateway --bin gateway >&2
  GATEWAY_BIN="${CARGO_TARGET_DIR:-$root/target}/release/gateway"
fi

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
portal_secret=bench-portal-secret-0123456789-abcdefghij
it_secret=bench-it-secret-0123456789-abcdefghijklmn
db_url="sqlite://$work/gateway.db"
ephemeral=""
if [ "${BACKEND:-embedded}" = postgres ]; then
  admin=${VNEID_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  name="vneid_bench_$$"
  psql "$admin" -qc "CREATE DATABASE $name" >/dev/null
  db_url="${admin%/*}/$name"
  ephemeral="[ephemeral]
url = \"${VNEID_TEST_REDIS_URL:-redis://127.0.0.1:6379}\"
key_prefix = \"bench-$$:\""
  trap 'cleanup; psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null' EXIT
fi
head -c 32 /dev/urandom | base64 > "$work/master.key"
cat > "$work/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
[database]
url = "$db_url"
$ephemeral
[keys]
master_key_file = "$work/master.key"
[log]
filter = "warn"
[simulator]
enabled = true
[[clients]]
client_id = "portal"
client_secret = "$portal_secret"
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid", "profile"]
[[clients]]
client_id = "it"
client_secret = "$it_secret"
grant_types = ["client_credentials"]
scopes = []
TOML
# wrk is one address: no rate limits; the simulator beside Postgres must be allowed. (Builds
# older than these keys refuse them: then they are left out.)
cp "$work/gateway.toml" "$work/plain.toml"
sed -i 's/^enabled = true$/enabled = true\nallow_with_production_backends = true/' "$work/gateway.toml"
printf '[limits]\ntoken = { requests = 0, per = "1m" }\nuserinfo = { requests = 0, per = "1m" }\n' >> "$work/gateway.toml"
"$GATEWAY_BIN" check-config --config "$work/gateway.toml" >/dev/null 2>&1 || cp "$work/plain.toml" "$work/gateway.toml"
[ "${BACKEND:-embedded}" = postgres ] && "$GATEWAY_BIN" migrate --config "$work/gateway.toml" >/dev/null
"$GATEWAY_BIN" serve --config "$work/gateway.toml" > "$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
gw="http://127.0.0.1:$port"
access=$(python3 scripts/login-token.py "$gw" portal "$portal_secret" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
basic=$(printf 'it:%s' "$it_secret" | base64 -w0)

cat > "$work/userinfo.lua" <<LUA
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $access"
LUA
cat > "$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Basic $basic"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=$access"
LUA
# Both must succeed before they are timed.
curl -fsS -H "Authorization: Bearer $access" "$gw/userinfo" >/dev/null
curl -fsS -u "it:$it_secret" -d "token=$access" "$gw/introspect" | grep -q '"active":true'

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "gateway: $("$GATEWAY_BIN" --version), ${BACKEND:-embedded}; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $RUNS runs; $(nproc) cores"
for endpoint in userinfo introspect; do
  rates=()
  for _ in $(seq 1 "$RUNS"); do
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$work/$endpoint.lua" "$gw/$endpoint")
    if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "$endpoint: errors" >&2; exit 1; fi
    rates+=("$(echo "$out" | awk '/Requests\/sec/ {print $2}')")
  done
  printf '%-11s median %8.0f req/s   runs: %s\n' "/$endpoint" \
    "$(printf '%s\n' "${rates[@]}" | median)" "${rates[*]}"
done
