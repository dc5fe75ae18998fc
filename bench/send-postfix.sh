#!/usr/bin/env bash
# Measures `newsroom digest send` against postfix's own load generator, into postfix's
# `smtp-sink` (which accepts and discards every message) on 127.0.0.1:$SINK_PORT:
#   - the limit: `smtp-source -d -s 8 -l 30720 -m 20000`: 20,000 messages of 30 KB over 8
#     connections;
#   - `newsroom digest send --concurrency C` of a ~30 KB digest (the example site's October 2026
#     plus 7 generated posts) to N subscribers, for C in 1 4 8 16, each with a fresh ledger (the
#     ledger is always on: `sending` committed before each message leaves, `sent` after). The
#     rate is N / wall time of the whole command (rendering, freezing the list into the ledger
#     and closing included); peak RSS from /usr/bin/time.
# The runs interleave: each of the RUNS rounds runs smtp-source once, then newsroom once at
# each C, so the limit is measured minutes, not a quarter of an hour, from what it is compared
# with (smtp-source's own rate moved between ~2,200 and ~4,600 msg/s within minutes here).
# For N other than 20,000 each round also runs `smtp-source ... -m N`: the same number of
# messages as newsroom sends (on these VMs a 100k-message run of smtp-source itself is ~25%
# slower per message than a 20k one, so the 20k figure flatters the limit at 100k).
# Prints one Markdown table row per (N, C) with medians of the RUNS rounds and the ratios of the
# median rates.
#
# Installs postfix (Debian package, for smtp-sink and smtp-source) when missing, with its
# service stopped and disabled: only the sink this script starts is used, and it is ended by
# its PID.
#
# Run from anywhere (it cds to the repo root):
#   bash bench/send-postfix.sh                      # 20000 and 100000 subscribers
#   bash bench/send-postfix.sh 20000                # one size
#   CONCURRENCY="8" RUNS=1 bash bench/send-postfix.sh 20000
#   DKIM=rsa2048 bash bench/send-postfix.sh 20000  # every message DKIM-signed with the test
#                                                   # key tests/fixtures/dkim/rsa2048.pem (or ed25519)
#   STORE=postgres bash bench/send-postfix.sh 20000 # the store in a PostgreSQL cluster of the
#                                                   # run's own (scripts/pg-cluster.sh), same machine
#   LIST=kept bash bench/send-postfix.sh 20000      # a later month's send: the store already holds
#                                                   # the subscribers (merged once, untimed, from the
#                                                   # same file); each timed run starts from no
#                                                   # digest and merges the unchanged file. Default
#                                                   # LIST=fresh: an empty store each timed run, so
#                                                   # each also imports every subscriber anew.
#   OLD=/path/to/old/newsroom bash bench/send-postfix.sh 20000   # and another binary: each
#                                                   # round sends with both at each C (which
#                                                   # goes first alternates), a row each
#   SINK_PORT=2745 (default) must be free.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
SIZES=("$@")
if [ ${#SIZES[@]} -eq 0 ]; then SIZES=(20000 100000); fi
read -r -a LEVELS <<<"${CONCURRENCY:-1 4 8 16}"
RUNS=${RUNS:-3}
PORT=${SINK_PORT:-2745}
EXTRA_POSTS=7

if [ ! -x /usr/sbin/smtp-sink ] || [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/bin/time ]; then
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    apt_install postfix time
    # Only smtp-sink and smtp-source are wanted: stop and disable the mail service if the
    # install started it.
    $SUDO systemctl disable --now postfix >/dev/null 2>&1 || true
    $SUDO service postfix stop >/dev/null 2>&1 || true
fi
if ss -ltn "sport = :$PORT" | grep -q LISTEN; then
    echo "port $PORT is in use; set SINK_PORT" >&2
    exit 2
fi

cargo build --release --quiet --examples --bins
BIN="$ROOT/target/release/newsroom"
GEN="$ROOT/target/release/examples/gen_posts"
BINS=("new:$BIN")
if [ -n "${OLD:-}" ]; then BINS+=("old:$OLD"); fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-send.XXXXXX")
# The cluster gets a folder of its own: initdb runs as `postgres`, which
# cannot enter a private temporary folder of root\'s.
pg_dir=$(mktemp -d)
SINK_PID=""
STORE=${STORE:-sqlite}
cleanup() {
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
    if [ "$STORE" = postgres ]; then "$ROOT/scripts/pg-cluster.sh" stop "$pg_dir"; else rmdir "$pg_dir"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
if [ "$STORE" = postgres ]; then
    NEWSROOM_STORE_URL=$("$ROOT/scripts/pg-cluster.sh" start "$pg_dir" "${PGPORT_BENCH:-55436}")
    export NEWSROOM_STORE_URL
fi
LIST=${LIST:-fresh}
# A fresh, empty store for each timed send.
fresh_store() {
    rm -rf "$site/.newsroom"
    if [ "$STORE" = postgres ]; then
        psql -q "$NEWSROOM_STORE_URL" -c 'DROP SCHEMA public CASCADE' -c 'CREATE SCHEMA public' 2>/dev/null
    fi
}
# LIST=kept: the store keeps its subscribers and their history; only the
# digests sent are forgotten, so that each timed send is a first send of its
# month.
forget_digests() {
    if [ "$STORE" = postgres ]; then
        psql -q "$NEWSROOM_STORE_URL" -c 'DELETE FROM deliveries' -c 'DELETE FROM digests'
    else
        python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM deliveries"); c.execute("DELETE FROM digests"); c.commit()' \
            "$site/.newsroom/newsroom.sqlite"
    fi
}
before_send() {
    if [ "$LIST" = kept ]; then forget_digests; else fresh_store; fi
}
export NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef0123456789
export NEWSROOM_SMTP_URL="smtp://127.0.0.1:$PORT"

# The ~30 KB digest: the example site plus generated ~8 KB posts (each adds its excerpt, ~2.8 KB
# of message) dated October 2026, without authors (the example's authors.yml has other keys).
site="$WORK/site"
mkdir -p "$site"
cp -r newsroom.yaml posts templates "$site/"
"$GEN" "$WORK/gen" "$EXTRA_POSTS" 2>/dev/null
i=0
for f in "$WORK"/gen/posts/*.md; do
    i=$((i + 1))
    sed '/^authors:/d' "$f" >"$site/posts/2026-10-$(printf '%02d' $((i + 2)))-bench-$i.md"
done
if [ -n "${DKIM:-}" ]; then
    cp "tests/fixtures/dkim/$DKIM.pem" "$site/dkim.pem"
    sed -i 's/^delivery:$/delivery:\n  dkim: { domain: lantern.example.org, selector: bench, key: dkim.pem }/' "$site/newsroom.yaml"
    grep -q 'key: dkim.pem' "$site/newsroom.yaml" || { echo "could not add delivery.dkim" >&2; exit 1; }
fi
printf 'email,name,status\nsub000001@example.org,Subscriber 000001,subscribed\n' >"$site/subscribers.example.csv"
"$BIN" -C "$site" digest preview --month 2026-10 --out "$WORK/preview" >/dev/null 2>&1
SIZE=$(stat -c %s "$WORK"/preview/2026-10/messages/*.eml)
echo "message size: $SIZE bytes" >&2

/usr/sbin/smtp-sink -u nobody -c "127.0.0.1:$PORT" 1000 >/dev/null 2>&1 &
SINK_PID=$!
for _ in $(seq 50); do
    ss -ltn "sport = :$PORT" | grep -q LISTEN && break
    sleep 0.1
done

# Each timed run appends "seconds kb" to its file (bench/lib.sh's `timed`); any failure stops
# the benchmark.
TIME_FORMAT='%e %M'

echo
echo "| subscribers | concurrency | binary | smtp-source -m 20000 msg/s | smtp-source -m N msg/s | newsroom send s | newsroom msg/s | ratio to -m 20000 | ratio to -m N | peak RSS MB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${SIZES[@]}"; do
    awk -v n="$n" 'BEGIN { print "email,name,status"; for (i = 1; i <= n; i++) printf "sub%06d@example.org,Subscriber %06d,subscribed\n", i, i }' \
        >"$site/subscribers.example.csv"
    sf="$WORK/source.txt" nf="$WORK/source-n.txt"
    : >"$sf"
    : >"$nf"
    for c in "${LEVELS[@]}"; do for b in "${BINS[@]}"; do : >"$WORK/send-$c-${b%%:*}.txt"; done; done
    if [ "$LIST" = kept ]; then
        # Merged once, untimed, under the name the site's configuration gives it.
        fresh_store
        (cd "$site" && "$BIN" subscribers import subscribers.example.csv >/dev/null)
    fi
    for run in $(seq "$RUNS"); do
        timed "$sf" "$TIME_FORMAT" /usr/sbin/smtp-source -d -s 8 -l 30720 -m 20000 "127.0.0.1:$PORT"
        if [ "$n" -ne 20000 ]; then
            timed "$nf" "$TIME_FORMAT" /usr/sbin/smtp-source -d -s 8 -l 30720 -m "$n" "127.0.0.1:$PORT"
        fi
        order=("${BINS[@]}")
        if [ $((run % 2)) -eq 0 ] && [ ${#BINS[@]} -eq 2 ]; then order=("${BINS[1]}" "${BINS[0]}"); fi
        for c in "${LEVELS[@]}"; do
            for b in "${order[@]}"; do
                before_send
                timed "$WORK/send-$c-${b%%:*}.txt" "$TIME_FORMAT" "${b#*:}" -C "$site" digest send --month 2026-10 --concurrency "$c"
                grep -q " $n sent, 0 failed" "$WORK/cmd.out" "$WORK/cmd.err" || {
                    cat "$WORK/cmd.out" "$WORK/cmd.err" >&2
                    echo "send did not send all $n messages" >&2
                    exit 1
                }
            done
        done
    done
    source_rate=$(awk -v s="$(median "$sf" 1)" 'BEGIN { printf "%.0f", 20000 / s }')
    if [ "$n" -ne 20000 ]; then
        source_n_rate=$(awk -v n="$n" -v s="$(median "$nf" 1)" 'BEGIN { printf "%.0f", n / s }')
    else
        source_n_rate=$source_rate
    fi
    for c in "${LEVELS[@]}"; do
        for b in "${BINS[@]}"; do
            s=$(median "$WORK/send-$c-${b%%:*}.txt" 1)
            m=$(median "$WORK/send-$c-${b%%:*}.txt" 2)
            awk -v n="$n" -v c="$c" -v b="${b%%:*}" -v src="$source_rate" -v srcn="$source_n_rate" -v s="$s" -v m="$m" 'BEGIN {
                rate = n / s;
                printf "| %d | %d | %s | %d | %d | %.2f | %.0f | %.2fx | %.2fx | %.1f |\n", n, c, b, src, srcn, s, rate, rate / src, rate / srcn, m / 1024 }'
        done
    done
done

echo
echo "Message: $SIZE bytes (smtp-source: 30720). Sink: smtp-sink -u nobody -c 127.0.0.1:$PORT 1000."
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: *//'), $(free -h | awk '/^Mem:/ {print $2}') RAM"
echo "Store: $STORE; list: $LIST."
echo "Command: ${STORE:+STORE=$STORE }LIST=$LIST ${DKIM:+DKIM=$DKIM }${OLD:+OLD=$OLD }CONCURRENCY=\"${LEVELS[*]}\" RUNS=$RUNS bash bench/send-postfix.sh ${SIZES[*]}"
echo "Load at the end: $(uptime)"
