#!/usr/bin/env bash
# Relying-party compatibility tests: the gateway driven by openid-client (node/) and Authlib
# (python/). Installs both from their registries (npm ci, pip into a venv), then runs both
# suites; each suite starts its own gateway: GATEWAY_BIN, or the binary scripts/gateway-bin.sh
# builds from this checkout.
# Exits non-zero when either suite fails.
set -uo pipefail
cd "$(dirname "$0")"
here=$PWD

log() { printf '\n==> %s\n' "$*"; }

venv="${TMPDIR:-/tmp}/vneid-rp-venv"
if [ -n "${GATEWAY_BIN:-}" ]; then
  bin=$GATEWAY_BIN
else
  log "building the gateway from this checkout"
  bin=$("$here/../../scripts/gateway-bin.sh") || exit 1
fi
if [ ! -x "$bin" ]; then
  echo "GATEWAY_BIN=$bin is not an executable" >&2
  exit 1
fi
export GATEWAY_BIN="$bin"
export PYTHONDONTWRITEBYTECODE=1

log "python venv ($venv) and requirements"
if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv" || exit 1
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r python/requirements.txt || exit 1

log "node packages (npm ci)"
(cd node && npm ci --no-audit --no-fund --loglevel=error) || exit 1

log "versions"
echo "gateway:       $GATEWAY_BIN"
echo "node:          $(node --version)"
echo "openid-client: $(node -p "require('./node/node_modules/openid-client/package.json').version")" \
  "(oauth4webapi $(node -p "require('./node/node_modules/oauth4webapi/package.json').version")," \
  "jose $(node -p "require('./node/node_modules/jose/package.json').version"))"
echo "python:        $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
"$venv/bin/python" - <<'EOF'
from importlib.metadata import version
print(f"Authlib:       {version('authlib')} (joserfc {version('joserfc')}, requests {version('requests')})")
print(f"pytest:        {version('pytest')}")
EOF

status=0
log "openid-client suite (node --test)"
(cd node && node --test) || status=1

log "Authlib suite (pytest)"
(cd python && "$venv/bin/python" -m pytest) || status=1

if [ "$status" = 0 ]; then
  log "relying-party tests passed"
else
  log "relying-party tests FAILED"
fi
exit "$status"
