#!/usr/bin/env bash
# Validates deploy/ and docker-compose.yml; exits non-zero on any problem. Run from anywhere:
#
#   bash deploy/check/check.sh                 # all checks + the self-test (broken copies must fail)
#   bash deploy/check/check.sh --no-self-test  # faster, the checks only
#
# What it checks is listed at the top of check_deploy.py. Tools, installed on first use and kept
# under ${TMPDIR:-/tmp}/vneid-deploy-check (later runs take ~10-20 s):
#   - a Python venv with the pinned packages of requirements.txt (kubernetes-validate bundles the
#     Kubernetes JSON schemas; K8S_VERSION below picks one);
#   - promtool: $PROMTOOL, or promtool on PATH, or extracted from Debian's `prometheus` package
#     (`apt-get download` + `dpkg-deb`: 19 MB, ~3 s, one static binary; installing the package
#     itself would pull 12 packages / 330 MB and start a Prometheus server);
#   - a compose implementation: `docker compose` if the plugin exists, else `docker-compose`,
#     else Debian's `docker-compose` package is installed (~1 MB, ~15 s; it validates against
#     the compose-spec schema without a Docker daemon);
#   - the gateway binary ($GATEWAY_BIN, or built from this checkout by scripts/gateway-bin.sh
#     when cargo is here), for `gateway check-config` on both configurations; skipped otherwise.
# A check whose tool cannot be had is reported as SKIP; with CI=true (or --strict) a SKIP of
# promtool or compose fails the run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/deploy/check"
K8S_VERSION=${K8S_VERSION:-1.31.0}
CACHE=${VNEID_DEPLOY_CHECK_CACHE:-${TMPDIR:-/tmp}/vneid-deploy-check}
started=$(date +%s)

self_test=1
strict=0
[ "${CI:-}" = "true" ] && strict=1
for arg in "$@"; do
  case "$arg" in
    --no-self-test) self_test=0 ;;
    --strict) strict=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
mkdir -p "$CACHE"

# --- Python venv with pinned packages --------------------------------------------------------
PYTHON=${PYTHON:-python3}
req_hash=$( (cat "$HERE/requirements.txt"; "$PYTHON" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
VENV="$CACHE/venv-$req_hash"
if [ ! -f "$VENV/.complete" ]; then
  say "creating the venv $VENV (requirements.txt)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$HERE/requirements.txt"
  touch "$VENV/.complete"
fi
say "venv: $("$VENV/bin/python" -c 'import sys, importlib.metadata as m; print("Python", sys.version.split()[0] + ",", ", ".join(p + " " + m.version(p) for p in ("kubernetes-validate", "PyYAML", "jsonschema")))')"

apt_updated=0
apt_ok() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    apt_updated=1
  fi
}

# --- promtool ---------------------------------------------------------------------------------
promtool=${PROMTOOL:-}
if [ -z "$promtool" ] && command -v promtool >/dev/null 2>&1; then promtool=$(command -v promtool); fi
if [ -z "$promtool" ] && [ -x "$CACHE/prometheus-deb/usr/bin/promtool" ]; then
  promtool="$CACHE/prometheus-deb/usr/bin/promtool"
fi
if [ -z "$promtool" ] && command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
  say "extracting promtool from Debian's prometheus package"
  dl=$(mktemp -d "$CACHE/dl.XXXXXX")
  chmod 0777 "$dl"   # apt's download user (_apt) writes here
  if ! (cd "$dl" && apt-get download prometheus >/dev/null 2>&1); then
    apt_ok && apt_update_once
    (cd "$dl" && apt-get download prometheus >/dev/null 2>&1) || true
  fi
  deb=""
  for f in "$dl"/prometheus_*.deb; do [ -f "$f" ] && deb=$f; done
  if [ -n "$deb" ]; then
    mkdir -p "$CACHE/prometheus-deb"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$CACHE/prometheus-deb" ./usr/bin/promtool
    promtool="$CACHE/prometheus-deb/usr/bin/promtool"
  fi
  rm -rf "$dl"
fi
if [ -n "$promtool" ]; then
  say "promtool: $promtool ($("$promtool" --version 2>&1 | head -n 1))"
else
  say "promtool: not available"
fi

# --- compose ------------------------------------------------------------------------------------
compose=""
if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
elif command -v docker-compose >/dev/null 2>&1; then
  compose="docker-compose"
elif apt_ok; then
  say "installing Debian's docker-compose (no compose plugin here)"
  apt_update_once
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1; then
    compose="docker-compose"
  fi
fi
if [ -n "$compose" ]; then
  say "compose: $compose"
else
  say "compose: not available"
fi

# --- gateway binary (optional) --------------------------------------------------------------
# GATEWAY_BIN, or the binary built from this checkout (never one a target directory happens to
# hold from an earlier build of other sources).
gateway_bin=${GATEWAY_BIN:-}
if [ -z "$gateway_bin" ] && command -v cargo >/dev/null 2>&1; then
  say "building the gateway from this checkout (scripts/gateway-bin.sh)"
  gateway_bin=$("$ROOT/scripts/gateway-bin.sh") || gateway_bin=""
fi
say "gateway binary: ${gateway_bin:-none (gateway check-config skipped; set GATEWAY_BIN)}"

# --- the checks -----------------------------------------------------------------------------
args=(--root "$ROOT" --k8s-version "$K8S_VERSION")
[ -n "$promtool" ] && args+=(--promtool "$promtool")
[ -n "$compose" ] && args+=(--compose "$compose")
[ -n "$gateway_bin" ] && args+=(--gateway-bin "$gateway_bin")
[ "$self_test" = 1 ] && args+=(--self-test)

status=0
"$VENV/bin/python" "$HERE/check_deploy.py" "${args[@]}" || status=$?

if [ "$strict" = 1 ] && { [ -z "$promtool" ] || [ -z "$compose" ]; }; then
  echo "check.sh: strict (CI): promtool and a compose implementation are required" >&2
  status=1
fi
say "deploy check finished in $(( $(date +%s) - started )) s: $([ "$status" = 0 ] && echo OK || echo FAILED)"
exit "$status"
