#!/usr/bin/env bash
# Instructions and syscalls per WebSocket echo message: figures that do not
# move with the machine's load (benches/ws/run.sh measures CPU time, which
# does). Each server runs pinned to CPU 0 (`taskset -c 0`) under
# `valgrind --tool=callgrind` (then under `strace -f -c`), while
# `wsbench --messages N` (benches/refservers) sends a fixed sequence: CONNS
# WebSockets, request/response (one 32-byte text message in flight per
# connection, every echo checked; --batch K: K per write), then a close
# handshake on each. Two runs per server differ only in N, so start-up,
# handshakes and closes cancel:
#
#   instructions/message = (Ir(N2) - Ir(N1)) / (N2 - N1)
#   syscalls/message     = (calls(N2) - calls(N1)) / (N2 - N1)
#
# The servers:
#   ours   examples/websocket.rs (/echo), release build: pinned to one CPU,
#          the runtime starts one worker (workers = available CPUs);
#   tokio  benches/refservers tungstenite-echo: tokio's multi-threaded
#          runtime, which starts one worker when pinned to one CPU (it sizes
#          itself by available_parallelism, which honours the affinity mask);
#          tokio-tungstenite 0.29 with its defaults, `ws.send` (one flush)
#          per echoed message;
#   tokio-4k  the same with a 4 KiB read buffer (tungstenite's default
#          128 KiB is zero-filled before every read).
#   tokio-fwd  4 KiB read buffer, echo by `read.forward(write)`
#          (tokio-tungstenite's own echo example): the sink is fed while
#          messages are ready and flushed when the stream would wait, so
#          pipelined echoes go out together, as our `feed` does.
# Callgrind runs every thread of the process one at a time anyway; pinning
# keeps the thread count (and so the wake-up pattern) as in run.sh.
# Counts are user-space instructions of all threads; the kernel's side of a
# syscall is not in them: read them next to syscalls/message.
# Under valgrind one `rep stosb`/`rep movsb` counts one instruction per byte,
# while the CPU does it in a few cycles per cache line; glibc picks them for
# memset/memcpy above 2 KiB, and tungstenite clears its 128 KiB read buffer
# on every read (~250,000 "instructions" per message that way). The
# callgrind runs therefore set GLIBC_TUNABLES so that glibc uses its vector
# loops instead, for every server alike (REP_TUNABLES= turns that off).
#
#   bash benches/ws/instr.sh                    # ours, tokio, tokio-4k, tokio-fwd; 64 connections
#   bash benches/ws/instr.sh --only ours --messages 32000 --conns 64
#   bash benches/ws/instr.sh --batch 16         # 16 messages per write (wsbench --batch)
#   bash benches/ws/instr.sh --no-syscalls      # callgrind only
#   bash benches/ws/instr.sh --keep DIR         # keep the callgrind files (callgrind_annotate)
#   bash benches/ws/instr.sh --no-build         # use the binaries already built
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ONLY="ours,tokio,tokio-4k,tokio-fwd"
CONNS=64
MESSAGES=19200
SIZE=32
BATCH=1
SYSCALLS=yes
KEEP=""
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR

usage() { sed -n '2,45p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --only) ONLY=${2:?}; shift ;;
        --conns) CONNS=${2:?}; shift ;;
        --messages) MESSAGES=${2:?}; shift ;;
        --size) SIZE=${2:?}; shift ;;
        --batch) BATCH=${2:?}; shift ;;
        --no-syscalls) SYSCALLS=no ;;
        --keep) KEEP=${2:?}; shift ;;
        --no-build) NO_BUILD=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[ws-instr %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v valgrind >/dev/null || die "valgrind is required (apt-get install valgrind)"
[ "$SYSCALLS" = no ] || command -v strace >/dev/null || die "strace is required (or --no-syscalls)"

WORK=${KEEP:-$(mktemp -d /tmp/eventlet-ws-instr.XXXXXX)}
mkdir -p "$WORK"
BIN=$CARGO_TARGET_DIR/release

if [ -z "${NO_BUILD:-}" ]; then
    log "building examples/websocket (release) and refservers tungstenite-echo, wsbench"
    cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --example websocket
    cargo build --release --quiet --manifest-path "$ROOT/benches/refservers/Cargo.toml" \
        --bin tungstenite-echo --bin wsbench
fi

REP_TUNABLES=${REP_TUNABLES-glibc.cpu.x86_rep_stosb_threshold=0x7fffffffffffffff:glibc.cpu.x86_rep_movsb_threshold=0x7fffffffffffffff}

server_cmd() { # id
    case $1 in
        ours) echo "${OURS_BIN:-$BIN/examples/websocket} 127.0.0.1:0" ;;
        tokio) echo "$BIN/tungstenite-echo 127.0.0.1:0" ;;
        tokio-4k) echo "$BIN/tungstenite-echo 127.0.0.1:0 4096" ;;
        tokio-fwd) echo "$BIN/tungstenite-echo 127.0.0.1:0 4096 forward" ;;
        *) die "unknown server id $1" ;;
    esac
}

PID=""
cleanup() { [ -z "$PID" ] || kill -KILL "$PID" 2>/dev/null || true; }
trap cleanup EXIT

# run_once tool id messages out: one server under `tool`, one wsbench run.
run_once() {
    local tool=$1 id=$2 n=$3 out=$4 i addr=""
    local wrap
    case $tool in
        callgrind) wrap=(env ${REP_TUNABLES:+GLIBC_TUNABLES=$REP_TUNABLES}
            valgrind --tool=callgrind --callgrind-out-file="$out" --dump-line=no) ;;
        strace) wrap=(strace -f -c -U calls,name -o "$out") ;;
    esac
    # The server prints its address on stdout (port 0: no port clashes).
    # shellcheck disable=SC2046 # server_cmd is split into words on purpose
    RUST_LOG=warn taskset -c 0 "${wrap[@]}" $(server_cmd "$id") >"$out.out" 2>"$out.log" &
    PID=$!
    for i in $(seq 600); do
        kill -0 "$PID" 2>/dev/null || die "$id exited at start (see $out.log)"
        addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$out.out" | head -1 || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || die "$id printed no address (see $out.out, $out.log)"
    taskset -c 1 "$BIN/wsbench" "ws://$addr/echo" --conns "$CONNS" --size "$SIZE" \
        --batch "$BATCH" --messages "$n" >"$out.driver" 2>&1 ||
        die "wsbench failed against $id (see $out.driver, $out.log)"
    # Ours stops gracefully on SIGTERM; tokio dies of it (valgrind and strace
    # still write their output). strace's server is its child.
    local target=$PID
    [ "$tool" = callgrind ] || target=$(pgrep -P "$PID" | head -1)
    kill -TERM "${target:-$PID}" 2>/dev/null || true
    for i in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
}

# total_ir, total_syscalls
# shellcheck source=benches/counts.sh
. "$ROOT/benches/counts.sh"

per() { # a b n → (b - a) / n
    awk -v a="$1" -v b="$2" -v n="$3" -v f="$4" 'BEGIN { printf f, (b - a) / n }'
}

# N1 and N2: whole rounds (one batch per connection each); N1 is a quarter
# of the difference, at least 2 rounds (the first messages do one-time work).
per_round=$(( CONNS * BATCH ))
rounds=$(( (MESSAGES + per_round - 1) / per_round ))
r1=$(( rounds / 4 > 2 ? rounds / 4 : 2 ))
n1=$(( r1 * per_round ))
n2=$(( (r1 + rounds) * per_round ))
n=$(( n2 - n1 ))

IFS=, read -r -a IDS <<<"$ONLY"
for id in "${IDS[@]}"; do
    a=$WORK/$id.c$CONNS.b$BATCH.m$n1.callgrind
    b=$WORK/$id.c$CONNS.b$BATCH.m$n2.callgrind
    log "$id: callgrind, $n1 and $n2 messages"
    run_once callgrind "$id" "$n1" "$a"
    run_once callgrind "$id" "$n2" "$b"
    ia=$(total_ir "$a"); ib=$(total_ir "$b")
    [ -n "$ia" ] && [ -n "$ib" ] || die "no callgrind totals for $id (see $a.log)"
    line="$id c$CONNS ${SIZE}B batch$BATCH instr/message=$(per "$ia" "$ib" "$n" %.0f) (Ir $ia at $n1 messages, $ib at $n2)"
    if [ "$SYSCALLS" = yes ]; then
        sa=$WORK/$id.c$CONNS.b$BATCH.m$n1.strace
        sb=$WORK/$id.c$CONNS.b$BATCH.m$n2.strace
        log "$id: strace, $n1 and $n2 messages"
        run_once strace "$id" "$n1" "$sa"
        run_once strace "$id" "$n2" "$sb"
        ya=$(total_syscalls "$sa"); yb=$(total_syscalls "$sb")
        [ -n "$ya" ] && [ -n "$yb" ] || die "no strace totals for $id (see $sa)"
        line="$line syscalls/message=$(per "$ya" "$yb" "$n" %.2f)"
        # The calls that make the difference, by name.
        line="$line [$(join -j 2 <(awk 'NF == 2 && $1 ~ /^[0-9]+$/ {print $1, $2}' "$sa" | sort -k2) \
            <(awk 'NF == 2 && $1 ~ /^[0-9]+$/ {print $1, $2}' "$sb" | sort -k2) |
            awk -v n="$n" '$1 != "total" { d = ($3 - $2) / n; if (d >= 0.01) { printf "%s%s %.2f", sep, $1, d; sep = ", " } }')]"
    fi
    echo "$line"
done
[ -n "$KEEP" ] || rm -rf "$WORK"
