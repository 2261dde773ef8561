#!/usr/bin/env bash
# What DPoP (RFC 9449) costs: /token (client_credentials) and /userinfo per second with and
# without DPoP proofs, with the server nonce required (the default) and not, on the embedded
# default. The load generator (`loadgen --dpop`) signs a fresh ES256 proof per request with one
# key, as a portal backend would, and keeps the nonce the gateway hands out; every proof costs
# the gateway an ES256 verification, a keyed hash for the nonce and a replay-cache write. The
# gateway and the generator share this machine's cores. Prints a markdown table of medians.
#   GATEWAY_BIN, LOADGEN_BIN  the binaries (default: a release build of this checkout)
#   RUNS     runs per row (default 3), DURATION seconds each (default 10), USERS (default 16)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
USERS=${USERS:-16}
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
if [ -z "${GATEWAY_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  cargo build --release -p vneid-gateway --bin gateway -p vneid-e2e --bin loadgen >&2
fi
GATEWAY_BIN=${GATEWAY_BIN:-$target/gateway}
LOADGEN_BIN=${LOADGEN_BIN:-$target/loadgen}

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/results"
portal_secret=bench-portal-secret-0123456789-abcdefghij
machine_secret=bench-machine-secret-0123456789-abcdefgh
head -c 32 /dev/urandom | base64 > "$work/master.key"

# start REQUIRE_NONCE: a fresh gateway on a fresh database.
start() {
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -f "$work"/gateway.db*
  cat > "$work/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
[database]
url = "sqlite://$work/gateway.db"
[keys]
master_key_file = "$work/master.key"
[log]
filter = "warn"
[simulator]
enabled = true
[limits]
token = { requests = 0, per = "1m" }
userinfo = { requests = 0, per = "1m" }
# Every proof's jti is remembered for proof_max_age (60 s): at ~5,000 proofs/s that is ~300,000
# entries, beyond the in-memory store's default 200,000 (then 503, fail closed). Sized up here;
# README "DPoP" says how to size it.
[ephemeral]
max_entries = 1000000
[dpop]
require_nonce = $1
[[clients]]
client_id = "portal"
client_secret = "$portal_secret"
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid", "profile"]
[[clients]]
client_id = "machine"
client_secret = "$machine_secret"
grant_types = ["client_credentials"]
scopes = []
TOML
  "$GATEWAY_BIN" serve --config "$work/gateway.toml" > "$work/gateway.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}

# row NAME MODE [--dpop]: RUNS runs of loadgen, one JSON file each.
row() {
  local name=$1 mode=$2; shift 2
  for i in $(seq 1 "$RUNS"); do
    "$LOADGEN_BIN" --gateway "http://127.0.0.1:$port" --mode "$mode" --users "$USERS" \
      --duration "$DURATION" --warmup 2 --pid "$pid" --client "portal:$portal_secret" \
      --machine "machine:$machine_secret" --json "$@" > "$work/results/$name.$i.json"
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print("  %s run %s: %s ops/s, %s errors" % (sys.argv[2], sys.argv[3], r["ops_per_s"], r["errors"]), file=sys.stderr)' \
      "$work/results/$name.$i.json" "$name" "$i"
  done
}

echo "gateway: $("$GATEWAY_BIN" --version); $USERS users, ${DURATION}s, $RUNS runs; $(nproc) cores" >&2
start true
row "token-bearer" client-credentials
row "token-dpop-nonce" client-credentials --dpop
row "userinfo-bearer" userinfo
row "userinfo-dpop-nonce" userinfo --dpop
start false
row "token-dpop-no-nonce" client-credentials --dpop
row "userinfo-dpop-no-nonce" userinfo --dpop

python3 - "$work" <<'PY'
import glob, json, os, statistics, sys
rows = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "results", "*.json"))):
    rows.setdefault(os.path.basename(path).rsplit(".", 2)[0], []).append(json.load(open(path)))
def med(rs, f):
    v = [f(r) for r in rs if f(r) is not None]
    return statistics.median(v) if v else float("nan")
print("| row | ops/s | p50 ms | p99 ms | gateway CPU ms/op | errors |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["token-bearer", "token-dpop-nonce", "token-dpop-no-nonce",
             "userinfo-bearer", "userinfo-dpop-nonce", "userinfo-dpop-no-nonce"]:
    rs = rows.get(name, [])
    print(f"| {name} | {med(rs, lambda r: r['ops_per_s']):.0f} | {med(rs, lambda r: r['p50_ms']):.2f} "
          f"| {med(rs, lambda r: r['p99_ms']):.2f} | {med(rs, lambda r: (r['cpu'] or {}).get('cpu_ms_per_op')):.3f} "
          f"| {sum(r['errors'] for r in rs)} |")
PY
