#!/usr/bin/env python3
"""The verdict of a crash soak (bench/soak.sh, bench/soak-pg.sh).

Usage: soak-check.py ACCEPTED_JSONL STATES N

ACCEPTED_JSONL is what ../shared/tools/smtp-sink accepted; STATES holds one
`address state` line per delivery row of the digest, read from the store.
Prints the counts and exits 1 if anyone received the digest twice, or has no
message without being reported ambiguous or failed.
"""
import collections
import json
import sys

accepted, states, count = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(line) for line in open(accepted)]
per = collections.Counter(row["rcpt"] for row in rows)
state = dict(line.split() for line in open(states) if line.strip())
twice = [address for address, n in per.items() if n > 1]
unreported = [
    address
    for address, s in state.items()
    if per.get(address, 0) == 0 and s not in ("ambiguous", "failed_permanent", "failed_transient")
]
print(
    f"subscribers {count}; accepted.jsonl {len(rows)} lines, {len(per)} addresses; received twice: {len(twice)}; "
    f"without a message and not reported failed/ambiguous: {len(unreported)}; store: "
    + ", ".join(f"{s} {n}" for s, n in collections.Counter(state.values()).most_common())
)
sys.exit(1 if twice or unreported else 0)
