#!/usr/bin/env bash
# Measures what `newsroom serve`'s rate limiters keep of the clients they saw (issue 27,
# point 7): N requests (2,000,000 by default) from N distinct clients, each named by the
# loopback proxy's X-Forwarded-For (serve.trusted_proxies' default), each a new key of the
# per-client limiter. bench/harness/serve_load.rs (`clients` mode, GETs of /newsroom.css) is the
# client, on one thread; serve has the rest of the machine.
#
# serve's VmRSS (from /proc/PID/status) is read at start, when the load ends, once the
# next pruning pass has run (its log line "rate limits: forgot K keys, M kept") with serve
# idle, and again after 10,000 ordinary requests from one client, with VmHWM as the peak.
# The second reading is there because the allocator (mimalloc) gives freed pages back to
# the system only when the threads that own them allocate again: an idle serve keeps
# them, a serve with any traffic returns them. The limit (issue 27): after the prune, RSS
# is within 10 MB of the start. Prints a Markdown table.
#
#   bash bench/limiter-memory.sh                 # 2,000,000 clients, prune every 90 s
#   N=200000 PRUNE_EVERY=30 bash bench/limiter-memory.sh
#
# PRUNE_EVERY becomes serve.prune_every_seconds (default 60 in serve); the bench's default
# is longer than the load takes, so the peak holds every client, as without pruning. An
# empty PRUNE_EVERY leaves the setting out, for a binary that does not know it (BIN=...,
# built from before the pruning): then the script waits WAIT seconds (default 250) from
# serve's start and reads RSS then.
#
#   BIN=/tmp/newsroom-before PRUNE_EVERY= bash bench/limiter-memory.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
N=${N:-2000000}
CONCURRENCY=${CONCURRENCY:-64}
PRUNE_EVERY=${PRUNE_EVERY-90}
WAIT=${WAIT:-100}
LIMIT_MB=10

cargo build --release --quiet --bins --example serve_load
BIN=${BIN:-"$ROOT/target/release/newsroom"}
LOAD="$ROOT/target/release/examples/serve_load"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-limiter.XXXXXX")
SERVE_PID=""
cleanup() {
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
SECRET=bench-secret-0123456789abcdef0123456789
LIST_ID=news.bench.example.org
site="$WORK/site"
serve_site "$site" "$LIST_ID" 1
if [ -n "$PRUNE_EVERY" ]; then
    sed -i "s/^serve:$/serve:\n  prune_every_seconds: $PRUNE_EVERY/" "$site/newsroom.yaml"
fi

# kB of the field FIELD (VmRSS, VmHWM) of serve's /proc status.
status_kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVE_PID/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

NEWSROOM_UNSUBSCRIBE_SECRET=$SECRET "$BIN" -C "$site" serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
started=$(date +%s)
for _ in $(seq 100); do
    if grep -q 'http://' "$WORK/serve.out" 2>/dev/null; then break; fi
    sleep 0.1
done
address=$(grep -o 'http://[0-9.:]*' "$WORK/serve.out")
# One request, so that what the first request allocates for good is in the start figure.
curl -fsS -o /dev/null -H 'X-Forwarded-For: 192.0.2.1' "$address/newsroom.css"
start=$(status_kb VmRSS)

read -r requests ok seconds rate _ < <("$LOAD" "$address" "$SECRET" "$LIST_ID" 0 "$N" "$CONCURRENCY" clients)
if [ "$ok" -ne "$N" ]; then
    echo "bench: $ok of $N requests answered 200 (a 429 would mean the clients were not told apart)" >&2
    exit 1
fi
loaded=$(status_kb VmRSS)
pruned_before=$(grep -c '^rate limits: forgot' "$WORK/serve.err" || true)

# Wait for a pruning pass after the load (or, without the setting, until WAIT seconds).
if [ -n "$PRUNE_EVERY" ]; then
    deadline=$((started + WAIT + PRUNE_EVERY))
    while [ "$(grep -c '^rate limits: forgot' "$WORK/serve.err" || true)" -le "$pruned_before" ]; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            echo "bench: no pruning pass logged $PRUNE_EVERY s after the load" >&2
            exit 1
        fi
        sleep 1
    done
    prune_line=$(grep '^rate limits: forgot' "$WORK/serve.err" | tail -n 1)
else
    while [ "$(date +%s)" -lt $((started + WAIT)) ]; do sleep 1; done
    prune_line="(no pruning setting: waited $WAIT s from start)"
fi
sleep 1
after=$(status_kb VmRSS)
"$LOAD" "$address" "$SECRET" "$LIST_ID" 0 10000 8 static >/dev/null
sleep 1
resumed=$(status_kb VmRSS)
peak=$(status_kb VmHWM)

echo
echo "N=$N distinct clients, $CONCURRENCY connections, prune every ${PRUNE_EVERY:-(binary default)} s, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $BIN"
echo
echo "| requests | seconds | per second | RSS at start MB | when the load ended MB | peak (VmHWM) MB | after the prune, idle MB | then after 10,000 requests MB | after − start MB | limit MB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
awk -v r="$requests" -v s="$seconds" -v q="$rate" -v a="$start" -v l="$loaded" -v p="$peak" -v z="$after" -v t="$resumed" -v m="$LIMIT_MB" \
    'BEGIN { printf "| %d | %.1f | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %+.1f | %d |\n", r, s, q, a / 1024, l / 1024, p / 1024, z / 1024, t / 1024, (t - a) / 1024, m }'
echo
echo "serve logged: $prune_line"
echo "after the prune and 10,000 requests − start: $(mb $((resumed - start))) MB against the $LIMIT_MB MB limit (idle: $(mb $((after - start))) MB)"
