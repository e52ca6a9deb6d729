#!/usr/bin/env bash
# Instructions per request under callgrind: a figure that does not depend on
# the machine's load. Each server runs under `valgrind --tool=callgrind`
# (pinned to one CPU, so one worker thread, as in run.sh) while
# examples/bench_reqseq.rs sends a fixed request sequence: CONNS keep-alive
# connections, then ROUNDS rounds of one GET per connection. Two runs per cell
# differ only in ROUNDS; start-up, connection set-up and shutdown cancel out:
#
#   instructions/request = (Ir(R2) - Ir(R1)) / ((R2 - R1) * CONNS)
#
#   bash benches/instr.sh                       # ours, may, hyper at 64, 256, 1000 connections
#   bash benches/instr.sh --only ours --conns 64 --requests 4000
#   bash benches/instr.sh --syscalls            # also syscalls/request (strace -c -f, same method)
#   bash benches/instr.sh --keep DIR            # keep the callgrind files (callgrind_annotate them)
#   bash benches/instr.sh --cache               # also simulated cache misses/request (D1, last level)
#
# Prints one line per cell and, with --tsv FILE, appends `run ID instr_cN VALUE`
# (and `sys_cN`) lines in benches/run.sh's raw format. Counts are user-space
# instructions only (the kernel's share of a syscall is not counted): read
# them next to the syscalls/request figure. Method: benches/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ONLY="ours,may,hyper"
CONNS="64,256,1000"
REQUESTS=20000
TSV=""
SYSCALLS=no
CACHE=no
KEEP=""
PORT=${INSTR_PORT:-18090}
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --only) ONLY=${2:?}; shift ;;
        --conns) CONNS=${2:?}; shift ;;
        --requests) REQUESTS=${2:?}; shift ;;
        --tsv) TSV=${2:?}; shift ;;
        --syscalls) SYSCALLS=yes ;;
        --cache) CACHE=yes ;;
        --keep) KEEP=${2:?}; shift ;;
        --no-build) NO_BUILD=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[instr %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v valgrind >/dev/null || die "valgrind is required (apt-get install valgrind)"
[ "$SYSCALLS" = no ] || command -v strace >/dev/null || die "strace is required for --syscalls"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=${KEEP:-$(mktemp -d /tmp/eventlet-instr.XXXXXX)}
mkdir -p "$WORK"
BIN=$CARGO_TARGET_DIR/release

if [ -z "${NO_BUILD:-}" ]; then
    log "building bench_server and bench_reqseq (release)"
    (cd "$ROOT" && cargo build --release --quiet --example bench_server --example bench_reqseq)
    if [[ ",$ONLY," == *",may,"* || ",$ONLY," == *",hyper,"* ]]; then
        log "building benches/refservers (release)"
        cargo build --release --quiet --manifest-path "$ROOT/benches/refservers/Cargo.toml" --bin may-hello --bin hyper-hello
    fi
fi
DRIVER=${DRIVER:-$BIN/examples/bench_reqseq}

# The environment goes before the tool (valgrind must run the server itself,
# not `env`).
server_env() { # id
    case $1 in
        ours) echo "EVENTLET_BENCH_PIN=0" ;;
        # The access log on as examples/wsgi.rs sets it up (stderr is a file here).
        ours-log) echo "EVENTLET_BENCH_PIN=0 EVENTLET_BENCH_LOG=1" ;;
        # Statistics and socket_timeout off: what those two defaults cost.
        ours-bare) echo "EVENTLET_BENCH_PIN=0 EVENTLET_BENCH_BARE=1" ;;
        # For comparison: plain env_logger into a BatchWriter, and plain env_logger.
        ours-log-envlogger) echo "EVENTLET_BENCH_PIN=0 EVENTLET_BENCH_LOG=envlogger" ;;
        ours-log-unbatched) echo "EVENTLET_BENCH_PIN=0 EVENTLET_BENCH_LOG=unbatched" ;;
        *) echo "EVENTLET_BENCH_UNUSED=0" ;;
    esac
}

server_cmd() { # id port
    case $1 in
        ours|ours-bare|ours-log|ours-log-envlogger|ours-log-unbatched) echo "${OURS_BIN:-$BIN/examples/bench_server} 127.0.0.1:$2" ;;
        may) echo "$BIN/may-hello 127.0.0.1:$2" ;;
        hyper) echo "$BIN/hyper-hello 127.0.0.1:$2" ;;
        *) die "unknown server id $1" ;;
    esac
}

port_in_use() { ss -ltnH "sport = :$1" | grep -q .; }

PID=""
cleanup() { [ -z "$PID" ] || kill -KILL "$PID" 2>/dev/null || true; }
trap cleanup EXIT

# run_once tool id conns rounds out → runs one server under `tool` for one
# request sequence; the tool's output lands in `out`.
run_once() {
    local tool=$1 id=$2 conns=$3 rounds=$4 out=$5 i
    port_in_use "$PORT" && die "port $PORT is in use (set INSTR_PORT)"
    local wrap
    case $tool in
        callgrind) wrap=(valgrind --tool=callgrind --callgrind-out-file="$out" --dump-line=no --cache-sim="$CACHE" ${CACHE_LL:+--LL=$CACHE_LL}) ;;
        strace) wrap=(strace -f -c -U calls,name -o "$out") ;;
    esac
    # shellcheck disable=SC2046 # server_cmd is split into words on purpose
    env $(server_env "$id") taskset -c 0 "${wrap[@]}" $(server_cmd "$id" "$PORT") >"$out.log" 2>&1 &
    PID=$!
    for i in $(seq 300); do
        kill -0 "$PID" 2>/dev/null || die "$id exited at start (see $out.log)"
        port_in_use "$PORT" && break
        sleep 0.2
    done
    port_in_use "$PORT" || die "$id did not listen on $PORT (see $out.log)"
    "$DRIVER" "127.0.0.1:$PORT" "$conns" "$rounds" >"$out.driver" 2>&1 ||
        die "bench_reqseq failed against $id (see $out.driver, $out.log)"
    # Our server stops gracefully on SIGTERM; the others die of it (valgrind
    # and strace still write their output). valgrind runs the server in its
    # own process; strace's server is its child.
    local target=$PID
    [ "$tool" = callgrind ] || target=$(pgrep -P "$PID" | head -1)
    kill -TERM "${target:-$PID}" 2>/dev/null || true
    for i in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    for i in $(seq 50); do port_in_use "$PORT" || break; sleep 0.1; done
}

# event_total, total_ir, total_syscalls
# shellcheck source=benches/counts.sh
. "$ROOT/benches/counts.sh"

emit() { # id metric value
    [ -z "$TSV" ] || printf 'run\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TSV"
}

IFS=, read -r -a IDS <<<"$ONLY"
IFS=, read -r -a CS <<<"$CONNS"
for id in "${IDS[@]}"; do
    for c in "${CS[@]}"; do
        delta=$(( (REQUESTS + c - 1) / c ))
        # At least 2 rounds before the measured ones: the first round after
        # set-up still does one-time work on some servers.
        r1=$(( delta / 4 > 2 ? delta / 4 : 2 ))
        r2=$(( r1 + delta ))
        n=$(( delta * c ))
        a=$WORK/$id.c$c.r$r1.callgrind
        b=$WORK/$id.c$c.r$r2.callgrind
        run_once callgrind "$id" "$c" "$r1" "$a"
        run_once callgrind "$id" "$c" "$r2" "$b"
        ia=$(total_ir "$a"); ib=$(total_ir "$b")
        [ -n "$ia" ] && [ -n "$ib" ] || die "no callgrind totals for $id c$c (see $a.log)"
        per=$(awk -v a="$ia" -v b="$ib" -v n="$n" 'BEGIN { printf "%.0f", (b - a) / n }')
        line="$id c$c instr/req=$per (Ir $ia at $r1 rounds, $ib at $r2 rounds, $n requests apart)"
        emit "$id" "instr_c$c" "$per"
        if [ "$CACHE" = yes ]; then
            d1=$(awk -v a="$(event_total "$a" D1mr D1mw)" -v b="$(event_total "$b" D1mr D1mw)" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
            ll=$(awk -v a="$(event_total "$a" DLmr DLmw ILmr)" -v b="$(event_total "$b" DLmr DLmw ILmr)" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }')
            line="$line D1 misses/req=$d1 LL misses/req=$ll"
            emit "$id" "d1miss_c$c" "$d1"
            emit "$id" "llmiss_c$c" "$ll"
        fi
        if [ "$SYSCALLS" = yes ]; then
            sa=$WORK/$id.c$c.r$r1.strace
            sb=$WORK/$id.c$c.r$r2.strace
            run_once strace "$id" "$c" "$r1" "$sa"
            run_once strace "$id" "$c" "$r2" "$sb"
            ya=$(total_syscalls "$sa"); yb=$(total_syscalls "$sb")
            sper=$(awk -v a="$ya" -v b="$yb" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }')
            line="$line syscalls/req=$sper"
            emit "$id" "sys_c$c" "$sper"
        fi
        echo "$line"
    done
done
[ -n "$KEEP" ] || rm -rf "$WORK"
