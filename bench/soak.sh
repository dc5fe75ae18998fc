#!/usr/bin/env bash
# Crash soak: N subscribers (default 100000) sent to ../shared/tools/smtp-sink
# with --fail-rate 0.05 --drop-rate 0.01, the sender killed with SIGKILL at
# three random moments and restarted each time, then run to the end. Checks,
# from the sink's accepted.jsonl and the ledger: nobody received the digest
# twice, and every subscriber without a message is reported failed or ambiguous.
# Usage: bench/soak.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=$(cd .. && pwd)/shared
count=${1:-100000}
# NEWSROOM_BIN runs a fixed copy of the binary (so a rebuild during a long soak
# cannot swap it between restarts); by default the tree is built and used.
if [ -z "${NEWSROOM_BIN:-}" ]; then cargo build --release --quiet; fi
newsroom=${NEWSROOM_BIN:-$repo/target/release/newsroom}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=soak-secret-0123456789abcdef0123456789 NEWSROOM_SMTP_URL=smtp://127.0.0.1:2650

site="$work/site"
mkdir -p "$site"
cp -r newsroom.yaml posts templates "$site/"
{ echo "email,name,status"; for n in $(seq -f '%07g' 1 "$count"); do echo "sub$n@example.org,Subscriber $n,subscribed"; done; } > "$site/subscribers.example.csv"
"$shared/tools/smtp-sink" --port 2650 --dir "$work/sink" --fail-rate 0.05 --drop-rate 0.01 > "$work/sink.log" 2>&1 &
for _ in $(seq 100); do grep -q listening "$work/sink.log" 2>/dev/null && break; sleep 0.1; done

accepted() { [ -f "$work/sink/accepted.jsonl" ] && wc -l < "$work/sink/accepted.jsonl" || echo 0; }
for kill_number in 1 2 3; do
  target=$(( $(accepted) + 1 + RANDOM % (count / 5 + 1) ))
  "$newsroom" -C "$site" digest send --month 2026-10 --concurrency 4 > "$work/run-$kill_number.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(accepted)" -lt "$target" ]; do sleep 0.2; done
  if kill -9 "$pid" 2>/dev/null; then echo "kill $kill_number: SIGKILL after $(accepted) accepted"; fi
  wait "$pid" 2>/dev/null || true
  python3 -c "import sqlite3,sys; print('  ledger:', dict(sqlite3.connect(sys.argv[1]).execute('select state, count(*) from deliveries group by state')))" "$site/.newsroom/newsroom.sqlite"
done
"$newsroom" -C "$site" digest send --month 2026-10 --concurrency 4 2>&1 | grep -v '^progress' || true
"$newsroom" -C "$site" digest status --month 2026-10 | head -9
python3 -c "import sqlite3, sys
for address, state in sqlite3.connect(sys.argv[1]).execute(\"select address, state from deliveries where digest_id = 'digest-2026-10'\"):
    print(address, state)" "$site/.newsroom/newsroom.sqlite" > "$work/states.txt"
python3 "$repo/bench/soak-check.py" "$work/sink/accepted.jsonl" "$work/states.txt" "$count"
