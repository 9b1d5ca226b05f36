#!/usr/bin/env bash
# hyper 1.x on solo vs hyper on tokio: the same hyper handler (examples/support/hyper_app.rs)
# and hyper settings, measured with wrk. For 1 and 2 workers, runs:
#   solo        examples/hyper_server   one solo runtime per thread (solo::pool), SO_REUSEPORT,
#                                       solo::compat::{HyperIo, HyperTimer, HyperExecutor}
#   tokio-ct    examples/hyper_tokio    one tokio current_thread runtime per thread, SO_REUSEPORT,
#                                       hyper-util's TokioIo/TokioTimer/TokioExecutor
#   tokio-mt    examples/hyper_tokio    tokio multi-thread runtime, one listener
# and prints requests/s, p99 latency, the server's CPU time per request (utime + stime of the
# server process from /proc/<pid>/stat, before and after the measured run), their medians
# and solo's ratio to each tokio shape with the same worker count.
#
# Usage: benches/hyper_compare.sh            (wrk -t1 -c50 -d5s, after a 1 s warm-up)
#   DURATION=10 CONNECTIONS=100 WORKERS="1 2" REPEAT=5 benches/hyper_compare.sh
# Every server is measured once per round (REPEAT rounds, default 3), so a slow drift of a
# shared machine hits them all; compare the medians printed at the end.
# On a 2-core machine wrk competes with the server for the cores, so compare CPU per request
# as well as throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
WORKERS=${WORKERS:-"1 2"}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --features hyper --example hyper_server --example hyper_tokio >&2
# shellcheck source=support/wrk_measure.sh
source "$(dirname "$0")/support/wrk_measure.sh"

printf "wrk -t1 -c%s -d%ss --latency, %s core(s), %s\n" "$CONNECTIONS" "$DURATION" "$(nproc)" \
  "$(uname -r)"
printf "%-9s %7s %12s %10s %10s %10s %10s\n" server workers "req/s" p99 "cpu us/req" "cpu %" \
  "wrk cpu %"
for w in $WORKERS; do
  for _ in $(seq "$REPEAT"); do
    measure solo "$w" "$BIN/hyper_server" --port 0 --threads "$w"
    measure tokio-ct "$w" "$BIN/hyper_tokio" --runtime current --port 0 --threads "$w"
    measure tokio-mt "$w" "$BIN/hyper_tokio" --runtime multi --port 0 --threads "$w"
  done
done

medians
