#!/usr/bin/env bash
# Peak memory of `newsroom inbound` on heavy mailboxes (issue 27, point 2):
# a Maildir of 20 × 50 MB messages (over the 10 MiB limit: moved aside
# unread), one of 20 × 9 MB (each read and classified), and an mbox of
# 10 × 50 MB (streamed, skipped). Max RSS from `/usr/bin/time -v`, set
# beside the limit of 64 MB. Usage: bash bench/inbound-rss.sh
# (NEWSROOM_BIN picks the binary; default target/release/newsroom.)
set -euo pipefail
BIN=${NEWSROOM_BIN:-target/release/newsroom}
[ -x "$BIN" ] || cargo build --release --quiet
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
WORK=$(mktemp -d /tmp/inbound-rss.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
LIMIT_KB=$((64 * 1024))
export NEWSROOM_UNSUBSCRIBE_SECRET=newsroom-bench-secret-0123456789abcdef
printf 'site:\n  title: T\n  url: https://example.org\ndigest:\n  unsubscribe_mailto: unsubscribe@example.org\n' >"$WORK/newsroom.yaml"
mkdir -p "$WORK/posts"
message() { # SIZE_MB INDEX: a human-looking message of SIZE_MB
  printf 'From: someone@example.net\nSubject: big %s\n\n' "$2"
  head -c $(($1 * 1024 * 1024)) /dev/zero | tr '\0' 'x' | fold -w 76
}
maildir() { # NAME COUNT SIZE_MB
  mkdir -p "$WORK/$1"/{new,cur,tmp}
  for i in $(seq 1 "$2"); do message "$3" "$i" >"$WORK/$1/new/$i.msg"; done
}
measure() { # LABEL ARGS...
  local label=$1; shift
  /usr/bin/time -v "$BIN" -C "$WORK" inbound "$@" >"$WORK/out" 2>"$WORK/time"
  local kb; kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time")
  printf '%-34s max RSS %6d KB  = %.2f × the 64 MB limit  (%s)\n' "$label" "$kb" \
    "$(echo "$kb / $LIMIT_KB" | bc -l)" "$(tail -1 "$WORK/out")"
}
maildir big 20 50
measure "Maildir 20 × 50 MB (oversized)" --maildir big
maildir read 20 9
measure "Maildir 20 × 9 MB (each read)" --maildir read
for i in $(seq 1 10); do printf 'From someone Tue Nov  3 10:00:00 2026\n'; message 50 "$i"; echo; done >"$WORK/mail.mbox"
measure "mbox 10 × 50 MB (streamed)" --mbox mail.mbox
