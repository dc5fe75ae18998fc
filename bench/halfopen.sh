#!/usr/bin/env bash
# Half-open flood (issue 27, point 1): serve under `ulimit -n 1024` (soft and
# hard), HALF_OPEN connections that never finish their headers (kept open,
# reopened as serve closes them), while POSTS one-click POSTs run one after
# another and /healthz is probed 500 times, 10 ms apart. The same run without the flood
# (HALF_OPEN=0) is the limit the flooded /healthz is set beside. Prints a
# Markdown table.
#
#   bash bench/halfopen.sh                  # 5000 half-open, 1000 POSTs
#   BIN=/path/to/newsroom bash bench/halfopen.sh   # another build (before/after)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
HALF_OPEN=${HALF_OPEN:-5000}
POSTS=${POSTS:-1000}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bins
    BIN="$ROOT/target/release/newsroom"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-halfopen.XXXXXX")
SERVE_PID=""
cleanup() {
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
LIST_ID=news.bench.example.org
site="$WORK/site"
serve_site "$site" "$LIST_ID" "$((POSTS * 2))"
"$BIN" -C "$site" subscribers import "$WORK/list.csv" >/dev/null
first=$(sqlite3 "$site/.newsroom/newsroom.sqlite" "SELECT min(id) FROM subscribers")

echo
echo "serve under ulimit -n 1024, $POSTS one-click POSTs, $(date -u '+%Y-%m-%d %H:%M UTC'), $("$BIN" --version 2>/dev/null || echo newsroom)"
echo
echo "| half-open connections | failed POSTs | /healthz p50 ms | p99 ms | max ms | half-open opened |"
echo "| --- | --- | --- | --- | --- | --- |"
for flood in 0 "$HALF_OPEN"; do
    (ulimit -n 1024; exec env NEWSROOM_UNSUBSCRIBE_SECRET=$SECRET "$BIN" -C "$site" serve --listen 127.0.0.1:0) >"$WORK/serve.out" 2>/dev/null &
    SERVE_PID=$!
    for _ in $(seq 100); do
        if grep -q 'http://' "$WORK/serve.out" 2>/dev/null; then break; fi
        sleep 0.1
    done
    address=$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | sed 's|http://||')
    offset=$([ "$flood" = 0 ] && echo 0 || echo "$POSTS")
    read -r failed posts p50 p99 max opened < <(timeout 600 python3 bench/halfopen.py "$address" "$SECRET" "$LIST_ID" "$((first + offset))" "$POSTS" "$flood")
    echo "| $flood | $failed of $posts | $p50 | $p99 | $max | $opened |"
    kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=""
done
