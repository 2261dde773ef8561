#!/usr/bin/env bash
# Benchmark: `gateway directory import` of a 100,000-row spreadsheet export, on the embedded
# default (SQLite under ./data) and on PostgreSQL. Prints, for each backend, the seconds of a
# first import into an empty directory and of a re-import of the same file (nothing changes),
# the median over RUNS runs, and rows/s. A benchmark, not a test: it never fails on time.
#
#   scripts/bench-directory-import.sh                 # ROWS=100000 RUNS=3, dev build
#   PROFILE=release scripts/bench-directory-import.sh # an optimised build
#   VNEID_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres (the default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000}
RUNS=${RUNS:-3}
PROFILE=${PROFILE:-dev}
PG_URL=${VNEID_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/vneid-gateway/target}

if [ "$PROFILE" = release ]; then
    cargo build --quiet --release -p vneid-gateway
    BIN="$CARGO_TARGET_DIR/release/gateway"
else
    cargo build --quiet -p vneid-gateway
    BIN="$CARGO_TARGET_DIR/debug/gateway"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CSV="$WORK/directory.csv"
python3 scripts/gen-directory.py "$ROWS" "$CSV"
echo "file: $ROWS rows, $(( $(stat -c %s "$CSV") / 1024 )) KiB; build: $PROFILE; runs: $RUNS"

seconds() { # seconds of "$@", with the output kept in $WORK/last.log
    local start end
    start=$(date +%s.%N)
    "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; return 1; }
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_backend() { # name, then a function that prepares a fresh directory and prints its args
    local name=$1 prepare=$2 first=() again=()
    for i in $(seq "$RUNS"); do
        local args
        args=$($prepare "$i")
        # shellcheck disable=SC2086
        first+=("$(cd "$WORK/run" && seconds "$BIN" directory import "$CSV" --allow-partial $args)")
        # shellcheck disable=SC2086
        again+=("$(cd "$WORK/run" && seconds "$BIN" directory import "$CSV" --allow-partial $args)")
    done
    local f a
    f=$(printf '%s\n' "${first[@]}" | median)
    a=$(printf '%s\n' "${again[@]}" | median)
    printf '%-9s first import %6.2f s (%6.0f rows/s)   re-import %6.2f s (%6.0f rows/s)   runs: %s | %s\n' \
        "$name" "$f" "$(echo "$ROWS / $f" | bc -l)" "$a" "$(echo "$ROWS / $a" | bc -l)" \
        "${first[*]}" "${again[*]}"
}

prepare_embedded() {
    rm -rf "$WORK/run" && mkdir -p "$WORK/run"
    (cd "$WORK/run" && "$BIN" migrate >/dev/null 2>&1)
    echo ""
}

prepare_postgres() {
    local db="vneid_bench_directory_$$_$1"
    rm -rf "$WORK/run" && mkdir -p "$WORK/run"
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
    local base=${PG_URL%/*}
    head -c 32 /dev/urandom | base64 >"$WORK/run/master.key"
    chmod 600 "$WORK/run/master.key"
    cat >"$WORK/run/gateway.toml" <<TOML
[server]
public_url = "http://127.0.0.1:8080"
[database]
url = "$base/$db"
[keys]
master_key_file = "$WORK/run/master.key"
[simulator]
enabled = true
TOML
    (cd "$WORK/run" && "$BIN" migrate --config gateway.toml >/dev/null 2>&1)
    echo "--config gateway.toml"
}

run_backend embedded prepare_embedded
if psql "$PG_URL" -qc 'SELECT 1' >/dev/null 2>&1; then
    run_backend postgres prepare_postgres
    psql "$PG_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'vneid_bench_directory_$$_%'" |
        while read -r db; do psql "$PG_URL" -qc "DROP DATABASE $db" >/dev/null; done
else
    echo "postgres  skipped: $PG_URL does not answer"
fi
