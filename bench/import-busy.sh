#!/usr/bin/env bash
# Issue 27, point 12: a 1,000,000-row import (BOM, CRLF, quoted fields, 200,000 of its
# addresses already known) into a store that already holds 350,000 subscribers: its peak RSS,
# and how long `newsroom unsubscribe` (a writer, as serve's one-click is) waits while it runs.
#
#   bash bench/import-busy.sh                      # this tree's release build
#   OLD=/path/to/old/newsroom bash bench/import-busy.sh   # and another binary, alternating
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
cargo build --release --quiet --bins
need_time
WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-import-busy.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef0123456789
python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
with open(f"{w}/k350.csv", "w") as f:
    f.write("email,name,status\n")
    for i in range(350000):
        f.write(f"old{i:07d}@example.org,Old Reader {i},subscribed\n")
with open(f"{w}/m1.csv", "wb") as f:
    f.write("\ufeffemail,name,status,company\r\n".encode())
    for i in range(1000000):
        a = f"old{i:07d}@example.org" if i < 200000 else f"new{i:07d}@example.org"
        f.write(f'"{a}","Reader, number {i}",subscribed,"Company ""{i % 1000}"""\r\n'.encode())
PY
bins=("new:$(pwd)/target/release/newsroom")
if [ -n "${OLD:-}" ]; then bins=("old:$OLD" "${bins[@]}"); fi
echo "| binary | import s | import peak RSS MB | slowest of 5 unsubscribes during it, s | failed |"
echo "| --- | --- | --- | --- | --- |"
for pair in "${bins[@]}"; do
    name=${pair%%:*} bin=${pair#*:}
    site="$WORK/site-$name"
    mkdir -p "$site"
    printf 'site:\n  title: Bench\n  url: https://bench.example.org\n' >"$site/newsroom.yaml"
    "$bin" -C "$site" subscribers import "$WORK/k350.csv" >/dev/null
    /usr/bin/time -o "$WORK/import.txt" -f '%e %M' "$bin" -C "$site" subscribers import "$WORK/m1.csv" >/dev/null 2>&1 &
    importing=$!
    sleep 2
    slowest=0 failed=0
    for i in 1 2 3 4 5; do
        start=$(date +%s.%N)
        "$bin" -C "$site" unsubscribe "old000000$i@example.org" >/dev/null 2>&1 || failed=$((failed + 1))
        took=$(echo "$(date +%s.%N) - $start" | bc)
        slowest=$(echo "if ($took > $slowest) $took else $slowest" | bc)
        sleep 0.5
    done
    wait "$importing"
    read -r seconds kb <"$WORK/import.txt"
    printf '| %s | %s | %.1f | %.2f | %d |\n' "$name" "$seconds" "$(echo "$kb / 1024" | bc -l)" "$slowest" "$failed"
    rm -rf "$site"
done
