#!/usr/bin/env bash
# Measures `newsroom inbound --maildir` against issue 19's limit of 2,000 messages a second.
#
# The Maildir holds N messages (default 20,000): the fixtures of tests/fixtures/returned/
# (bounces of eight MTAs and providers, ARF complaints, mailto unsubscribes, auto-replies,
# unrecognised mail) over and over, each copy made distinct by an `X-Bench-Copy:` header so
# that none is "handled before". The store holds the fixtures' 12 subscribers plus 10,000
# others, and the October 2026 digest's ledger rows, as a real site's would. Each of RUNS runs
# starts from a fresh copy of the Maildir and the store; the rate is N / wall time of the
# whole command (opening the store, reading, classifying, committing each message, moving it
# to .Done). Prints a Markdown table row with the median, and the ratio to 2,000 msg/s.
#
#   bash bench/inbound.sh [N]        RUNS=3 (default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
N=${1:-20000}
RUNS=${RUNS:-3}
LIMIT=2000
need_time
cargo build --release --quiet --bins
BIN="$ROOT/target/release/newsroom"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-inbound.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=newsroom-test-secret-0123456789abcdef

site="$WORK/site"
mkdir -p "$site/posts"
cat >"$site/newsroom.yaml" <<'YAML'
site:
  title: Lantern Community Blog
  url: https://example.org
digest:
  from: "Lantern Community <news@example.org>"
  list_id: news.example.org
  unsubscribe_mailto: unsubscribe@example.org
delivery:
  return_path: "bounces+{token}@example.org"
YAML
{
    echo "email,name,status"
    for a in ada@example.com bob@example.net carol@mail.example.org dave@outlook.example erin@gmail.example \
        frank@yahoo.example grace@aol.example heidi@example.com ivan@example.net judy@example.org \
        mallory@example.com oscar@example.net; do echo "$a,,subscribed"; done
    awk 'BEGIN { for (i = 1; i <= 10000; i++) printf "reader%05d@example.org,,subscribed\n", i }'
} >"$WORK/subscribers.csv"
"$BIN" -C "$site" subscribers import "$WORK/subscribers.csv" >/dev/null
cp -r "$site/.newsroom" "$WORK/store"

mapfile -t fixtures < <(find tests/fixtures/returned -name '*.eml' | sort)
maildir="$WORK/Maildir"
mkdir -p "$maildir"/{new,cur,tmp}
for ((i = 0; i < N; i++)); do
    f=${fixtures[$((i % ${#fixtures[@]}))]}
    { printf 'X-Bench-Copy: %d\n' "$i"; cat "$f"; } >"$maildir/new/$i.bench"
done
cp -r "$maildir" "$WORK/maildir-pristine"
bytes=$(du -sb "$maildir/new" | cut -f1)

: >"$WORK/times.txt"
for _ in $(seq "$RUNS"); do
    rm -rf "$site/.newsroom" "$maildir"
    cp -r "$WORK/store" "$site/.newsroom"
    cp -r "$WORK/maildir-pristine" "$maildir"
    sync
    timed "$WORK/times.txt" '%e %M' "$BIN" -C "$site" inbound --maildir "$maildir"
    tail -n 1 "$WORK/cmd.out" >&2
done
s=$(median "$WORK/times.txt" 1)
m=$(median "$WORK/times.txt" 2)
echo
echo "| messages | MB | inbound s | messages/s | limit | ratio | peak RSS MB |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
awk -v n="$N" -v b="$bytes" -v s="$s" -v m="$m" -v l="$LIMIT" 'BEGIN {
    printf "| %d | %.1f | %.2f | %.0f | %d | %.2fx | %.1f |\n", n, b / 1e6, s, n / s, l, n / s / l, m / 1024 }'
echo
echo "Fixtures: ${#fixtures[@]}. Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: *//')"
echo "Command: RUNS=$RUNS bash bench/inbound.sh $N"
