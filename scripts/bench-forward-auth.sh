#!/usr/bin/env bash
# Forward-auth's {prefix}/auth per second with a warm app session, measured with wrk from
# Debian on loopback against the gateway itself (no proxy in between: the figure is the
# gateway's). The release gateway runs the embedded default plus one protected app whose url is
# the gateway's own address; scripts/forward-auth-login.py logs the simulator's level-2 person
# in through the real flow and gives the session cookie. wrk and the gateway share the cores.
# Prints the median of RUNS runs, and the gateway's CPU time per answer.
#   GATEWAY_BIN   the gateway binary (default: a release build of this checkout)
#   RUNS          runs (default 3), DURATION seconds each (default 10)
#   CONNECTIONS   wrk connections (default 64), THREADS wrk threads (default 2)
#   BACKEND       embedded (default: SQLite + in-memory store) or redis (Redis at
#                 VNEID_TEST_REDIS_URL for the sessions; SQLite stays)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
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
gw="http://127.0.0.1:$port"
ephemeral=""
simulator="enabled = true"
if [ "${BACKEND:-embedded}" = redis ]; then
  ephemeral="[ephemeral]
url = \"${VNEID_TEST_REDIS_URL:-redis://127.0.0.1:6379}\"
key_prefix = \"bench-fa-$$:\""
  simulator="enabled = true
allow_with_production_backends = true"
  # Leave nothing in Redis.
  trap 'cleanup; command -v redis-cli >/dev/null && redis-cli -u "${VNEID_TEST_REDIS_URL:-redis://127.0.0.1:6379}" --scan --pattern "bench-fa-$$:*" | xargs -r redis-cli -u "${VNEID_TEST_REDIS_URL:-redis://127.0.0.1:6379}" del >/dev/null' EXIT
fi
head -c 32 /dev/urandom | base64 > "$work/master.key"
cat > "$work/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
[database]
url = "sqlite://$work/gateway.db"
$ephemeral
[keys]
master_key_file = "$work/master.key"
[log]
filter = "warn"
[simulator]
$simulator
[[protected_apps]]
id = "bench"
url = "$gw"
path_prefix = "/.vneid"
min_level = 2
claims = ["name", "account"]
TOML
"$GATEWAY_BIN" serve --config "$work/gateway.toml" > "$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -fsS "$gw/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
cookie=$(python3 scripts/forward-auth-login.py "$gw" /.vneid bench)
# It must succeed before it is timed.
curl -fsS -o /dev/null -H "Cookie: vneid_app_bench=$cookie" "$gw/.vneid/auth"

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tick=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "gateway: $("$GATEWAY_BIN" --version), ${BACKEND:-embedded}; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $RUNS runs; $(nproc) cores"
rates=(); costs=()
for _ in $(seq 1 "$RUNS"); do
  before=$(cpu)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -H "Cookie: vneid_app_bench=$cookie" "$gw/.vneid/auth")
  after=$(cpu)
  if echo "$out" | grep -q "Non-2xx"; then
    echo "$out" >&2; tail -n 20 "$work/gateway.log" >&2; echo "/auth: errors" >&2; exit 1
  fi
  rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  rates+=("$rate")
  costs+=("$(awk -v t="$((after - before))" -v n="$total" -v hz="$tick" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')")
  echo "$out" | grep -E "Latency|Requests/sec" >&2
done
printf '/.vneid/auth median %8.0f answers/s   runs: %s\n' "$(printf '%s\n' "${rates[@]}" | median)" "${rates[*]}"
printf 'gateway CPU per answer: median %s µs   runs: %s\n' "$(printf '%s\n' "${costs[@]}" | median)" "${costs[*]}"
