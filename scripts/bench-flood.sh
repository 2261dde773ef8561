#!/usr/bin/env bash
# A flood of valid /authorize requests against the embedded default with its default limits:
# how many were served (302), limited (429) or refused because the store was full (503) — and
# that none failed (500) — with the gateway's RSS at the peak and one minute after.
#   FLOOD_REQUESTS   requests in all (default 1,000,000)
#   ADDRESSES        1: every request from 127.0.0.1; N > 1: X-Forwarded-For cycles through N
#                    addresses, with 127.0.0.1 as a trusted proxy (default 1)
#   CONNECTIONS      wrk connections (default 64); GATEWAY_BIN (default: release build)
#   AFTER_EXPIRY=1   also wait until the flood's pending logins expired (11 more minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
FLOOD_REQUESTS=${FLOOD_REQUESTS:-1000000}
ADDRESSES=${ADDRESSES:-1}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=2
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
if [ -z "${GATEWAY_BIN:-}" ]; then
  cargo build --release -p vneid-gateway --bin gateway >&2
  GATEWAY_BIN="${CARGO_TARGET_DIR:-$root/target}/release/gateway"
fi
work=$(mktemp -d)
pid=
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trusted=""
[ "$ADDRESSES" -gt 1 ] && trusted='trusted_proxies = ["127.0.0.1/32"]'
cat > "$work/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
$trusted
[database]
url = "sqlite://$work/gateway.db"
[log]
filter = "error"
[simulator]
enabled = true
[[clients]]
client_id = "portal"
client_secret = "flood-portal-secret-0123456789-abcdefghij"
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid"]
TOML
"$GATEWAY_BIN" serve --config "$work/gateway.toml" > "$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
echo "gateway $("$GATEWAY_BIN" --version); $FLOOD_REQUESTS requests from $ADDRESSES address(es); RSS at rest $(rss) MB"

(peak=0; while kill -0 "$pid" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" > "$work/peak"; sleep 0.5; done) &
sampler=$!

cat > "$work/flood.lua" <<LUA
local addresses = $ADDRESSES
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  sent, done = 0, 0
  codes = {}
  path = "/authorize?response_type=code&client_id=portal&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&state=s&nonce=n"
end
function request()
  sent = sent + 1
  local headers = {}
  if addresses > 1 then
    local n = (sent * $THREADS + id) % addresses
    headers["X-Forwarded-For"] = "10." .. math.floor(n / 256 / 256) % 256 .. "." .. math.floor(n / 256) % 256 .. "." .. n % 256
  end
  return wrk.format("GET", path, headers)
end
function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("status %d: %d\n", k, v)) end
end
LUA
# wrk runs for a duration, not a count: stop it (SIGINT: it still reports) once the gateway has
# answered FLOOD_REQUESTS /authorize requests, counted from its own metrics.
answered() {
  curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^vneid_http_request_duration_seconds_count\{.*route="\/authorize"/ {n += $2} END {print n + 0}'
}
started=$(date +%s)
wrk -t"$THREADS" -c"$CONNECTIONS" -d3600s -s "$work/flood.lua" "http://127.0.0.1:$port" > "$work/wrk.out" 2>&1 &
wrk_pid=$!
while [ "$(answered)" -lt "$FLOOD_REQUESTS" ] && kill -0 "$wrk_pid" 2>/dev/null; do sleep 1; done
kill -INT "$wrk_pid" 2>/dev/null
wait "$wrk_pid" || true
took=$(( $(date +%s) - started ))
grep -E '^status|Requests/sec|Socket errors' "$work/wrk.out" | sort
echo "the gateway's own count, by status:"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^vneid_http_request_duration_seconds_count\{.*route="/authorize"' |
  sed -E 's/.*status="([0-9]+)"\} (.*)/  \1: \2/'
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^vneid_(rate_limited_total\{limit="authorize"|ephemeral_full_total|ephemeral_entries)'

echo "took ${took}s; RSS peak $(cat "$work/peak") MB, at the end $(rss) MB"
ready=$(curl -s "http://127.0.0.1:$port/readyz")
echo "readyz: $ready"
sleep 60
echo "RSS one minute after: $(rss) MB"
if [ -n "${AFTER_EXPIRY:-}" ]; then
  # Pending logins live tokens.login_ttl (10 min): once they expire the store is purged within
  # seconds and the memory given back.
  sleep 600
  echo "RSS eleven minutes after (the flood's logins expired): $(rss) MB"
  curl -s "http://127.0.0.1:$port/metrics" | grep -E '^vneid_ephemeral_(entries|full_total)'
fi
