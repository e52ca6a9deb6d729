# Readers of callgrind and strace output, shared by benches/instr.sh and
# benches/ws/instr.sh (sourced, not run).

event_total() { # callgrind file, event names... → their sum in the totals
    local f=$1
    shift
    awk -v want=" $* " '
        /^events:/ { for (i = 2; i <= NF; i++) col[i - 1] = $i }
        /^(summary|totals):/ {
            s = 0
            for (i = 2; i <= NF; i++) if (index(want, " " col[i - 1] " ")) s += $i
            print s
            exit
        }' "$f"
}

total_ir() { event_total "$1" Ir; }

total_syscalls() { # strace -c -U calls,name file → total calls
    awk '$2 == "total" {print $1; exit}' "$1"
}
