#!/usr/bin/env bash
# End-to-end runs of `newsroom digest send` against ../shared/tools/smtp-sink
# (a real aiosmtpd server on loopback):
#   1. with faults (--fail-rate 0.1 --drop-rate 0.02): sends until nothing is
#      left to retry, then counts what the sink accepted per address;
#   2. without faults at concurrency 1, 4 and 8: messages per second.
# Usage: bench/smtp-sink-run.sh [SUBSCRIBERS]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=$(cd .. && pwd)/shared
count=${1:-2000}
cargo build --release --quiet
newsroom="$repo/target/release/newsroom"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef0123456789

make_site() {
  local site=$1
  mkdir -p "$site"
  cp -r newsroom.yaml posts templates "$site/"
  { echo "email,name,status"; for n in $(seq -f '%06g' 1 "$count"); do echo "sub$n@example.org,Subscriber $n,subscribed"; done; } > "$site/subscribers.example.csv"
}

start_sink() {
  local port=$1 dir=$2; shift 2
  "$shared/tools/smtp-sink" --port "$port" --dir "$dir" "$@" > "$dir.log" 2>&1 &
  for _ in $(seq 100); do grep -q listening "$dir.log" 2>/dev/null && return; sleep 0.1; done
  echo "smtp-sink did not start" >&2; exit 1
}

echo "== faults: $count subscribers, smtp-sink --fail-rate 0.1 --drop-rate 0.02, concurrency 4"
make_site "$work/faults"
start_sink 2601 "$work/sink-faults" --fail-rate 0.1 --drop-rate 0.02
NEWSROOM_SMTP_URL=smtp://127.0.0.1:2601 "$newsroom" -C "$work/faults" digest send --month 2026-10 --concurrency 4 || true
NEWSROOM_SMTP_URL=smtp://127.0.0.1:2601 "$newsroom" -C "$work/faults" digest send --month 2026-10 --concurrency 4 || true
"$newsroom" -C "$work/faults" digest status --month 2026-10 | head -9
python3 - "$work/sink-faults/accepted.jsonl" "$work/faults/.newsroom/ledger.sqlite" <<'PY'
import collections, json, sqlite3, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
per = collections.Counter(r["rcpt"] for r in rows)
dropped = {r["rcpt"] for r in rows if r["dropped"]}
db = sqlite3.connect(sys.argv[2])
state = dict(db.execute("select address, state from deliveries where digest_id='digest-2026-10'"))
ambiguous = {a for a, s in state.items() if s == "ambiguous"}
missing = [a for a, s in state.items() if per.get(a, 0) == 0 and s not in ("ambiguous", "failed_permanent", "failed_transient")]
print(f"accepted.jsonl: {len(rows)} lines, {len(per)} addresses, {sum(1 for n in per.values() if n > 1)} received twice, {len(dropped)} dropped by the sink")
print(f"ledger: {sum(1 for s in state.values() if s == 'sent')} sent, {len(ambiguous)} ambiguous; dropped == ambiguous: {dropped == ambiguous}; without a message and not reported: {len(missing)}")
twice = sum(1 for n in per.values() if n > 1)
sys.exit(1 if twice or missing or dropped != ambiguous else 0)
PY

for c in 1 4 8; do
  echo "== no faults: $count subscribers, concurrency $c"
  make_site "$work/speed-$c"
  start_sink $((2610 + c)) "$work/sink-$c"
  NEWSROOM_SMTP_URL=smtp://127.0.0.1:$((2610 + c)) "$newsroom" -C "$work/speed-$c" digest send --month 2026-10 --concurrency "$c"
done
