#!/usr/bin/env bash
# Thread-per-core HTTP on solo vs tokio, same handler (examples/support/http.rs), measured
# with wrk. For 1 and 2 workers, runs:
#   solo        examples/http_per_core   one solo runtime per thread, SO_REUSEPORT listeners
#   tokio-mt    examples/http_tokio      tokio multi-thread runtime, one listener
#   tokio-ct    examples/http_tokio      one tokio current_thread runtime per thread, SO_REUSEPORT
# and prints requests/s, p99 latency, and the server's CPU time per request (utime + stime of
# the server process from /proc/<pid>/stat, before and after the measured run).
#
# Usage: benches/http_compare.sh            (wrk -t1 -c100 -d5s, after a 1 s warm-up)
#   DURATION=10 CONNECTIONS=50 WORKERS="1 2 4" PIN=1 REPEAT=5 benches/http_compare.sh
# Every server is measured once per round (REPEAT rounds, default 3); compare the medians
# printed at the end.
# PIN=1 pins solo's workers to CPUs (--pin). On a 2-core machine wrk competes with the server
# for the cores, so compare CPU per request as well as throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-100}
WORKERS=${WORKERS:-"1 2"}
PIN=${PIN:-0}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --example http_per_core --example http_tokio >&2
# shellcheck source=support/wrk_measure.sh
source "$(dirname "$0")/support/wrk_measure.sh"

printf "wrk -t1 -c%s -d%ss --latency, %s core(s), %s\n" "$CONNECTIONS" "$DURATION" "$(nproc)" \
  "$(uname -r)"
printf "%-9s %7s %12s %10s %10s %10s %10s\n" server workers "req/s" p99 "cpu us/req" "cpu %" \
  "wrk cpu %"
for w in $WORKERS; do
  pin=()
  [ "$PIN" = 1 ] && pin=(--pin)
  for _ in $(seq "$REPEAT"); do
    measure solo "$w" "$BIN/http_per_core" --port 0 --threads "$w" "${pin[@]}"
    measure tokio-mt "$w" "$BIN/http_tokio" --runtime multi --port 0 --threads "$w"
    measure tokio-ct "$w" "$BIN/http_tokio" --runtime current --port 0 --threads "$w"
  done
done
medians
