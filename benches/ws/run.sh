#!/usr/bin/env bash
# WebSocket benchmarks, side by side in one run (issue 11):
#  1. echo of small messages over 64 connections: messages/s and server CPU
#     µs per message for our examples/websocket.rs and a tokio-tungstenite
#     echo server (benches/refservers), each pinned to CPU 0, the load client
#     (wsbench) to CPU 1;
#  2. server RSS per idle WebSocket with 10,000 held open (idle_ws.py).
# Compare ratios from one run; a loaded machine makes absolute figures noisy.
#
#   bash benches/ws/run.sh [SECONDS=10] [IDLE=10000]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-10}
IDLE=${2:-10000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --example websocket
cargo build --release --quiet --manifest-path "$ROOT/benches/refservers/Cargo.toml" \
  --bin tungstenite-echo --bin wsbench
BIN=$CARGO_TARGET_DIR/release
ulimit -n 65536 2>/dev/null || true
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start() { # name cmd... -> sets PID, ADDR
  local log; log=$(mktemp)
  taskset -c 0 "$@" > "$log" 2>/dev/null &
  PID=$!
  for _ in $(seq 100); do grep -q '127\.0\.0\.1:[0-9]' "$log" && break; sleep 0.1; done
  ADDR=$(grep -o '127\.0\.0\.1:[0-9]*' "$log" | head -1)
}

bench() { # name cmd...
  local name=$1; shift
  start "$@"
  local c0; c0=$(cpu_ticks "$PID")
  local out; out=$(taskset -c 1 "$BIN/wsbench" "ws://$ADDR/echo" 64 "$SECS" 32)
  local c1; c1=$(cpu_ticks "$PID")
  local n; n=$(echo "$out" | awk '{print $2}')
  local rate; rate=$(echo "$out" | awk '{print $6}')
  local us; us=$(awk -v t=$((c1 - c0)) -v hz="$ticks" -v n="$n" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  echo "| $name | $rate | $us |"
  kill "$PID"; wait "$PID" 2>/dev/null || true
  start "$@"
  echo "$name idle: $(python3 "$ROOT/benches/ws/idle_ws.py" "$PID" "$ADDR" "$IDLE")"
  kill "$PID"; wait "$PID" 2>/dev/null || true
}

echo "| server | messages/s (64 conns, 32 B) | server CPU µs/message |"
echo "|---|---|---|"
bench "eventlet-rs (examples/websocket.rs)" "$BIN/examples/websocket" 127.0.0.1:0 20000
bench "tokio-tungstenite" "$BIN/tungstenite-echo" 127.0.0.1:0
