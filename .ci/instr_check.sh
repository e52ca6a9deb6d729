#!/usr/bin/env bash
# CI: our server's instructions per request (callgrind, benches/instr.sh) on a
# small fixed sequence must not grow more than 10 % over the baseline kept in
# benches/baseline/instr.tsv. Instruction counts do not depend on the machine's
# load, so this can run on a busy CI machine.
#
#   bash .ci/instr_check.sh            # check
#   bash .ci/instr_check.sh --update   # measure and rewrite the baseline
#                                      # (commit it: re-baselining is reviewed)
#
# Built with the `quick` profile (release without LTO: a few minutes on 2
# cores); the baseline is only comparable with the same profile and sequence.
set -euo pipefail
cd "$(dirname "$0")/.."
BASELINE=benches/baseline/instr.tsv
PROFILE=quick
CONNS=64
REQUESTS=4000
LIMIT_PCT=10

if ! command -v valgrind >/dev/null; then
    if command -v apt-get >/dev/null; then
        { apt-get update && apt-get install -y valgrind; } >/tmp/instr_check_apt.log 2>&1 ||
            { echo "valgrind is missing and apt-get could not install it" >&2; exit 1; }
    else
        echo "valgrind is required" >&2
        exit 1
    fi
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --quiet --profile "$PROFILE" --example bench_server --example bench_reqseq
OUT=$CARGO_TARGET_DIR/$PROFILE/examples
TSV=$(mktemp)
trap 'rm -f "$TSV"' EXIT
OURS_BIN=$OUT/bench_server DRIVER=$OUT/bench_reqseq \
    bash benches/instr.sh --no-build --only ours --conns "$CONNS" --requests "$REQUESTS" --tsv "$TSV"
now=$(awk -F'\t' -v m="instr_c$CONNS" '$1 == "run" && $2 == "ours" && $3 == m {print $4}' "$TSV")
[ -n "$now" ] || { echo "no measurement" >&2; exit 1; }

if [ "${1:-}" = --update ]; then
    {
        printf '# benches/instr.sh --only ours --conns %s --requests %s, built with --profile %s.\n' "$CONNS" "$REQUESTS" "$PROFILE"
        printf '# Written by `bash .ci/instr_check.sh --update`; %s, %s, %s.\n' \
            "$(rustc --version)" "$(valgrind --version)" "$(ldd --version | head -1)"
        printf 'ours\tinstr_c%s\t%s\n' "$CONNS" "$now"
    } >"$BASELINE"
    echo "baseline updated: $now instructions/request (review and commit $BASELINE)"
    exit 0
fi

base=$(awk -F'\t' -v m="instr_c$CONNS" '$1 == "ours" && $2 == m {print $3}' "$BASELINE")
[ -n "$base" ] || { echo "no baseline in $BASELINE (run with --update)" >&2; exit 1; }
limit=$(( base * (100 + LIMIT_PCT) / 100 ))
echo "instructions/request at c$CONNS: $now (baseline $base, limit $limit)"
if [ "$now" -gt "$limit" ]; then
    echo "FAIL: our server's instructions per request grew more than $LIMIT_PCT % over the baseline." >&2
    echo "Profile it (bash benches/instr.sh --only ours --keep DIR; callgrind_annotate), or, if the" >&2
    echo "growth is intended, re-baseline with 'bash .ci/instr_check.sh --update' in a reviewed commit." >&2
    exit 1
fi
