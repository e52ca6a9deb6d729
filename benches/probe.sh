#!/usr/bin/env bash
# One server, one keep-alive load, every side of the cost: the server's CPU
# per request split into user and system time, the load generator's own CPU
# per request and how busy each side was, and (where `perf` can read
# tracepoints) the server's system calls and context switches per request.
# A diagnostic beside run.sh (which compares servers); run it alternating
# servers, e.g.
#
#   for i in 1 2; do for s in ours may; do bash benches/probe.sh $s 1000; done; done
#
#   bash benches/probe.sh ID CONNS [SECONDS=6]
#     ID: ours | ours-log | may | hyper (built by run.sh or instr.sh)
#
# The server runs pinned to CPU 0 and wrk to CPU 1, after a 2 s warm-up at
# the same connection count, as in run.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${CARGO_TARGET_DIR:=$ROOT/target}"
BIN=$CARGO_TARGET_DIR/release
ID=${1:?usage: probe.sh ID CONNS [SECONDS]}
CONNS=${2:?usage: probe.sh ID CONNS [SECONDS]}
SECS=${3:-6}
PORT=${PROBE_PORT:-18095}
URL=http://127.0.0.1:$PORT/

case $ID in
    ours) CMD=(env EVENTLET_BENCH_PIN=0 "$BIN/examples/bench_server" "127.0.0.1:$PORT") ;;
    ours-log) CMD=(env EVENTLET_BENCH_PIN=0 EVENTLET_BENCH_LOG=1 "$BIN/examples/bench_server" "127.0.0.1:$PORT") ;;
    may) CMD=("$BIN/may-hello" "127.0.0.1:$PORT") ;;
    hyper) CMD=("$BIN/hyper-hello" "127.0.0.1:$PORT") ;;
    *) echo "unknown server id $ID" >&2; exit 2 ;;
esac
for f in "${CMD[@]}"; do
    case $f in /*) [ -x "$f" ] || { echo "$f is not built (bash benches/run.sh --quick builds it)" >&2; exit 1; } ;; esac
done
for _ in $(seq 50); do ss -ltnH "sport = :$PORT" | grep -q . || break; sleep 0.1; done
ss -ltnH "sport = :$PORT" | grep -q . && { echo "port $PORT is in use (set PROBE_PORT)" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/eventlet-probe.XXXXXX)
taskset -c 0 "${CMD[@]}" >"$WORK/server.log" 2>&1 &
PID=$!
# Reaped before the script ends: the next probe finds the port free.
trap 'kill -KILL $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do ss -ltnH "sport = :$PORT" | grep -q . && break; sleep 0.1; done

# utime and stime of the server, in clock ticks.
ticks() { sed 's/.*) //' "/proc/$PID/stat" | awk '{print $12, $13}'; }

taskset -c 1 wrk -t1 -c"$CONNS" -d2s --timeout 10s "$URL" >/dev/null 2>&1 || true
PERF=no
if command -v perf >/dev/null; then
    perf stat -x, -o "$WORK/perf" -p "$PID" \
        -e 'raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,context-switches' \
        -- sleep "$((SECS + 1))" 2>/dev/null &
    PERF_PID=$!
    PERF=yes
    sleep 0.5
fi
read -r u0 s0 < <(ticks)
/usr/bin/time -f '%U %S' -o "$WORK/wrk.time" taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency --timeout 10s "$URL" >"$WORK/wrk.out" 2>&1
read -r u1 s1 < <(ticks)
[ "$PERF" = no ] || wait "$PERF_PID" || true

req=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
p99=$(awk '/^ +99%/ {print $2}' "$WORK/wrk.out")
read -r wu ws <"$WORK/wrk.time"
hz=$(getconf CLK_TCK)
awk -v id="$ID" -v c="$CONNS" -v rps="$rps" -v p99="$p99" -v n="$req" -v hz="$hz" -v t="$SECS" \
    -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v wu="$wu" -v ws="$ws" 'BEGIN {
    printf "%s c%s: %s req/s, p99 %s\n", id, c, rps, p99
    printf "  server: %.2f us/request (user %.2f, system %.2f), %.0f%% busy\n", (u + s) / hz * 1e6 / n, u / hz * 1e6 / n, s / hz * 1e6 / n, (u + s) / hz / t * 100
    printf "  wrk:    %.2f us/request, %.0f%% busy\n", (wu + ws) * 1e6 / n, (wu + ws) / t * 100
}'
if [ "$PERF" = yes ] && [ -s "$WORK/perf" ]; then
    # Counted over the wrk run plus about a second of idle server.
    awk -F, -v n="$req" '$1 ~ /^[0-9]+$/ { printf "  %-32s %.3f/request\n", $3, $1 / n }' "$WORK/perf"
fi
kill -TERM "$PID" 2>/dev/null || true
for _ in $(seq 30); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
