# Shared by benches/http_compare.sh and benches/hyper_compare.sh (sourced, not run): starts a
# server, loads it with wrk and prints one row: requests/s, p99, server CPU per request.
# Expects CONNECTIONS and DURATION to be set; appends every row to $TMP/rows too. Callers
# measure every server once per round, REPEAT rounds, then print `medians`.

BIN=${CARGO_TARGET_DIR:-target}/release/examples
REPEAT=${REPEAT:-3}
MEDIANS_AWK="$(dirname "${BASH_SOURCE[0]}")/medians.awk"
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
  local TIMEFORMAT='%U %S'
  { time wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://$addr/" >"$TMP/wrk" ||
    echo "$label ($workers): wrk failed: $(cat "$TMP/wrk")" >&2; } 2>"$TMP/wrk_time"
  local wrk_cpu
  wrk_cpu=$(awk '{ print $1 + $2 }' "$TMP/wrk_time")
  after=$(cpu_ticks "$SERVER_PID")
  kill "$SERVER_PID" 2>/dev/null || echo "$label ($workers): the server died during the run" >&2
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  awk -v label="$label" -v workers="$workers" -v ticks=$((after - before)) -v tick="$TICK" \
      -v secs="$DURATION" -v wrk_cpu="$wrk_cpu" '
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = $2 }
    /Socket errors:/ { errors = $0 }
    /Non-2xx/ { non2xx = $NF }
    END {
      cpu = ticks / tick
      printf "%-9s %7d %12.0f %10s %10.1f %9.0f%% %9.0f%%   %s%s\n", label, workers, rps, p99,
        cpu * 1e6 / requests, 100 * cpu / secs, 100 * wrk_cpu / secs,
        (errors == "" ? "" : errors), (non2xx == "" ? "" : " non-2xx " non2xx)
    }' "$TMP/wrk" | tee -a "$TMP/rows"
}

# medians: each (server, workers) pair's median over the rounds, also saved in $TMP/medians;
# then solo's requests/s as a multiple of every other server's with the same worker count.
medians() {
  echo
  echo "medians over $REPEAT rounds:"
  printf "%-9s %7s %12s %12s %12s %12s %12s\n" server workers "req/s" "p99 us" "cpu us/req" \
    "cpu %" "wrk cpu %"
  awk -v cols=7 -f "$MEDIANS_AWK" "$TMP/rows" | tee "$TMP/medians"
  echo
  echo "solo against each peer (medians, same worker count):"
  awk '{ rps[$1, $2] = $3; p99[$1, $2] = $4; servers[$1] = 1; workers[$2] = 1 }
    END {
      for (w in workers) for (p in servers) {
        if (p == "solo" || rps["solo", w] == "" || rps[p, w] <= 0) continue
        printf "  %s workers: req/s solo / %s = %.2fx, p99 %.0f vs %.0f us\n", w, p,
          rps["solo", w] / rps[p, w], p99["solo", w], p99[p, w]
      }
    }' "$TMP/medians" | sort
}
