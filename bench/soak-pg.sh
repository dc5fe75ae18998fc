#!/usr/bin/env bash
# Several senders, one PostgreSQL store: N subscribers (default 50000),
# three `digest send` processes started at once on the same digest against
# ../shared/tools/smtp-sink with faults (--fail-rate 0.05 451s,
# --drop-rate 0.01 hang-ups after the final dot). Sender 1 is SIGKILLed
# twice and restarted each time. When all have ended, once the killed
# sender's lease has lapsed, one more run sweeps up. Checks, from the sink's
# accepted.jsonl and the store: nobody received the digest twice, and
# everyone without a message is reported failed or ambiguous.
# Usage: bench/soak-pg.sh [N]    (starts its own PostgreSQL cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=$(cd .. && pwd)/shared
count=${1:-50000}
lease=${LEASE:-5}
if [ -z "${NEWSROOM_BIN:-}" ]; then cargo build --release --quiet; fi
newsroom=${NEWSROOM_BIN:-$repo/target/release/newsroom}
work=$(mktemp -d)
# The cluster gets a folder of its own: initdb runs as `postgres`, which
# cannot enter a private temporary folder of root\'s.
pg_dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; "$repo/scripts/pg-cluster.sh" stop "$pg_dir"; if [ -n "${KEEP_LOGS:-}" ]; then cp "$work"/*.log "$KEEP_LOGS"/; fi; rm -rf "$work"' EXIT
export NEWSROOM_STORE_URL
NEWSROOM_STORE_URL=$("$repo/scripts/pg-cluster.sh" start "$pg_dir" "${PGPORT_SOAK:-55434}")
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=soak-secret-0123456789abcdef0123456789 NEWSROOM_SMTP_URL=smtp://127.0.0.1:2651

site="$work/site"
mkdir -p "$site"
cp -r newsroom.yaml posts templates "$site/"
# The store is the list: no subscriber file for each sender to merge.
sed -i '/^  subscribers:/d' "$site/newsroom.yaml"
{ echo "email,name,status"; for n in $(seq -f '%07g' 1 "$count"); do echo "sub$n@example.org,Subscriber $n,subscribed"; done; } > "$work/list.csv"
"$newsroom" -C "$site" subscribers import "$work/list.csv" | tail -1
"$shared/tools/smtp-sink" --port 2651 --dir "$work/sink" --fail-rate 0.05 --drop-rate 0.01 > "$work/sink.log" 2>&1 &
for _ in $(seq 100); do grep -q listening "$work/sink.log" 2>/dev/null && break; sleep 0.1; done

accepted() { [ -f "$work/sink/accepted.jsonl" ] && wc -l < "$work/sink/accepted.jsonl" || echo 0; }
ledger() { psql "$NEWSROOM_STORE_URL" -Atc "select string_agg(state || ' ' || n, ', ') from (select state, count(*) n from deliveries group by state order by state) s"; }
# In the background, from this shell, so that `$!` is newsroom itself (a
# function sent to the background would be a subshell, and SIGKILL would
# kill the subshell and leave the sender running).
start() { "$newsroom" -C "$site" digest send --month 2026-10 --concurrency 4 --lease "$lease" > "$work/$1.log" 2>&1 & }

started=$(date +%s.%N)
start sender-2; two=$!
start sender-3; three=$!
for kill_number in 1 2; do
  target=$(( $(accepted) + 1 + RANDOM % (count / 6 + 1) ))
  start "sender-1-run-$kill_number"; one=$!
  while kill -0 "$one" 2>/dev/null && [ "$(accepted)" -lt "$target" ]; do sleep 0.1; done
  if kill -9 "$one" 2>/dev/null; then echo "kill $kill_number of sender 1: SIGKILL after $(accepted) accepted; store: $(ledger)"; fi
  wait "$one" 2>/dev/null || true
done
start sender-1-run-3; one=$!
wait "$one" "$two" "$three" || true
ended=$(date +%s.%N)
echo "three senders done in $(python3 -c "print(f'{$ended - $started:.1f}')") s; accepted $(accepted); store: $(ledger)"
for log in "$work"/sender-*.log; do
  echo "  $(basename "$log" .log): $(grep -E '^digest-|more with other senders' "$log" | tr '\n' ' ')"
done
sleep $((lease + 1))
start sweep; wait $! || true
echo "sweep: $(grep -E '^digest-' "$work/sweep.log" | head -1); store: $(ledger)"
psql "$NEWSROOM_STORE_URL" -At -F ' ' -c "select address, state from deliveries where digest_id = 'digest-2026-10'" > "$work/states.txt"
python3 "$repo/bench/soak-check.py" "$work/sink/accepted.jsonl" "$work/states.txt" "$count"
