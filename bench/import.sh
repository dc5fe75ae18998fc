#!/usr/bin/env bash
# Measures `newsroom subscribers import` of a generated N-row subscriber file (email, name,
# status, one extra column; every 50th row unsubscribed) into an empty store, then the re-import
# of the same file, against "the limit": the sqlite3 shell loading the same file (`.import`, one
# transaction) into a table with the store's unique key, in WAL mode, and doing nothing else.
# newsroom does more per row than that: it validates and normalises the address, finds
# duplicates, applies the merge rules, and records one event per subscriber.
#
# For each size it runs, alternating, the limit, the import and the re-import RUNS times each
# (default 3; a fresh store for each import) under /usr/bin/time and prints one Markdown table
# row of medians, the ratio to the limit, the peak RSS, and the events the re-import wrote
# (counted with the sqlite3 shell; it must be 0).
#
# Run from anywhere (it cds to the repo root):
#   bash bench/import.sh              # 1000000 rows
#   RUNS=1 bash bench/import.sh 100000
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
SIZES=("$@")
if [ ${#SIZES[@]} -eq 0 ]; then SIZES=(1000000); fi
RUNS=${RUNS:-3}

cargo build --release --quiet --bins
BIN="$ROOT/target/release/newsroom"
need_time
if ! command -v sqlite3 >/dev/null; then apt_install sqlite3; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-import.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export NEWSROOM_NOW=2026-11-22T12:00:00Z
TIME_FORMAT='%e %M'

echo
echo "| rows | limit s | import s | ratio | import peak RSS MB | re-import s | re-import ratio | re-import peak RSS MB | events written by the re-import |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${SIZES[@]}"; do
    csv="$WORK/subscribers-$n.csv"
    awk -v n="$n" 'BEGIN { print "email,name,status,company"; for (i = 1; i <= n; i++) printf "sub%07d@example.org,Subscriber %07d,%s,Company %d\n", i, i, (i % 50 == 0 ? "unsubscribed" : "subscribed"), i % 1000 }' >"$csv"
    : >"$WORK/limit.txt"
    : >"$WORK/import.txt"
    : >"$WORK/reimport.txt"
    for run in $(seq "$RUNS"); do
        db="$WORK/limit-$n-$run.sqlite"
        sqlite3 "$db" "PRAGMA journal_mode = WAL; CREATE TABLE subscribers (email TEXT NOT NULL UNIQUE, name TEXT, status TEXT, company TEXT);" >/dev/null
        sync
        timed "$WORK/limit.txt" "$TIME_FORMAT" sqlite3 "$db" ".import --csv --skip 1 $csv subscribers"
        rm -f "$db" "$db-wal" "$db-shm"

        site="$WORK/site-$n-$run"
        mkdir -p "$site"
        printf 'site:\n  title: Bench\n  url: https://bench.example.org\n' >"$site/newsroom.yaml"
        sync
        timed "$WORK/import.txt" "$TIME_FORMAT" "$BIN" -C "$site" subscribers import "$csv"
        if ! grep -q "changed: $n added" "$WORK/cmd.out"; then
            cat "$WORK/cmd.out" >&2
            echo "bench: the import did not add $n subscribers" >&2
            exit 1
        fi
        store="$site/.newsroom/newsroom.sqlite"
        before=$(sqlite3 "$store" "SELECT count(*) FROM events")
        timed "$WORK/reimport.txt" "$TIME_FORMAT" "$BIN" -C "$site" subscribers import "$csv"
        after=$(sqlite3 "$store" "SELECT count(*) FROM events")
        if ! grep -q "changed: nothing" "$WORK/cmd.out"; then
            cat "$WORK/cmd.out" >&2
            echo "bench: the re-import changed something" >&2
            exit 1
        fi
        written=$((after - before))
        rm -rf "$site"
    done
    limit=$(median "$WORK/limit.txt" 1)
    import=$(median "$WORK/import.txt" 1)
    import_kb=$(median "$WORK/import.txt" 2)
    reimport=$(median "$WORK/reimport.txt" 1)
    reimport_kb=$(median "$WORK/reimport.txt" 2)
    awk -v n="$n" -v l="$limit" -v i="$import" -v ik="$import_kb" -v r="$reimport" -v rk="$reimport_kb" -v w="$written" \
        'BEGIN { printf "| %d | %.2f | %.2f | %.2fx | %.1f | %.2f | %.2fx | %.1f | %d |\n", n, l, i, i / l, ik / 1024, r, r / l, rk / 1024, w }'
done
