#!/usr/bin/env bash
# The eventlet-rs performance benchmark: our WSGI server (examples/bench_server.rs)
# against may_minihttp and tokio+hyper (benches/refservers) and, when it can be
# installed, Python's eventlet.wsgi. One command:
#
#   bash benches/run.sh            # full: 5 rounds, 8 s per cell, medians (about 16 min)
#   bash benches/run.sh --quick    # 1 run per cell, 5 s each (about 4 min)
#   bash benches/run.sh --only ours,may   # a subset (ids: ours may hyper eventlet ours-unpinned ours-maypin ours-log)
#
# Writes benches/results/latest.{md,svg,tsv}; raw logs go to a temporary folder
# whose path is printed. Method and caveats: benches/README.md and
# /work/shared/reference/perf_anchors.md (the wrk commands are the anchors').
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=$ROOT/benches/results
RUNS=5
DUR=8
MEM_RUNS=3
MODE=full
ONLY=""
PORT_BASE=${BENCH_PORT_BASE:-18080}

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --quick) RUNS=1; DUR=5; MEM_RUNS=1; MODE=quick ;;
        --only) ONLY=${2:?--only needs a list}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WORK=$(mktemp -d /tmp/eventlet-bench.XXXXXX)
RAW=$WORK/raw.tsv
: >"$RAW"
log "raw logs in $WORK"

# ---------------------------------------------------------------- processes
# Every pid we start is tracked, and only those are ever signalled.
STARTED_PIDS=()
cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# ---------------------------------------------------------------- tools
install_tools() {
    if ! command -v wrk >/dev/null; then
        log "installing wrk with apt-get"
        { apt-get update && apt-get install -y wrk; } >"$WORK/apt.log" 2>&1 ||
            die "wrk is missing and apt-get could not install it (see $WORK/apt.log)"
    fi
    for tool in ss taskset curl sha1sum getconf; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    HAVE_EVENTLET=no
    if command -v python3 >/dev/null; then
        if ! python3 -c 'import eventlet' 2>/dev/null; then
            log "trying: python3 -m pip install eventlet (optional)"
            timeout 300 python3 -m pip install --quiet eventlet >"$WORK/pip.log" 2>&1 || true
        fi
        if python3 -W ignore -c 'import eventlet' 2>/dev/null; then
            HAVE_EVENTLET=yes
        else
            log "eventlet (Python) unavailable: its column is skipped"
        fi
    fi
}

raise_fd_limit() {
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    FD_LIMIT=$(ulimit -n)
    [ "$FD_LIMIT" -ge 2100 ] || die "ulimit -n is $FD_LIMIT; c1000 needs at least 2100"
}

build() {
    # One target dir for both builds (refservers is its own workspace).
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    log "building examples/bench_server (release)"
    (cd "$ROOT" && cargo build --release --quiet --example bench_server)
    (cd "$ROOT" && cargo build --release --quiet --example bench_reqseq)
    log "building benches/refservers (release)"
    cargo build --release --quiet --manifest-path "$ROOT/benches/refservers/Cargo.toml" --bins
    BIN=$CARGO_TARGET_DIR/release
    OURS_BIN=$BIN/examples/bench_server
}

# ---------------------------------------------------------------- servers
# id → label, group, port. Ports are distinct so a server that is slow to
# release its socket never meets the next one.
declare -A LABEL=(
    [ours]="eventlet-rs"
    [may]="may_minihttp 0.1.11"
    [hyper]="tokio+hyper 1.x"
    [eventlet]="eventlet.wsgi (Python)"
    [ours-unpinned]="eventlet-rs unpinned, 2 workers"
    [ours-maypin]="eventlet-rs pin_workers(true), 2 workers"
    [ours-log]="eventlet-rs, access log on (examples/wsgi.rs: eventlet_wsgi::logging::init)"
)
declare -A PORT=([ours]=1 [may]=2 [hyper]=3 [eventlet]=4 [ours-unpinned]=5 [ours-maypin]=6 [ours-log]=7)

selected() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

server_cmd() { # id port → the command line (no taskset)
    case $1 in
        ours|ours-unpinned) echo "env EVENTLET_BENCH_PIN=0 $OURS_BIN 127.0.0.1:$2" ;;
        ours-maypin) echo "env EVENTLET_BENCH_PIN=1 $OURS_BIN 127.0.0.1:$2" ;;
        ours-log) echo "env EVENTLET_BENCH_PIN=0 EVENTLET_BENCH_LOG=1 $OURS_BIN 127.0.0.1:$2" ;;
        may) echo "$BIN/may-hello 127.0.0.1:$2" ;;
        hyper) echo "$BIN/hyper-hello 127.0.0.1:$2" ;;
        eventlet) echo "python3 -W ignore $ROOT/benches/eventlet_hello.py 127.0.0.1 $2" ;;
    esac
}

is_pinned() { [[ $1 != ours-unpinned && $1 != ours-maypin ]]; }

# may and eventlet set SO_REUSEPORT: a second server on a busy port starts
# without error and takes half the connections (perf_anchors.md obs. 5).
port_in_use() { ss -ltnH "sport = :$1" | grep -q .; }

SERVER_PID=""
start_server() { # id port
    local id=$1 port=$2 pin=()
    port_in_use "$port" && die "port $port is already in use (ss -ltnp 'sport = :$port'); refusing to start $id"
    is_pinned "$id" && pin=(taskset -c 0)
    # shellcheck disable=SC2046 # server_cmd is split into words on purpose
    # The access log (ours-log) goes to /dev/null: not a terminal, so the
    # example's batched path, without filling the disk (~110 bytes a request).
    local errlog=$WORK/$id.server.log
    [ "$id" != ours-log ] || errlog=/dev/null
    "${pin[@]}" $(server_cmd "$id" "$port") >>"$WORK/$id.server.log" 2>>"$errlog" &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    local i
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || die "$id exited at start (see $WORK/$id.server.log)"
        if [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/")" = 200 ]; then
            return 0
        fi
        sleep 0.2
    done
    die "$id did not answer on port $port"
}

stop_server() {
    local pid=$SERVER_PID i
    [ -n "$pid" ] || return 0
    # Our server stops gracefully on the first SIGTERM and at once on the second.
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$pid" 2>/dev/null || true
    sleep 0.2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    SERVER_PID=""
}

# ---------------------------------------------------------------- measures
# record id metric value [round]: the round pairs the servers' values of one
# cell for the report's per-round ratios.
record() {
    if [ -n "${4:-}" ]; then
        printf 'run\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"
    else
        printf 'run\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RAW"
    fi
}
meta() { printf 'meta\t%s\t%s\n' "$1" "$2" >>"$RAW"; }

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Prints "rps p99_ms requests errors" from a wrk --latency output file.
parse_wrk() {
    awk '
        /Requests\/sec:/ { rps = $2 }
        /^ +99%/ { p = $2 }
        /requests in/ { req = $1 }
        /Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { err += $5 }
        END {
            ms = p + 0
            if (p ~ /us$/) ms = ms / 1000; else if (p ~ /ms$/) ms = ms; else if (p ~ /m$/) ms = ms * 60000; else if (p ~ /s$/) ms = ms * 1000
            printf "%s %.3f %s %d\n", rps, ms, req, err
        }' "$1"
}

CLIENT_PIN=(taskset -c 1)

# wrk_cell id cell port run [wrk args...]: one wrk run, recorded as <cell>_rps etc.
wrk_cell() {
    local id=$1 cell=$2 port=$3 run=$4 pin=()
    shift 4
    is_pinned "$id" && pin=("${CLIENT_PIN[@]}")
    local out=$WORK/$id.$cell.$run.wrk
    local t0 t1
    t0=$(cpu_ticks "$SERVER_PID")
    "${pin[@]}" wrk -t1 -d"${DUR}s" --latency "$@" >"$out" 2>&1 || log "wrk failed for $id $cell (see $out)"
    t1=$(cpu_ticks "$SERVER_PID")
    local rps p99 req err
    read -r rps p99 req err < <(parse_wrk "$out")
    [ -n "$rps" ] || { log "no result from wrk for $id $cell"; return 0; }
    record "$id" "${cell}_rps" "$rps" "$run"
    record "$id" "${cell}_p99" "$p99" "$run"
    record "$id" "${cell}_errors" "$err" "$run"
    if [[ $cell == ka* ]] && [ "${req:-0}" -gt 0 ]; then
        # Server CPU per request at every keep-alive cell (issue 14 compares
        # them at 64, 256 and 1000 connections); the c64 figures keep their
        # historical names cpu_us / cpu_pct.
        local hz us pct
        hz=$(getconf CLK_TCK)
        us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$req" 'BEGIN { printf "%.3f", d / hz * 1e6 / n }')
        pct=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$DUR" 'BEGIN { printf "%.1f", d / hz / s * 100 }')
        record "$id" "${cell}_cpu_us" "$us" "$run"
        if [ "$cell" = ka64 ]; then
            record "$id" cpu_us "$us" "$run"
            record "$id" cpu_pct "$pct" "$run"
        fi
    fi
    log "$id $cell run $run: $rps req/s, p99 $p99 ms, errors $err"
}

connbench_cell() { # id port run
    local id=$1 port=$2 run=$3 out=$WORK/$1.rst.$3.txt
    "${CLIENT_PIN[@]}" "$BIN/connbench" "127.0.0.1:$port" 32 "$DUR" / rst >"$out" 2>&1 || true
    local line
    line=$(grep '^requests=' "$out" || true)
    [ -n "$line" ] || { log "connbench gave nothing for $id (see $out)"; return 0; }
    local rps p99 errors non2xx
    rps=$(sed 's/.* rps=\([^ ]*\).*/\1/' <<<"$line")
    p99=$(sed 's/.* p99_ms=\([^ ]*\).*/\1/' <<<"$line")
    errors=$(sed 's/.* errors=\([^ ]*\).*/\1/' <<<"$line")
    non2xx=$(sed 's/.* non2xx=\([^ ]*\).*/\1/' <<<"$line")
    record "$id" rst_rps "$rps" "$run"
    record "$id" rst_p99 "$p99" "$run"
    record "$id" rst_errors "$((errors + non2xx))" "$run"
    log "$id rst run $run: $rps conn/s, p99 $p99 ms, errors $errors, non-2xx $non2xx"
}

echo_matches() { # port → 0 when a 1 MiB random body comes back byte for byte
    local body=$WORK/body.bin
    [ -f "$body" ] || head -c 1048576 /dev/urandom >"$body"
    local want got
    want=$(sha1sum <"$body" | cut -d' ' -f1)
    got=$(curl -s -m 20 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
        --data-binary @"$body" "http://127.0.0.1:$1/" | sha1sum | cut -d' ' -f1)
    [ "$want" = "$got" ]
}

# Holds N idle keep-alive connections with idleconns and records the RSS.
idle_rss() { # id port n metric
    local id=$1 port=$2 n=$3 metric=$4 out=$WORK/$1.idle$3.txt
    "${CLIENT_PIN[@]}" "$BIN/idleconns" "127.0.0.1:$port" "$n" 300 >"$out" 2>&1 &
    local cpid=$! i
    STARTED_PIDS+=("$cpid")
    for i in $(seq 600); do
        grep -q '^ready' "$out" && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '^ready' "$out"; then
        sleep 1
        record "$id" "$metric" "$(rss_kib "$SERVER_PID")"
    else
        log "idleconns $n failed for $id (see $out)"
    fi
    # idleconns set SO_LINGER 0: its sockets close with a RST, no TIME_WAIT.
    kill -TERM "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    sleep 1
}

memory_phase() { # id port
    local id=$1 port=$2 run
    for run in $(seq "$MEM_RUNS"); do
        start_server "$id" "$port"
        sleep 1
        record "$id" rss_idle "$(rss_kib "$SERVER_PID")"
        idle_rss "$id" "$port" 1000 rss_1k
        if [ "$FD_LIMIT" -ge 10100 ]; then
            idle_rss "$id" "$port" 10000 rss_10k
        fi
        stop_server
    done
}

# Pinned servers all run for a round, each on its own port (an idle server
# costs nothing), and each load cell is measured on every server back to
# back: ours c1000, may c1000, hyper c1000, then the next cell. A shared VM's
# speed drifts over minutes; servers compared within seconds of each other
# see the same host, and the report compares them round by round (the median
# of the per-round ratios). The order of the servers rotates from round to
# round, and each server gets a 2 s warm-up at the cell's connection count
# right before its measured run.
declare -A SPID=()

start_round_servers() { # run id...
    local run=$1 id
    shift
    for id in "$@"; do
        start_server "$id" "$((PORT_BASE + PORT[$id]))"
        SPID[$id]=$SERVER_PID
    done
    meta "load average at round $run" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

stop_round_servers() { # id...
    local id
    for id in "$@"; do
        SERVER_PID=${SPID[$id]}
        stop_server
    done
}

# rotate K id... → the ids rotated left by K.
rotate() {
    local k=$1
    shift
    local ids=("$@") n=$# i
    for ((i = 0; i < n; i++)); do printf '%s ' "${ids[$(((i + k) % n))]}"; done
}

# warm_cell id conns: 2 s of load at the cell's connection count, unmeasured.
warm_cell() {
    local pin=()
    is_pinned "$1" && pin=("${CLIENT_PIN[@]}")
    "${pin[@]}" wrk -t1 -c"$2" -d2s --timeout 10s "http://127.0.0.1:$((PORT_BASE + PORT[$1]))/" >/dev/null 2>&1 || true
}

# One cell on one server of the round.
round_cell() { # cell id run
    local cell=$1 id=$2 run=$3 port=$((PORT_BASE + PORT[$2]))
    local url="http://127.0.0.1:$port/"
    SERVER_PID=${SPID[$id]}
    case $cell in
        ka64) warm_cell "$id" 64; wrk_cell "$id" ka64 "$port" "$run" -c64 "$url" ;;
        ka256) warm_cell "$id" 256; wrk_cell "$id" ka256 "$port" "$run" -c256 "$url" ;;
        ka1000) warm_cell "$id" 1000; wrk_cell "$id" ka1000 "$port" "$run" -c1000 --timeout 10s "$url" ;;
        rst) connbench_cell "$id" "$port" "$run" ;;
        post)
            if echo_matches "$port"; then
                wrk_cell "$id" post "$port" "$run" -c16 -s "$ROOT/benches/post1m.lua" "$url"
            else
                log "$id: the 1 MiB POST echo came back wrong; POST cell skipped"
                meta "POST echo check failed" "$id"
            fi
            ;;
    esac
}

# Which cells a server runs: the access log's cost is our server as
# examples/wsgi.rs ships (log on) against `ours` at c64 only; the unpinned
# variants run the c64 and c256 cells.
server_cells() { # id
    if [ "$1" = ours-log ]; then
        echo ka64
    elif is_pinned "$1"; then
        echo ka64 ka256 ka1000 rst post
    else
        echo ka64 ka256
    fi
}

runs_cell() { [[ " $(server_cells "$1") " == *" $2 "* ]]; }

load_round() { # run id...
    local run=$1 cell id
    shift
    start_round_servers "$run" "$@"
    for cell in ka64 ka256 ka1000 rst post; do
        # shellcheck disable=SC2046 # rotate prints a word list
        for id in $(rotate "$((run - 1))" "$@"); do
            runs_cell "$id" "$cell" || continue
            round_cell "$cell" "$id" "$run"
        done
    done
    stop_round_servers "$@"
}

# ---------------------------------------------------------------- main
install_tools
raise_fd_limit
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on CPU 0, load generator on CPU 1)"
build

MAIN_IDS=(ours may hyper)
[ "$HAVE_EVENTLET" = yes ] && MAIN_IDS+=(eventlet)
VARIANT_IDS=(ours-unpinned ours-maypin)
LOG_IDS=(ours-log)

for id in "${MAIN_IDS[@]}" "${LOG_IDS[@]}" "${VARIANT_IDS[@]}"; do
    selected "$id" || continue
    port=$((PORT_BASE + PORT[$id]))
    port_in_use "$port" && die "port $port (for $id) is already in use; set BENCH_PORT_BASE"
done

meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta machine "$(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
meta mode "$MODE: $RUNS round(s), ${DUR} s per cell, medians; in each round the pinned servers run side by side and each cell is measured on every server back to back (order rotating by round, 2 s warm-up at the cell's connections before each); ratios are medians of per-round ratios"
meta "load average at start" "$(cut -d' ' -f1-3 /proc/loadavg)"
meta tools "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(rustc --version)"
meta commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
[ "$HAVE_EVENTLET" = yes ] && meta eventlet "$(python3 -W ignore -c 'import eventlet, sys; print("eventlet", eventlet.__version__, "on Python", sys.version.split()[0])')"
meta commands "keep-alive: taskset -c 1 wrk -t1 -cN -d${DUR}s --latency (c1000 adds --timeout 10s); RST: taskset -c 1 connbench ADDR 32 ${DUR} / rst; POST: wrk -t1 -c16 -s benches/post1m.lua; CPU µs/req = (utime+stime) delta of the server over each keep-alive run / its requests"

for id in "${MAIN_IDS[@]}" "${LOG_IDS[@]}" "${VARIANT_IDS[@]}"; do
    selected "$id" || continue
    group=main
    is_pinned "$id" || group=variant
    [ "$id" != ours-log ] || group=log
    printf 'server\t%s\t%s\t%s\n' "$id" "${LABEL[$id]}" "$group" >>"$RAW"
done

for id in "${MAIN_IDS[@]}"; do
    selected "$id" || continue
    log "=== $id: memory"
    memory_phase "$id" "$((PORT_BASE + PORT[$id]))"
done
PINNED_IDS=()
UNPINNED_IDS=()
for id in "${MAIN_IDS[@]}" "${LOG_IDS[@]}" "${VARIANT_IDS[@]}"; do
    selected "$id" || continue
    if is_pinned "$id"; then PINNED_IDS+=("$id"); else UNPINNED_IDS+=("$id"); fi
done
for run in $(seq "$RUNS"); do
    if [ ${#PINNED_IDS[@]} -gt 0 ]; then
        log "=== load round $run of $RUNS: ${PINNED_IDS[*]}"
        load_round "$run" "${PINNED_IDS[@]}"
    fi
    # The unpinned variants use both CPUs, wrk's too: one at a time.
    for id in "${UNPINNED_IDS[@]}"; do
        log "=== $id: load round $run of $RUNS"
        load_round "$run" "$id"
    done
done

# Instructions per request under callgrind (independent of the load): ours
# (log off and on), may and hyper at 64, 256 and 1000 connections.
if command -v valgrind >/dev/null && command -v strace >/dev/null; then
    instr_ids=""
    for id in ours may hyper; do selected "$id" && instr_ids+="${instr_ids:+,}$id"; done
    if selected ours; then instr_ids+="${instr_ids:+,}ours-log"; fi
    if [ -n "$instr_ids" ]; then
        log "instructions per request (callgrind): $instr_ids"
        requests=20000
        [ "$MODE" = quick ] && requests=6000
        bash "$ROOT/benches/instr.sh" --no-build --syscalls --only "$instr_ids" --requests "$requests" \
            --tsv "$RAW" >"$WORK/instr.txt" 2>&1 || log "instr.sh failed (see $WORK/instr.txt)"
        meta "instructions" "benches/instr.sh --syscalls --requests $requests (callgrind, fixed sequence; see benches/README.md)"
    fi
else
    log "valgrind or strace missing: no instructions-per-request figures"
fi

meta "load average at end" "$(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$RESULTS"
cp "$RAW" "$RESULTS/latest.tsv"
"$BIN/bench-report" "$RAW" "$RESULTS/latest.md" "$RESULTS/latest.svg"
log "wrote $RESULTS/latest.md, latest.svg and latest.tsv (raw logs: $WORK)"
