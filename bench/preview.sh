#!/usr/bin/env bash
# Measures `newsroom digest preview` of the example site's October 2026 digest (3 posts, ~10 KB
# messages, NEWSROOM_NOW fixed) for N generated subscribers against "the limit":
# bench/harness/preview_limit.rs, which writes N files of the same size with the same names into a
# fresh folder on every core, plus a manifest line each, and does nothing else. For each size it
# runs, alternating, the limit and preview RUNS times each (default 3) under /usr/bin/time and
# prints one Markdown table row of medians: wall time, µs per message, the µs per message preview
# spends above the limit, and peak RSS. It then checks the last preview's messages with
# ../shared/tools/check-eml.
#
# Every run writes into a fresh folder, with `sync` before it, and nothing is deleted until the
# script ends (~7 GB and ~800,000 files in $TMPDIR for 10000 and 100000 subscribers): for
# minutes after many files are deleted, ext4 makes creating new ones slow (`recently_deleted`),
# and deleting the previous run's 100,000 files right before a timed run made whichever program
# came next pay for it (in one run of the earlier version of this script the limit took 11 µs a
# file at 10k and 225 µs at 100k).
#
# Which of the two programs pays for that depends on where ext4 puts each new folder's inodes, so
# the wall-time ratio on a disk carries noise that is not newsroom's. Two figures do not: the
# user CPU per message (all of preview's own work, loading and rendering included, over N), and a
# run on tmpfs (TMPDIR=/dev/shm), where creating a file has no allocator history and
# "above the limit" is the cost of building each message.
#
# Run from anywhere (it cds to the repo root):
#   bash bench/preview.sh                 # 10000 and 100000 subscribers, in /tmp
#   bash bench/preview.sh 1000 10000
#   TMPDIR=/dev/shm bash bench/preview.sh # on tmpfs (each run's files removed once timed)
#   OLD=/path/to/old/newsroom bash bench/preview.sh 10000   # and another binary: in each round
#                                         # the limit, then this tree's and OLD's previews in
#                                         # turn (which goes first alternates), a row each
#
# On tmpfs a run's folder is removed as soon as it is timed (the last preview's is kept for
# check-eml): tmpfs has no ext4 history to make the next run pay, and 100000 subscribers would
# otherwise hold ~1 GB of memory a run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
SIZES=("$@")
if [ ${#SIZES[@]} -eq 0 ]; then SIZES=(10000 100000); fi
RUNS=${RUNS:-3}
CHECK_EML="$ROOT/../shared/tools/check-eml"

cargo build --release --quiet --examples --bins
BIN="$ROOT/target/release/newsroom"
LIMIT="$ROOT/target/release/examples/preview_limit"

need_time

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-preview.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TMPFS=0
[ "$(findmnt -no FSTYPE -T "$WORK" | head -n 1)" = tmpfs ] && TMPFS=1
# done_with DIR: forgets a timed run's output on tmpfs (see above).
done_with() { if [ "$TMPFS" = 1 ]; then rm -rf "$1"; fi; }
BINS=("new:$BIN")
if [ -n "${OLD:-}" ]; then BINS+=("old:$OLD"); fi
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef0123456789

# Each timed run appends "seconds kb user-seconds" to its file (bench/lib.sh's `timed`); any
# failure stops the benchmark.
TIME_FORMAT='%e %M %U'

echo
echo "| subscribers | binary | limit s | preview s | ratio | preview µs/message | above the limit µs/message | preview user CPU µs/message | limit peak RSS MB | preview peak RSS MB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${SIZES[@]}"; do
    site="$WORK/site-$n"
    mkdir -p "$site"
    cp -r newsroom.yaml posts templates "$site/"
    awk -v n="$n" 'BEGIN { print "email,name,status"; for (i = 1; i <= n; i++) printf "sub%06d@example.org,Subscriber %06d,subscribed\n", i, i }' \
        >"$site/subscribers.example.csv"
    # One untimed run: warms the page cache and gives the limit its message.
    "$BIN" -C "$site" digest preview --month 2026-10 --out "$WORK/warm-$n" >/dev/null 2>&1
    cp "$WORK/warm-$n/2026-10/messages/00001-sub000001@example.org.eml" "$WORK/message.eml"
    lf="$WORK/limit.txt"
    : >"$lf"
    for b in "${BINS[@]}"; do : >"$WORK/preview-${b%%:*}.txt"; done
    for run in $(seq "$RUNS"); do
        sync
        timed "$lf" "$TIME_FORMAT" "$LIMIT" "$WORK/message.eml" "$WORK/limit-$n-$run" "$n"
        done_with "$WORK/limit-$n-$run"
        # With OLD, which binary goes first alternates from round to round.
        order=("${BINS[@]}")
        if [ $((run % 2)) -eq 0 ] && [ ${#BINS[@]} -eq 2 ]; then order=("${BINS[1]}" "${BINS[0]}"); fi
        for b in "${order[@]}"; do
            name=${b%%:*} bin=${b#*:}
            sync
            timed "$WORK/preview-$name.txt" "$TIME_FORMAT" "$bin" -C "$site" digest preview --month 2026-10 --out "$WORK/preview-$name-$n-$run"
            if [ "$name" != new ] || [ "$run" -ne "$RUNS" ]; then done_with "$WORK/preview-$name-$n-$run"; fi
        done
    done
    for b in "${BINS[@]}"; do
        name=${b%%:*}
        pf="$WORK/preview-$name.txt"
        ls_=$(median "$lf" 1)
        ps=$(median "$pf" 1)
        lm=$(median "$lf" 2)
        pm=$(median "$pf" 2)
        pu=$(median "$pf" 3)
        awk -v n="$n" -v b="$name" -v ls="$ls_" -v ps="$ps" -v lm="$lm" -v pm="$pm" -v pu="$pu" 'BEGIN {
            r = (ls > 0) ? sprintf("%.2fx", ps / ls) : "n/a";
            printf "| %d | %s | %.2f | %.2f | %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
                n, b, ls, ps, r, ps * 1e6 / n, (ps - ls) * 1e6 / n, pu * 1e6 / n, lm / 1024, pm / 1024 }'
    done
    if [ ! -x "$CHECK_EML" ]; then
        echo "check-eml not found at $CHECK_EML (../shared/tools): the previews are not checked" >&2
        [ -n "${CI:-}" ] && exit 1
    else
        # The first 2,000 messages and the last: check-eml parses each one fully.
        mapfile -t files < <(find "$WORK/preview-new-$n-$RUNS/2026-10/messages" -name '*.eml' | sort | head -n 2000)
        files+=("$(find "$WORK/preview-new-$n-$RUNS/2026-10/messages" -name '*.eml' | sort | tail -n 1)")
        "$CHECK_EML" "${files[@]}" >"$WORK/check.out" 2>&1 || {
            cat "$WORK/check.out" >&2
            echo "check-eml failed on the $n-subscriber preview" >&2
            exit 1
        }
        echo "check-eml: ${#files[@]} messages of the $n-subscriber preview pass" >&2
    fi
done

echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: *//'), $(free -h | awk '/^Mem:/ {print $2}') RAM"
echo "Folder: $WORK ($(findmnt -no FSTYPE -T "$WORK" | head -n 1))"
echo "Command: RUNS=$RUNS TMPDIR=${TMPDIR:-/tmp} ${OLD:+OLD=$OLD }bash bench/preview.sh ${SIZES[*]}"
echo "Load at the end: $(uptime)"
