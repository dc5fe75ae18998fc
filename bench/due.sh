#!/usr/bin/env bash
# Measures how long `newsroom digest send --due` takes to decide what is due on a store with
# 24 monthly digests of 100,000 deliveries each (2.4 M ledger rows, all sent; the latest ended
# month, 2026-10, among them), when nothing is due: the whole run, which reads the ledger's
# digests, asks whether the latest one has rows left to send, says "nothing is due" and exits.
#
# Alternating in each round, RUNS times (default 15), each a fresh process, wall time by
# `date +%s%N`:
#   floor   `newsroom --version`: starting the binary, nothing else
#   small   `digest send --due` on the same site with a store of one digest of 3 rows
#   large   `digest send --due` on the 2.4 M-row store
# and prints the medians in ms and large/small. The target (issue 28) is large < 100 ms.
#
# The store is made by newsroom (`subscribers add`, which creates and migrates it), then
# filled with sqlite3 (installed when missing): ~25 s and ~350 MB in $TMPDIR.
#
#   bash bench/due.sh
#   BIN=/path/to/newsroom RUNS=30 bash bench/due.sh
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
RUNS=${RUNS:-15}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bins
    BIN="$(pwd)/target/release/newsroom"
fi
command -v sqlite3 >/dev/null || apt_install sqlite3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-due.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef0123456789
export NEWSROOM_SMTP_URL=smtp://127.0.0.1:9 # never reached: nothing is due

# site DIR: a monthly site with one post and one subscriber, and its store.
site() {
    mkdir -p "$1/posts"
    cat >"$1/newsroom.yaml" <<YAML
site:
  title: Due
  url: https://due.example.org
  author: { name: Due }
digest:
  from: "Due <news@due.example.org>"
  postal_address: "1 Due Road, Example Town"
  unsubscribe_url: "https://due.example.org/unsubscribe/{token}"
  cadence: monthly
YAML
    printf -- '---\ntitle: October\ndate: 2026-10-05\n---\n\nNews.\n' >"$1/posts/october.md"
    "$BIN" -C "$1" subscribers add ada@example.org >/dev/null
}

# fill STORE MONTHS ROWS: MONTHS digests ending with 2026-10, ROWS sent deliveries each.
fill() {
    local store=$1 months=$2 rows=$3
    {
        echo "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN;"
        for ((m = months - 1; m >= 0; m--)); do
            local id
            id="digest-$(date -u -d "2026-10-01 - $m months" +%Y-%m)"
            echo "INSERT INTO digests (digest_id, frozen_at, recipients, unfinished, posts)
                  VALUES ('$id', '2026-01-01T00:00:00Z', $rows, 0, 'https://due.example.org/october');"
            echo "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
                  INSERT INTO deliveries (digest_id, address, state, attempts, message_id, updated_at)
                  SELECT '$id', printf('sub%07d@example.org', i), 'sent', 1,
                         printf('<$id.%d@due.example.org>', i), '2026-01-01T00:00:00Z' FROM n;"
        done
        echo "COMMIT;"
    } | sqlite3 "$store" >/dev/null
}

site "$WORK/small"
fill "$WORK/small/.newsroom/newsroom.sqlite" 1 3
site "$WORK/large"
start=$(date +%s)
fill "$WORK/large/.newsroom/newsroom.sqlite" 24 100000
echo "filled: $(sqlite3 "$WORK/large/.newsroom/newsroom.sqlite" 'SELECT COUNT(*) FROM deliveries') rows in $(($(date +%s) - start)) s, $(du -m "$WORK/large/.newsroom/newsroom.sqlite" | cut -f1) MB"

# ms CMD...: the wall time of CMD in ms (its output checked by the caller's grep).
ms() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >"$WORK/out" 2>&1
    t1=$(date +%s%N)
    echo "scale=2; ($t1 - $t0) / 1000000" | bc
}
due() {
    "$BIN" -C "$1" digest send --due
}
for name in floor small large; do : >"$WORK/$name.ms"; done
# One unmeasured run of each: the store's pages in the page cache.
due "$WORK/small" >/dev/null
due "$WORK/large" | tee "$WORK/said"
grep -q 'nothing is due' "$WORK/said"
for ((i = 0; i < RUNS; i++)); do
    ms "$BIN" --version >>"$WORK/floor.ms"
    ms due "$WORK/small" >>"$WORK/small.ms"
    grep -q 'nothing is due' "$WORK/out"
    ms due "$WORK/large" >>"$WORK/large.ms"
    grep -q 'nothing is due' "$WORK/out"
done
floor=$(median "$WORK/floor.ms" 1)
small=$(median "$WORK/small.ms" 1)
large=$(median "$WORK/large.ms" 1)
echo
echo "| runs | floor (--version) ms | small store ms | 2.4 M-row store ms | large / small | target |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| $RUNS | $floor | $small | $large | $(echo "scale=2; $large / $small" | bc) | < 100 ms |"
echo "load: $(uptime)"
