#!/usr/bin/env bash
# Instructions per request of an HTTP server example, counted by callgrind over the whole
# server process while wrk loads it (repeatable on a noisy machine, unlike requests/s).
# The server runs twice under callgrind, loaded for SHORT and for LONG seconds; per request =
# (Ir(long) - Ir(short)) / (requests(long) - requests(short)), so start-up and shutdown cancel.
#
# Usage: benches/server_instructions.sh BINARY [SERVER ARGS...]
#   cargo build --release --features hyper,tokio-io --example hyper_server --example hyper_tokio
#   benches/server_instructions.sh target/release/examples/hyper_server
#   benches/server_instructions.sh target/release/examples/hyper_tokio --runtime current
#   CONNECTIONS=100 SHORT=4 LONG=8 benches/server_instructions.sh target/release/examples/http_per_core
# The server must accept `--port 0 --threads 1 --duration-secs S` and print
# "listening on ADDR" first. Needs valgrind and wrk.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,13p "$0"; exit 2; }
for tool in valgrind wrk callgrind_annotate; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
bin=$1
shift
extra=("$@")
CONNECTIONS=${CONNECTIONS:-50}
SHORT=${SHORT:-4}
LONG=${LONG:-8}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run SECONDS: prints "REQUESTS INSTRUCTIONS" for one callgrind run loaded for SECONDS.
run() {
  local secs=$1 out="$TMP/out.$1" cg="$TMP/cg.$1"
  # The server stops by itself well after wrk (valgrind makes start-up slow).
  OP_COST_NO_SLOW_POLL=1 valgrind --tool=callgrind --callgrind-out-file="$cg" "$bin" \
    --port 0 --threads 1 --duration-secs $((secs + 12)) "${extra[@]}" >"$out" 2>/dev/null &
  local pid=$!
  for _ in $(seq 300); do
    grep -q '^listening on ' "$out" 2>/dev/null && break
    sleep 0.1
  done
  local addr requests
  addr=$(awk 'NR == 1 { print $3 }' "$out")
  [ -n "$addr" ] || { echo "the server did not start" >&2; kill "$pid"; exit 1; }
  requests=$(wrk -t1 -c"$CONNECTIONS" -d"${secs}s" "http://$addr/" | awk '/ requests in / { print $1 }')
  wait "$pid"
  echo "$requests $(callgrind_annotate "$cg" 2>/dev/null |
    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')"
}

read -r r1 i1 < <(run "$SHORT")
read -r r2 i2 < <(run "$LONG")
echo "$(basename "$bin") ${extra[*]}: $r1 and $r2 requests," \
  "$(( (i2 - i1) / (r2 - r1) )) instructions per request"
