#!/usr/bin/env bash
# spam-check.sh — score messages with SpamAssassin's local rules; fail on any
# rule that adds or takes points, other than the two an offline test fires.
#
# Usage:   scripts/spam-check.sh FILE.eml...
# Example: scripts/spam-check.sh preview/2026-10/messages/*.eml
#
# Runs `spamassassin -t -L` (test mode, local tests only: no DNS blocklists,
# no Razor/Pyzor, nothing on the network) on each message, reads the rule
# table of its report ("Content analysis details": pts, rule name,
# description) and prints `FILE: RULE (PTS): description` for every rule
# whose points are not 0.0, except
#   NO_RECEIVED  the message has no Received headers (it was never sent)
#   NO_RELAYS    it was not relayed over SMTP (same reason)
# which only say the test is offline; they are excluded by name, nothing
# else is. Then one summary line:
#   spam-check: 45 messages, 0.0 points from content rules (0 scoring rules;
#   rules at 0.0: HTML_MESSAGE; excluded by name: NO_RECEIVED NO_RELAYS)
# Exit 0 when no other rule scored, 1 when one did, 2 on a usage error or
# when spamassassin is missing (`apt-get install spamassassin`) or fails.
set -euo pipefail

die() { echo "spam-check: $*" >&2; exit 2; }

[ "$#" -gt 0 ] || die "usage: $0 FILE.eml..."
command -v spamassassin >/dev/null 2>&1 || die "spamassassin not found (Debian: apt-get install spamassassin)"

EXCLUDED=" NO_RECEIVED NO_RELAYS "

report="$(mktemp)"
errors="$(mktemp)"
trap 'rm -f "$report" "$errors"' EXIT

messages=0
failures=0
total=0.0
declare -A zero_rules=()
for file in "$@"; do
    [ -f "$file" ] && [ -r "$file" ] || die "$file: no such readable file"
    # -t appends the report to the message; stderr has only notices (a user
    # preferences file created on first run), shown if it fails.
    if ! spamassassin -t -L <"$file" >"$report" 2>"$errors"; then
        cat "$errors" >&2
        die "spamassassin failed on $file"
    fi
    # The table: after the "pts rule name" header and its dashed underline,
    # one rule a line (`-0.0 NO_RELAYS  Informational: …`); a description
    # too long for its line goes on in lines starting with spaces; the table
    # ends at the first empty line.
    rules="$(awk '
        /^ *pts +rule name +description/ { header = 1; next }
        header && /^-+ +-+/ { table = 1; next }
        table && /^[ \t]*$/ { exit }
        table && /^ *-?[0-9]+(\.[0-9]+)? +[A-Z0-9_]+/ { print $1, $2, substr($0, index($0, $2) + length($2)) }
    ' "$report")"
    if ! grep -q '^Content analysis details:' "$report"; then
        die "$file: no \"Content analysis details\" in spamassassin's report"
    fi
    messages=$((messages + 1))
    while read -r points rule description; do
        [ -n "$rule" ] || continue
        case "$EXCLUDED" in *" $rule "*) continue ;; esac
        if awk -v p="$points" 'BEGIN { exit !(p + 0 == 0) }'; then
            zero_rules[$rule]=1
            continue
        fi
        echo "$file: $rule ($points): $(echo "$description" | sed 's/^ *//')"
        total="$(awk -v t="$total" -v p="$points" 'BEGIN { printf "%.1f", t + p }')"
        failures=$((failures + 1))
    done <<<"$rules"
done

zero="$(printf '%s\n' "${!zero_rules[@]}" | sort | paste -sd ' ' -)"
plural() { if [ "$1" -eq 1 ]; then echo "$1 $2"; else echo "$1 $2s"; fi; }
echo "spam-check: $(plural "$messages" message), $total points from content rules" \
    "($(plural "$failures" "scoring rule")${zero:+; rules at 0.0: $zero}; excluded by name: NO_RECEIVED NO_RELAYS)"
[ "$failures" -eq 0 ]
