#!/usr/bin/env bash
# hyper 1.x on solo vs hyper on tokio: the same hyper handler (examples/support/hyper_app.rs)
# and hyper settings, measured with wrk. For 1 and 2 workers, runs:
#   solo        examples/hyper_server   one solo runtime per thread (solo::pool), SO_REUSEPORT,
#                                       solo::compat::{HyperIo, HyperTimer, HyperExecutor}
#   tokio-ct    examples/hyper_tokio    one tokio current_thread runtime per thread, SO_REUSEPORT,
#                                       hyper-util's TokioIo/TokioTimer/TokioExecutor
#   tokio-mt    examples/hyper_tokio    tokio multi-thread runtime, one listener
# and prints requests/s, p99 latency, the server's CPU time per request (utime + stime of the
# server process from /proc/<pid>/stat, before and after the measured run), and solo's ratio
# to each tokio shape with the same worker count.
#
# Usage: benches/hyper_compare.sh            (wrk -t1 -c50 -d5s, after a 1 s warm-up)
#   DURATION=10 CONNECTIONS=100 WORKERS="1 2" benches/hyper_compare.sh
# On a 2-core machine wrk competes with the server for the cores, so compare CPU per request
# as well as throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
WORKERS=${WORKERS:-"1 2"}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --features hyper --example hyper_server --example hyper_tokio >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples
TICK=$(getconf CLK_TCK)
TMP=$(mktemp -d)
SERVER_PID=
RUN=0
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# utime + stime of a process, in clock ticks (fields 14 and 15; comm has no spaces here).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure LABEL WORKERS COMMAND...: one row of the table.
measure() {
  local label=$1 workers=$2
  shift 2
  # A fresh file per run: the background job may not have truncated a reused one yet when
  # we read it, and we would connect to the previous server's port.
  RUN=$((RUN + 1))
  local out="$TMP/out.$RUN"
  "$@" >"$out" 2>"$TMP/err" &
  SERVER_PID=$!
  for _ in $(seq 600); do
    grep -q '^listening on ' "$out" 2>/dev/null && break
    sleep 0.05
  done
  local addr
  addr=$(awk 'NR == 1 { print $3 }' "$out")
  if [ -z "$addr" ]; then
    echo "$label ($workers) did not start: $(cat "$TMP/err")" >&2
    return 1
  fi
  wrk -t1 -c"$CONNECTIONS" -d1s "http://$addr/" >/dev/null   # warm-up
  local before after
  before=$(cpu_ticks "$SERVER_PID")
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://$addr/" >"$TMP/wrk" ||
    echo "$label ($workers): wrk failed: $(cat "$TMP/wrk")" >&2
  after=$(cpu_ticks "$SERVER_PID")
  kill "$SERVER_PID" 2>/dev/null || echo "$label ($workers): the server died during the run" >&2
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  awk -v label="$label" -v workers="$workers" -v ticks=$((after - before)) -v tick="$TICK" \
      -v secs="$DURATION" '
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = $2 }
    /Socket errors:/ { errors = $0 }
    /Non-2xx/ { non2xx = $NF }
    END {
      cpu = ticks / tick
      printf "%-9s %7d %12.0f %10s %10.1f %9.0f%%   %s%s\n", label, workers, rps, p99,
        cpu * 1e6 / requests, 100 * cpu / secs,
        (errors == "" ? "" : errors), (non2xx == "" ? "" : " non-2xx " non2xx)
    }' "$TMP/wrk" | tee -a "$TMP/rows"
}

printf "wrk -t1 -c%s -d%ss --latency, %s core(s), %s\n" "$CONNECTIONS" "$DURATION" "$(nproc)" \
  "$(uname -r)"
printf "%-9s %7s %12s %10s %10s %10s\n" server workers "req/s" p99 "cpu us/req" "cpu %"
for w in $WORKERS; do
  measure solo "$w" "$BIN/hyper_server" --port 0 --threads "$w"
  measure tokio-ct "$w" "$BIN/hyper_tokio" --runtime current --port 0 --threads "$w"
  measure tokio-mt "$w" "$BIN/hyper_tokio" --runtime multi --port 0 --threads "$w"
done

echo
echo "solo's requests/s as a multiple of tokio's (same worker count):"
awk '{ rps[$1, $2] = $3; workers[$2] = 1 }
  END {
    for (w in workers) {
      if (rps["solo", w] == "") continue
      split("tokio-ct tokio-mt", names, " ")
      for (i = 1; i <= 2; i++) {
        p = names[i]
        if (rps[p, w] > 0) printf "  %s workers: solo / %s = %.2fx\n", w, p, rps["solo", w] / rps[p, w]
      }
    }
  }' "$TMP/rows"
