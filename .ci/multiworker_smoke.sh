#!/usr/bin/env bash
# CI: an optimised server with two worker threads under concurrent keep-alive
# load must keep serving. Green threads migrate between workers at yields,
# and optimised code may reuse a thread-local's address across a yield when
# the access is inlined into a function that yields (may's TLS hazard): debug
# builds, which `cargo test` uses, do not inline and never show it, and the
# `quick` profile (no LTO, 16 codegen units) did not either; the release
# build crashed in the first round with the environ pool's accessors inlined
# (checked by reverting 9aa8006's fix), and passes with them.
#
#   bash .ci/multiworker_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${SMOKE_PROFILE:-release}
ROUNDS=${SMOKE_ROUNDS:-3}
cargo build --profile "$PROFILE" --quiet --example bench_server --example bench_reqseq
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/examples

fail() { echo "multiworker smoke: $*" >&2; exit 1; }

for round in $(seq "$ROUNDS"); do
    log=$(mktemp)
    EVENTLET_BENCH_WORKERS=2 "$BIN/bench_server" 127.0.0.1:0 >"$log" 2>&1 &
    pid=$!
    addr=""
    for _ in $(seq 100); do
        # bench_server prints the address it was given: find the bound port.
        addr=$(ss -ltnpH 2>/dev/null | grep "pid=$pid," | grep -o '127\.0\.0\.1:[0-9]*' | head -1 || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { kill -9 "$pid" 2>/dev/null; fail "the server printed no address: $(cat "$log")"; }
    # Two clients at once, 256 connections each: both workers busy, green
    # threads handed between them.
    "$BIN/bench_reqseq" "$addr" 256 300 >/dev/null &
    c1=$!
    "$BIN/bench_reqseq" "$addr" 256 300 >/dev/null &
    c2=$!
    ok=yes
    wait "$c1" || ok=no
    wait "$c2" || ok=no
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" || true
        fail "round $round: the server died under load: $(tail -5 "$log")"
    fi
    kill -TERM "$pid"
    wait "$pid" || fail "round $round: the server exited with $? at shutdown: $(tail -5 "$log")"
    [ "$ok" = yes ] || fail "round $round: a client failed (server log: $(tail -5 "$log"))"
    rm -f "$log"
    echo "multiworker smoke round $round: ok (2 workers, 2 x 256 connections x 300 rounds)"
done
