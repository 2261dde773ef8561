#!/usr/bin/env bash
# Bounded fuzzing of the HTTP surface described by openapi.yaml (the admin API, the directory
# and reports, health, readiness, metrics, the console's pages) with schemathesis from PyPI:
# generated valid and invalid requests, with an admin token, checked for server errors (any 5xx).
# Afterwards the gateway's log must hold no panic. Bounded in time for CI:
#   FUZZ_MAX_TIME    seconds for the whole run (default 120)
#   FUZZ_EXAMPLES    test cases per operation and phase (default 40)
#   FUZZ_SEED        fixed seed for a reproducible run (default: random, printed)
#   GATEWAY_BIN      the gateway binary (default: built from this checkout by scripts/gateway-bin.sh)
# The property tests of every parser of untrusted input (query/form, JWT headers, client
# assertions, X-Forwarded-For, CSV) run with `cargo test`; this covers the HTTP layer on top.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
root=$(cd ../.. && pwd)

log() { printf '\n==> %s\n' "$*"; }

max_time=${FUZZ_MAX_TIME:-120}
examples=${FUZZ_EXAMPLES:-40}
seed=${FUZZ_SEED:-$RANDOM$RANDOM}
bin=${GATEWAY_BIN:-$("$root/scripts/gateway-bin.sh")}

venv="${TMPDIR:-/tmp}/vneid-fuzz-venv"
log "python venv ($venv) with schemathesis and openapi-spec-validator"
if ! "$venv/bin/python" -c 'import schemathesis, openapi_spec_validator' >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"

# The document itself first: valid OpenAPI 3.1 (openapi-spec-validator from PyPI).
log "openapi.yaml against the OpenAPI 3.1 schema (openapi-spec-validator)"
"$venv/bin/openapi-spec-validator" "$root/openapi.yaml"

work=$(mktemp -d "${TMPDIR:-/tmp}/vneid-fuzz-XXXXXX")
gateway_pid=
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
secret=fuzz-secret-0123456789-abcdefghijklmnopq
cat > "$work/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
[database]
url = "sqlite://$work/gateway.db"
[log]
format = "json"
filter = "info"
[simulator]
enabled = true
# The fuzzer is one address sending thousands of requests: no rate limits here.
[limits]
authorize = { requests = 0, per = "1m" }
token = { requests = 0, per = "1m" }
userinfo = { requests = 0, per = "1m" }
client_auth_failures = { requests = 0, per = "1m" }
[admin]
console_users = ["cuonglv"]
[[clients]]
client_id = "fuzz"
client_secret = "$secret"
grant_types = ["client_credentials"]
scopes = ["admin", "admin:pii"]
TOML

log "gateway $("$bin" --version) on 127.0.0.1:$port"
"$bin" serve --config "$work/gateway.toml" > "$work/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$gateway_pid" 2>/dev/null || { cat "$work/gateway.log"; exit 1; }
  sleep 0.1
done
token=$(curl -fsS -u "fuzz:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

log "schemathesis: every operation of openapi.yaml, at most ${max_time}s, $examples examples, seed $seed"
status=0
"$venv/bin/st" run "$root/openapi.yaml" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error \
  --max-examples "$examples" \
  --max-time "$max_time" \
  --seed "$seed" \
  --workers 2 \
  --generation-database none \
  --request-timeout 30 \
  --no-color || status=$?

log "the gateway's log: no panic"
if grep -n 'panicked' "$work/gateway.log"; then
  echo "the gateway panicked" >&2
  status=1
fi
kill -0 "$gateway_pid" 2>/dev/null || { echo "the gateway died" >&2; status=1; }
if [ "$status" = 0 ]; then
  log "fuzzing found nothing: no 5xx, no panic"
else
  log "fuzzing FAILED (seed $seed: FUZZ_SEED=$seed $0 reproduces it)"
fi
exit "$status"
