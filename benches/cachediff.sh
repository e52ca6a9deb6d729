#!/usr/bin/env bash
# Per-function cost of one request, from two callgrind files of
# `benches/instr.sh --keep DIR` that differ only in the number of rounds:
# (B - A) / N for each event, one line per function (inlined code is listed
# under the source file it came from), sorted by the first event.
#
#   bash benches/instr.sh --only ours --conns 1000 --requests 6000 --cache --keep /tmp/k
#   bash benches/cachediff.sh /tmp/k/ours.c1000.r2.callgrind /tmp/k/ours.c1000.r8.callgrind 6000
#   EVENTS=Ir TOP=60 bash benches/cachediff.sh A B N
#
# EVENTS defaults to DLmr,DLmw,D1mr,D1mw,Ir (last-level and D1 read / write
# misses, instructions; the cache events need `--cache`). N is the request
# difference instr.sh prints ("N requests apart").
set -euo pipefail
A=${1:?callgrind file with fewer rounds}
B=${2:?callgrind file with more rounds}
N=${3:?requests between them}
EV=${EVENTS:-DLmr,DLmw,D1mr,D1mw,Ir}
NEV=$(tr , ' ' <<<"$EV" | wc -w)

# function → its self cost per event, one line each
per_function() {
    callgrind_annotate --show="$EV" --sort="${EV%%,*}" --threshold=100 \
        --inclusive=no --auto=no "$1" 2>/dev/null |
        awk -v n="$NEV" '
            /^-+$/ { dashes++; next }
            dashes >= 4 && /file:function/ { body = 1; next }
            body && NF {
                line = $0; vals = ""
                for (i = 1; i <= n; i++) {
                    sub(/^ +/, "", line)
                    v = line; sub(/ .*/, "", v)
                    sub(/^[^ ]+ +(\([^)]*\) +)?/, "", line)
                    gsub(",", "", v); if (v == ".") v = 0
                    vals = vals " " v
                }
                key = line; sub(/ \[.*\]$/, "", key); gsub(/ /, "_", key)
                if (key !~ /^=>/ && !(key in seen)) { seen[key] = 1; print key vals }
            }' | sort -k1,1
}

echo "# per request: $EV  function"
join -a1 -a2 -e0 -o auto <(per_function "$A") <(per_function "$B") |
    awk -v n="$N" -v m="$NEV" '{
        out = ""
        for (i = 2; i <= m + 1; i++) { d = ($(i + m) - $i) / n; out = out sprintf(" %8.2f", d); if (i == 2) k = d }
        print k, out, $1
    }' | sort -k1,1gr | cut -d' ' -f2- |
    sed 's#/rustc/[0-9a-f]*/library/##; s#/root/.cargo/registry/src/index.crates.io-[0-9a-f]*/##' |
    head -"${TOP:-40}"
