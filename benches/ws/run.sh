#!/usr/bin/env bash
# WebSocket benchmarks, side by side in one run (issue 11):
#  1. echo of small messages over 64 connections: messages/s and server CPU
#     µs per message for our examples/websocket.rs, a tokio-tungstenite echo
#     server (benches/refservers tungstenite-echo, with tungstenite's
#     defaults, with a 4 KiB read buffer, and with a 4 KiB read buffer
#     echoing by `read.forward(write)`, which coalesces pipelined echoes into
#     one write as our example's `feed` does) and Python's
#     eventlet.websocket (benches/ws/eventlet_ws_echo.py), each alone, pinned
#     to CPU 0, the load client (wsbench) on CPU 1. wsbench runs
#     request/response: each connection sends a 32-byte text message, waits
#     for its echo (checked byte for byte), sends the next; 1 s warm-up, then
#     SECONDS counted. CPU = the server's utime + stime (/proc/PID/stat) over
#     exactly the counted window, ÷ the messages echoed in it;
#  2. the two ratios of the issue's goals: CPU per message ours ÷ tokio
#     (goal ≤ 1.0; the default configuration is the reference, the 4 KiB
#     one is shown too) and messages/s ours ÷ eventlet (goal ≥ 10);
#  3. server RSS per idle WebSocket with IDLE held open (idle_ws.py).
# Compare ratios within one run; a loaded machine makes absolute figures
# noisy (benches/ws/instr.sh gives load-independent instruction counts).
#
#   bash benches/ws/run.sh [SECONDS=10] [IDLE=10000]     # IDLE=0 skips part 3
#   WS_BATCH=16 bash benches/ws/run.sh   # 16 messages per write and in flight per connection
#
# Writes the tables to stdout (progress to stderr). About 2 minutes after
# the builds (release builds of the example and of benches/refservers).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-10}
IDLE=${2:-10000}
CONNS=64
SIZE=32
BATCH=${WS_BATCH:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
log() { printf '[ws-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building examples/websocket and refservers (release)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --example websocket
cargo build --release --quiet --manifest-path "$ROOT/benches/refservers/Cargo.toml" \
  --bin tungstenite-echo --bin wsbench
BIN=$CARGO_TARGET_DIR/release
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Pin the server and the client to different CPUs when there are two.
if [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0)
  PIN_CLIENT=(taskset -c 1)
else
  PIN_SERVER=()
  PIN_CLIENT=()
fi

HAVE_EVENTLET=no
if python3 -c "import eventlet" 2>/dev/null; then HAVE_EVENTLET=yes; fi

PID=""
cleanup() { [ -z "$PID" ] || kill -KILL "$PID" 2>/dev/null || true; }
trap cleanup EXIT

start() { # cmd... -> sets PID, ADDR (the server prints its address)
  local out; out=$(mktemp)
  RUST_LOG=warn "${PIN_SERVER[@]}" "$@" >"$out" 2>/dev/null &
  PID=$!
  ADDR=""
  for _ in $(seq 200); do
    ADDR=$(grep -o '127\.0\.0\.1:[0-9]*' "$out" | head -1 || true)
    [ -n "$ADDR" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$out"
  [ -n "$ADDR" ] || { log "ERROR: $* did not start"; exit 1; }
}

stop() {
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
}

declare -A RATE CPU
echo_row() { # id name cmd...
  local id=$1 name=$2; shift 2
  log "$name: echo, $CONNS connections, ${SECS}s"
  start "$@"
  local out
  out=$("${PIN_CLIENT[@]}" "$BIN/wsbench" "ws://$ADDR/echo" --conns "$CONNS" --size "$SIZE" \
    --batch "$BATCH" --warmup 1 --secs "$SECS" --pid "$PID")
  stop
  RATE[$id]=$(awk '{for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1)}' <<<"$out")
  CPU[$id]=$(awk '{for (i = 1; i < NF; i++) if ($i == "cpu_us_per_message") print $(i + 1)}' <<<"$out")
  local n; n=$(awk '{print $2}' <<<"$out")
  echo "| $name | $n | ${RATE[$id]} | ${CPU[$id]} |"
}

idle_row() { # id name cmd...
  local id=$1 name=$2; shift 2
  log "$name: $IDLE idle WebSockets"
  start "$@"
  local out; out=$(python3 "$ROOT/benches/ws/idle_ws.py" "$PID" "$ADDR" "$IDLE")
  stop
  echo "| $name | $out |"
}

OURS=("$BIN/examples/websocket" 127.0.0.1:0 20000)
TOKIO=("$BIN/tungstenite-echo" 127.0.0.1:0)
TOKIO4K=("$BIN/tungstenite-echo" 127.0.0.1:0 4096)
TOKIOFWD=("$BIN/tungstenite-echo" 127.0.0.1:0 4096 forward)
EVENTLET=(python3 "$ROOT/benches/ws/eventlet_ws_echo.py" 127.0.0.1:0 20000)

if [ "$BATCH" = 1 ]; then MODE="request/response (1 message in flight per connection)"
else MODE="request/response in batches of $BATCH messages per write"; fi
echo "WebSocket echo: $CONNS connections, $SIZE-byte text messages, $MODE, ${SECS}s after 1s warm-up;"
echo "servers pinned to one CPU, client on another; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start."
echo
echo "| server | messages | messages/s | server CPU µs/message |"
echo "|---|---|---|---|"
echo_row ours "eventlet-rs (examples/websocket.rs)" "${OURS[@]}"
echo_row tokio "tokio-tungstenite (refservers tungstenite-echo)" "${TOKIO[@]}"
echo_row tokio4k "tokio-tungstenite, 4 KiB read buffer" "${TOKIO4K[@]}"
echo_row tokiofwd "tokio-tungstenite, 4 KiB read buffer, read.forward(write) (coalesced writes)" "${TOKIOFWD[@]}"
if [ "$HAVE_EVENTLET" = yes ]; then
  echo_row eventlet "Python eventlet.websocket (eventlet_ws_echo.py)" "${EVENTLET[@]}"
fi
echo
awk -v a="${CPU[ours]}" -v b="${CPU[tokio]}" 'BEGIN {
  printf "CPU per message, ours / tokio-tungstenite: %.2f (goal <= 1.00)\n", a / b }'
awk -v a="${CPU[ours]}" -v b="${CPU[tokio4k]}" 'BEGIN {
  printf "CPU per message, ours / tokio-tungstenite with a 4 KiB read buffer: %.2f\n", a / b }'
awk -v a="${CPU[ours]}" -v b="${CPU[tokiofwd]}" 'BEGIN {
  printf "CPU per message, ours / tokio-tungstenite with a 4 KiB read buffer and forward: %.2f\n", a / b }'
if [ "$HAVE_EVENTLET" = yes ]; then
  awk -v a="${RATE[ours]}" -v b="${RATE[eventlet]}" 'BEGIN {
    printf "messages/s, ours / eventlet: %.1f (goal >= 10)\n", a / b }'
else
  echo "messages/s, ours / eventlet: not measured (python3 -c 'import eventlet' fails; pip install eventlet)"
fi

if [ "$IDLE" -gt 0 ]; then
  echo
  echo "| server | idle WebSockets |"
  echo "|---|---|"
  idle_row ours "eventlet-rs" "${OURS[@]}"
  idle_row tokio "tokio-tungstenite" "${TOKIO[@]}"
  if [ "$HAVE_EVENTLET" = yes ]; then
    idle_row eventlet "Python eventlet" "${EVENTLET[@]}"
  fi
fi
