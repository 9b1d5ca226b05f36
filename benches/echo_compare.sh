#!/usr/bin/env bash
# Loopback TCP echo on one server thread: solo (examples/echo_server.rs) vs tokio
# current_thread + LocalSet and async-executor + async-io (examples/echo_peers.rs), each loaded
# by the same client (examples/echo_client.rs, 64-byte messages, one in flight per
# connection). Prints round trips/s, p50/p99 latency (the client's) and the server process's
# CPU time per round trip (utime + stime from /proc/<pid>/stat over the run).
#
# Usage: benches/echo_compare.sh               (1 and 50 connections, 5 s each, 3 rounds)
#   SECS=10 CONNS="1 10 100" REPEAT=5 benches/echo_compare.sh
# Each round measures every server once, so slow drifts of a shared machine hit all of them;
# the table ends with each server's median over the rounds (compare those, not single rows).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-5}
CONNS=${CONNS:-"1 50"}
REPEAT=${REPEAT:-3}
# PIN=1: the server runs on CPU 0 and the client on CPU 1 (taskset), so they never share a
# core. Only on an otherwise idle machine: a pinned process cannot move away from other load.
PIN=${PIN:-0}
SERVER_CPU=()
CLIENT_CPU=()
if [ "$PIN" = 1 ]; then
  SERVER_CPU=(taskset -c 0)
  CLIENT_CPU=(taskset -c 1)
fi
cargo build --release --example echo_server --example echo_peers --example echo_client >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples
TICK=$(getconf CLK_TCK)
TMP=$(mktemp -d)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$TMP"' EXIT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure LABEL CONNS COMMAND...
measure() {
  local label=$1 conns=$2
  shift 2
  "${SERVER_CPU[@]}" "$@" >"$TMP/out.$label.$conns" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    grep -q '^listening on ' "$TMP/out.$label.$conns" 2>/dev/null && break
    sleep 0.05
  done
  local addr
  addr=$(awk '/^listening on / { print $3; exit }' "$TMP/out.$label.$conns")
  local before after line
  before=$(cpu_ticks "$SERVER_PID")
  line=$("${CLIENT_CPU[@]}" "$BIN/echo_client" "$addr" --conns "$conns" --secs "$SECS")
  after=$(cpu_ticks "$SERVER_PID")
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  echo "$line" | awk -v label="$label" -v conns="$conns" -v ticks=$((after - before)) \
      -v tick="$TICK" '{
    for (i = 1; i <= NF; i++) {
      if ($i == "round" && $(i + 1) == "trips,") trips = $(i - 1)
      if ($i ~ /\/s,$/) rps = $i
      if ($i == "p50") p50 = $(i + 1)
      if ($i == "p99") p99 = $(i + 1)
    }
    sub(/\/s,/, "", rps)
    printf "%-9s %6d %10.0f %9s %9s %12.2f\n", label, conns, rps, p50, p99,
      ticks / tick * 1e6 / trips
  }' | tee -a "$TMP/rows"
}

echo "server pinned to CPU 0, client to CPU 1: $([ "$PIN" = 1 ] && echo yes || echo no)"
printf "%-9s %6s %10s %9s %9s %12s\n" server conns "rt/s" "p50 us" "p99 us" "cpu us/rt"
for c in $CONNS; do
  for _ in $(seq "$REPEAT"); do
    measure solo "$c" "$BIN/echo_server" --port 0 --secs $((SECS + 5))
    measure tokio "$c" "$BIN/echo_peers" --runtime tokio --secs $((SECS + 5))
    measure async-io "$c" "$BIN/echo_peers" --runtime async-io --secs $((SECS + 5))
  done
done

echo
echo "medians over $REPEAT rounds:"
printf "%-9s %7s %12s %12s %12s %12s\n" server conns "rt/s" "p50 us" "p99 us" "cpu us/rt"
awk -v cols=6 -f benches/support/medians.awk "$TMP/rows"
