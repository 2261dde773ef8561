#!/usr/bin/env bash
# Load benchmark of the gateway with `loadgen` (tests/src/bin/loadgen.rs) on 127.0.0.1: the
# gateway, the simulator (a separate `gateway simulator` process, the upstream) and the load
# generator share this machine's cores. Prints one markdown table of medians at the end.
#
#   scripts/bench.sh                          # everything, RUNS=3, DURATION=10
#   RUNS=1 DURATION=5 BACKENDS=embedded scripts/bench.sh
#
#   RUNS          runs per row (default 3); every figure in the table is the median over them
#   DURATION      measured seconds per run (default 10); WARMUP seconds before it (default 2)
#   USERS         concurrent virtual users (default 16)
#   BACKENDS      comma list of embedded (SQLite + in-memory store, RS256; plus an ES256
#                 client-credentials row, start-up time and memory) and postgres (two replicas
#                 on one fresh Postgres database and one Redis prefix; CPU summed over both)
#                 (default embedded,postgres)
#   PG_MODES      modes run on postgres (default: all five)
#   GATEWAY_BIN, LOADGEN_BIN   binaries (default: release builds of this checkout)
#   VNEID_TEST_POSTGRES_URL    admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   VNEID_TEST_REDIS_URL       Redis (default redis://127.0.0.1:6379)
# Rate limits are switched off (all the load comes from one address). The openssl line is
# `openssl speed -seconds 5 -multi 2 rsa2048`, run right after the RS256 client-credentials
# runs: each client-credentials token is one RS256 signature.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
USERS=${USERS:-16}
BACKENDS=${BACKENDS:-embedded,postgres}
PG_MODES=${PG_MODES:-login client-credentials introspect userinfo refresh}
MODES="login client-credentials introspect userinfo refresh"
target="${CARGO_TARGET_DIR:-$root/target}/release"
if [ -z "${GATEWAY_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  cargo build --release -p vneid-gateway --bin gateway -p vneid-e2e --bin loadgen >&2
fi
GATEWAY_BIN=${GATEWAY_BIN:-$target/gateway}
LOADGEN_BIN=${LOADGEN_BIN:-$target/loadgen}

work=$(mktemp -d)
mkdir -p "$work/results"
started_pids=()
db_name=
redis_prefix=
admin=${VNEID_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis=${VNEID_TEST_REDIS_URL:-redis://127.0.0.1:6379}
cleanup() {
  for p in "${started_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$db_name" ]; then
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$redis_prefix" ] && command -v redis-cli >/dev/null; then
    redis-cli -u "$redis" --scan --pattern "$redis_prefix*" | xargs -r redis-cli -u "$redis" del >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
# Waits until $1 answers 200 (up to 60 s).
wait_200() {
  for _ in $(seq 1 3000); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.02
  done
  echo "bench.sh: $1 never answered" >&2
  return 1
}
# Stops one process started here.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
rss_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

portal_secret=bench-portal-secret-0123456789-abcdefghij
machine_secret=bench-machine-secret-0123456789-abcdefgh
sim_secret=bench-simulator-secret-0123456789-abcdef
gw_port=$(free_port)
gw_b_port=$(free_port)
sim_port=$(free_port)
issuer="http://127.0.0.1:$gw_port"
sim="http://127.0.0.1:$sim_port"

# The upstream: the simulator alone, its one client returning to the gateway's callback.
"$GATEWAY_BIN" simulator --bind "127.0.0.1:$sim_port" \
  --client "gw:$sim_secret:$issuer/login/national/callback" > "$work/simulator.log" 2>&1 &
started_pids+=($!)
wait_200 "$sim/.well-known/openid-configuration"

# write_config FILE PORT ALG DATA_SECTIONS
write_config() {
  cat > "$1" <<TOML
[server]
bind = "127.0.0.1:$2"
public_url = "$issuer"
$4
[keys]
master_key_file = "$work/master.key"
[log]
filter = "warn"
[tokens]
signing_alg = "$3"
[limits]
authorize = { requests = 0, per = "1m" }
token = { requests = 0, per = "1m" }
userinfo = { requests = 0, per = "1m" }
[[clients]]
client_id = "portal"
client_secret = "$portal_secret"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile"]
[[clients]]
client_id = "machine"
client_secret = "$machine_secret"
grant_types = ["client_credentials"]
scopes = []
[[upstreams]]
id = "national"
issuer = "$sim"
client_id = "gw"
client_secret = "$sim_secret"
TOML
}
head -c 32 /dev/urandom | base64 > "$work/master.key"

# start_gateway CONFIG NAME: starts `gateway serve`, sets $gw_pid (not waiting for it).
start_gateway() {
  "$GATEWAY_BIN" serve --config "$1" >> "$work/$2.log" 2>&1 &
  gw_pid=$!
  started_pids+=("$gw_pid")
}

# load ROW MODE PIDS GATEWAY...: RUNS runs of loadgen, one JSON file each.
load() {
  local row=$1 mode=$2 pids=$3
  shift 3
  local args=(--mode "$mode" --users "$USERS" --duration "$DURATION" --warmup "$WARMUP"
    --client "portal:$portal_secret" --machine "machine:$machine_secret" --json)
  for g in "$@"; do args+=(--gateway "$g"); done
  for p in $pids; do args+=(--pid "$p"); done
  for i in $(seq 1 "$RUNS"); do
    "$LOADGEN_BIN" "${args[@]}" > "$work/results/$row.$i.json"
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print("  %s run %s: %s ops/s, %s errors %s" % (sys.argv[2], sys.argv[3], r["ops_per_s"], r["errors"], r["error_messages"][:1]), file=sys.stderr)' \
      "$work/results/$row.$i.json" "$row" "$i"
  done
}

openssl_line=
echo "gateway: $("$GATEWAY_BIN" --version); $(nproc) cores; USERS=$USERS RUNS=$RUNS DURATION=${DURATION}s WARMUP=${WARMUP}s" > "$work/header"
cat "$work/header" >&2

if [[ ",$BACKENDS," == *,embedded,* ]]; then
  echo "== embedded (SQLite + memory), RS256" >&2
  mkdir -p "$work/embedded"
  write_config "$work/embedded.toml" "$gw_port" RS256 "[database]
url = \"sqlite://$work/embedded/gateway.db\""
  start_gateway "$work/embedded.toml" embedded
  wait_200 "$issuer/readyz"
  sleep 1
  echo "rss_idle_kib $(rss_kib "$gw_pid" VmRSS)" >> "$work/extra"
  for mode in $MODES; do
    load "embedded-RS256 $mode" "$mode" "$gw_pid" "$issuer"
    if [ "$mode" = client-credentials ]; then
      echo "  openssl speed -seconds 5 -multi 2 rsa2048 ..." >&2
      openssl speed -seconds 5 -multi 2 rsa2048 > "$work/openssl.txt" 2>/dev/null
    fi
  done
  echo "rss_peak_kib $(rss_kib "$gw_pid" VmHWM)" >> "$work/extra"
  stop "$gw_pid"
  # Start-up to ready on the existing database: spawn until /readyz answers 200.
  for _ in 1 2 3; do
    t0=$(now_ms)
    start_gateway "$work/embedded.toml" embedded
    wait_200 "$issuer/readyz"
    echo "startup_ms $(( $(now_ms) - t0 ))" >> "$work/extra"
    stop "$gw_pid"
  done

  # ES256: a fresh data directory (the first signing key is made with the configured alg).
  echo "== embedded, ES256" >&2
  mkdir -p "$work/es256"
  write_config "$work/es256.toml" "$gw_port" ES256 "[database]
url = \"sqlite://$work/es256/gateway.db\""
  start_gateway "$work/es256.toml" es256
  wait_200 "$issuer/readyz"
  load "embedded-ES256 client-credentials" client-credentials "$gw_pid" "$issuer"
  stop "$gw_pid"
fi

if [[ ",$BACKENDS," == *,postgres,* ]]; then
  echo "== postgres + redis, 2 replicas, RS256" >&2
  db_name="vneid_bench_$$"
  redis_prefix="bench-$$-$(date +%s):"
  psql "$admin" -qc "CREATE DATABASE $db_name" >/dev/null
  data="[database]
url = \"${admin%/*}/$db_name\"
[ephemeral]
url = \"$redis\"
key_prefix = \"$redis_prefix\""
  write_config "$work/pg-a.toml" "$gw_port" RS256 "$data"
  write_config "$work/pg-b.toml" "$gw_b_port" RS256 "$data"
  "$GATEWAY_BIN" migrate --config "$work/pg-a.toml" > "$work/migrate.log" 2>&1
  start_gateway "$work/pg-a.toml" pg-a
  pid_a=$gw_pid
  wait_200 "$issuer/readyz"
  start_gateway "$work/pg-b.toml" pg-b
  pid_b=$gw_pid
  wait_200 "http://127.0.0.1:$gw_b_port/readyz"
  for mode in $PG_MODES; do
    load "postgres-2-replicas $mode" "$mode" "$pid_a $pid_b" "$issuer" "http://127.0.0.1:$gw_b_port"
  done
  echo "rss_peak_pg_kib $(( $(rss_kib "$pid_a" VmHWM) + $(rss_kib "$pid_b" VmHWM) ))" >> "$work/extra"
  stop "$pid_a"
  stop "$pid_b"
fi

echo >&2
cat "$work/header"
python3 - "$work" <<'PY'
import glob, json, os, re, statistics, sys
work = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(work, "results", "*.json"))):
    row = os.path.basename(path).rsplit(".", 2)[0]
    rows.setdefault(row, []).append(json.load(open(path)))
order = ["embedded-RS256", "embedded-ES256", "postgres-2-replicas"]
modes = ["login", "client-credentials", "introspect", "userinfo", "refresh"]
def key(row):
    backend, mode = row.split(" ", 1)
    return (order.index(backend) if backend in order else 9, modes.index(mode) if mode in modes else 9)
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
def fmt(v, places):
    return "-" if v is None else f"{v:.{places}f}"
print()
print("| mode | backend | ops/s | p50 ms | p99 ms | max ms | errors | gateway CPU ms/op |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
figures = {}
for row in sorted(rows, key=key):
    runs = rows[row]
    backend, mode = row.split(" ", 1)
    cpu = med([(r.get("cpu") or {}).get("cpu_ms_per_op") for r in runs])
    ops = med([r["ops_per_s"] for r in runs])
    figures[row] = ops
    errors = sum(r["errors"] for r in runs)
    print(f"| {mode} | {backend} | {fmt(ops, 0)} | {fmt(med([r['p50_ms'] for r in runs]), 2)} | "
          f"{fmt(med([r['p99_ms'] for r in runs]), 2)} | {fmt(med([r['max_ms'] for r in runs]), 2)} | "
          f"{errors} | {fmt(cpu, 3)} |")
print()
extra = {}
extra_path = os.path.join(work, "extra")
if os.path.exists(extra_path):
    for line in open(extra_path):
        k, v = line.split()
        extra.setdefault(k, []).append(int(v))
ossl = os.path.join(work, "openssl.txt")
if os.path.exists(ossl):
    text = open(ossl).read().splitlines()
    header = next((l.split() for l in text if "sign/s" in l), None)
    data = next((l for l in text if re.match(r"^rsa\s+2048 bits", l)), None)
    if header and data:
        values = data.split("bits", 1)[1].split()
        sign = float(values[header.index("sign/s")])
        cc = figures.get("embedded-RS256 client-credentials")
        share = f"; RS256 client-credentials = {100 * cc / sign:.1f}% of it" if cc else ""
        print(f"openssl speed -seconds 5 -multi 2 rsa2048: {sign:.0f} sign/s{share}")
    else:
        print("openssl speed: output not understood")
if "startup_ms" in extra:
    print(f"start-up to /readyz 200 on an existing SQLite database: {statistics.median(extra['startup_ms'])} ms (median of {len(extra['startup_ms'])}: {extra['startup_ms']})")
if "rss_idle_kib" in extra:
    print(f"embedded RSS idle after start: {extra['rss_idle_kib'][0] / 1024:.1f} MiB; peak (VmHWM) after the embedded runs: {extra['rss_peak_kib'][0] / 1024:.1f} MiB")
if "rss_peak_pg_kib" in extra:
    print(f"postgres replicas peak RSS (VmHWM, both summed): {extra['rss_peak_pg_kib'][0] / 1024:.1f} MiB")
PY
