#!/usr/bin/env bash
# Builds the `gateway` binary from this checkout and prints its path on stdout (Cargo's own
# output goes to stderr). The RP suites, the browser tests and the deploy checks run the binary
# this prints, never one a target directory happens to hold from an earlier build.
#
# It builds the way `cargo test --workspace` does (same features, same profile), so right after
# the tests it only asks Cargo and builds nothing; on its own it builds the tests as well, which
# a following `cargo test --workspace` then reuses.
#   scripts/gateway-bin.sh              # prints e.g. /root/.cache/vneid-gateway/target/debug/gateway
set -euo pipefail
cd "$(dirname "$0")/.."
exe=$(cargo test --workspace --no-run --message-format=json-render-diagnostics |
  python3 -c '
import json, sys
found = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target") or {}
    # The bin target is built twice by `cargo test`: as the program, and as its own unit-test
    # harness (profile.test); only the program is wanted.
    if (m.get("reason") == "compiler-artifact" and t.get("name") == "gateway"
            and "bin" in t.get("kind", []) and not (m.get("profile") or {}).get("test")):
        found = m.get("executable") or found
print(found)
')
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
  echo "scripts/gateway-bin.sh: cargo built no gateway binary" >&2
  exit 1
fi
printf '%s\n' "$exe"
