#!/usr/bin/env bash
# Forward-auth with a real nginx (the Debian package): the gateway binary, nginx with
# auth_request (nginx.conf.in) and a legacy app that verifies the assertion (backend.py), driven
# by drive.py as browsers would. Python's standard library only; nginx runs as this user from a
# temporary prefix, on 127.0.0.1. Bounded in time.
#   tests/forward-auth/run.sh                 # builds the gateway from this checkout
#   GATEWAY_BIN=… tests/forward-auth/run.sh   # .ci/run passes the binary it built
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "tests/forward-auth: nginx is not installed (apt-get install nginx-light)" >&2
  exit 1
fi
export PATH="$PATH:/usr/sbin"
bin=${GATEWAY_BIN:-}
if [ -z "$bin" ]; then
  bin=$(../../scripts/gateway-bin.sh)
fi
exec timeout --kill-after=10 "${FORWARD_AUTH_TIMEOUT:-240}" python3 drive.py "$bin"
