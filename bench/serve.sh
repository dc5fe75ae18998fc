#!/usr/bin/env bash
# Measures `newsroom serve` under load (issue 18), with bench/harness/serve_load.rs as the client
# (each request carries its own token, which a general load generator cannot make):
#
#   1. static:  N GETs of /newsroom.css: the same server and client with no token and no
#               store, the floor ("the limit") the other two are set beside;
#   2. scanner: N GETs of N distinct unsubscribe links (a link-scanner storm): each verifies a
#               token and looks the reader up; afterwards the store must hold 0 unsubscribes;
#   3. one-click: N POSTs of RFC 8058's body to the same N links: each must be committed
#               before its 200; afterwards the store must hold exactly N unsubscribes and N
#               one-click events (counted with the sqlite3 shell).
#
# The client runs on one thread, serve on the rest of the machine: both on the same 2 cores.
# Peak RSS is serve's (GNU time). Prints a Markdown table.
#
#   bash bench/serve.sh                 # 100000 requests each, 64 connections
#   N=20000 CONCURRENCY=64 bash bench/serve.sh
#   STORE=postgres bash bench/serve.sh  # the store in a PostgreSQL cluster of the run's own
#                                       # (scripts/pg-cluster.sh), on the same 2 cores
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
N=${N:-100000}
CONCURRENCY=${CONCURRENCY:-64}

cargo build --release --quiet --bins --example serve_load
BIN=${BIN:-"$ROOT/target/release/newsroom"}
LOAD="$ROOT/target/release/examples/serve_load"
need_time
if ! command -v sqlite3 >/dev/null; then apt_install sqlite3; fi
STORE=${STORE:-sqlite}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-serve.XXXXXX")
# The cluster gets a folder of its own: initdb runs as `postgres`, which
# cannot enter a private temporary folder of root\'s.
pg_dir=$(mktemp -d)
SERVE_PID=""
cleanup() {
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; fi
    if [ "$STORE" = postgres ]; then "$ROOT/scripts/pg-cluster.sh" stop "$pg_dir"; else rmdir "$pg_dir"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
SECRET=bench-secret-0123456789abcdef0123456789
LIST_ID=news.bench.example.org
site="$WORK/site"
serve_site "$site" "$LIST_ID" "$N"
if [ "$STORE" = postgres ]; then
    NEWSROOM_STORE_URL=$("$ROOT/scripts/pg-cluster.sh" start "$pg_dir" "${PGPORT_BENCH:-55435}")
    export NEWSROOM_STORE_URL
    sql() { psql "$NEWSROOM_STORE_URL" -Atc "$1"; }
else
    sql() { sqlite3 "$site/.newsroom/newsroom.sqlite" "$1"; }
fi
"$BIN" -C "$site" subscribers import "$WORK/list.csv" >/dev/null
first=$(sql "SELECT min(id) FROM subscribers")

NEWSROOM_UNSUBSCRIBE_SECRET=$SECRET /usr/bin/time -o "$WORK/time.txt" -f '%M' \
    "$BIN" -C "$site" serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 100); do
    if grep -q 'http://' "$WORK/serve.out" 2>/dev/null; then break; fi
    sleep 0.1
done
address=$(grep -o 'http://[0-9.:]*' "$WORK/serve.out")
# Serve's resident memory once it answers, before any load (VmRSS of the
# process GNU time runs): what the binary and its start-up cost alone.
serve_pid=$(pgrep -P "$SERVE_PID" | head -1)
started_rss=$(awk '/^VmRSS:/ { printf "%.1f MB", $2 / 1024 }' "/proc/$serve_pid/status")

echo
echo "N=$N, $CONCURRENCY connections, store: $STORE, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
echo
echo "| requests | what | ok | seconds | per second | ratio to the static floor | p50 ms | p99 ms | max ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
floor=""
for mode in static get post; do
    read -r requests ok seconds rate p50 p99 max < <("$LOAD" "$address" "$SECRET" "$LIST_ID" "$first" "$N" "$CONCURRENCY" "$mode")
    if [ -z "$floor" ]; then floor=$rate; fi
    what=$mode
    case $mode in
        static) what="GET /newsroom.css (the floor)" ;;
        get) what="GET of distinct unsubscribe links (scanner storm)" ;;
        post) what="one-click POSTs, distinct readers" ;;
    esac
    awk -v r="$requests" -v w="$what" -v o="$ok" -v s="$seconds" -v q="$rate" -v f="$floor" -v a="$p50" -v b="$p99" -v m="$max" \
        'BEGIN { printf "| %d | %s | %d | %.2f | %d | %.2f× | %.2f | %.2f | %.2f |\n", r, w, o, s, q, q / f, a, b, m }'
    unsubscribed=$(sql "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")
    if [ "$mode" = get ] && [ "$unsubscribed" -ne 0 ]; then
        echo "bench: the scanner storm unsubscribed $unsubscribed readers" >&2
        exit 1
    fi
    if [ "$mode" = post ]; then
        events=$(sql "SELECT count(*) FROM events WHERE kind = 'unsubscribed' AND channel = 'one-click'")
        if [ "$unsubscribed" -ne "$N" ] || [ "$events" -ne "$N" ] || [ "$ok" -ne "$N" ]; then
            echo "bench: $ok answered 200, $unsubscribed unsubscribed, $events events; expected $N each" >&2
            exit 1
        fi
    fi
done
pkill -TERM -P "$SERVE_PID"
wait "$SERVE_PID" || true
SERVE_PID=""
echo
echo "serve's RSS when it started answering: $started_rss; peak RSS: $(awk '{ printf "%.1f MB", $1 / 1024 }' "$WORK/time.txt"); after the run the store holds $N unsubscribes and $N one-click events, and the scanner storm changed nothing"
