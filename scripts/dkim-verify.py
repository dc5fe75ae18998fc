#!/usr/bin/env python3
"""Verifies the DKIM signature of each message file with dkimpy (PyPI
`dkimpy`, with PyNaCl for Ed25519), an implementation independent of
newsroom's, against the one TXT record given instead of DNS.

    dkim-verify.py RECORD_NAME RECORD_VALUE FILE...
    dkim-verify.py --record NAME VALUE [--record NAME VALUE]... FILE...

Every DKIM-Signature of a message (two when it is dual-signed, RSA and
Ed25519) must verify, there must be one for each record given, and each
h= must cover List-Unsubscribe and List-Unsubscribe-Post (RFC 8058
section 4). Prints a line per failure and a count; exit status 1 if any
file fails.
"""
import sys

import dkim

REQUIRED = {b"list-unsubscribe", b"list-unsubscribe-post", b"from", b"to", b"subject"}


def main():
    args = sys.argv[1:]
    records = {}
    if args and args[0] != "--record":
        args = ["--record"] + args
    while args and args[0] == "--record" and len(args) >= 3:
        records[args[1].rstrip(".")] = args[2].encode()
        args = args[3:]
    files = args
    if not records or not files:
        sys.exit(__doc__)

    def dnsfunc(query, timeout=5):
        query = query.decode() if isinstance(query, bytes) else query
        return records.get(query.rstrip("."))

    failed = 0
    for path in files:
        with open(path, "rb") as f:
            message = f.read()
        signatures = []
        for line in message.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ").split(b"\r\n"):
            if line.lower().startswith(b"dkim-signature:"):
                covered = set()
                for tag in line.split(b":", 1)[1].split(b";"):
                    key, _, value = tag.strip().partition(b"=")
                    if key == b"h":
                        covered = {h.strip().lower() for h in value.replace(b" ", b"").split(b":")}
                signatures.append(covered)
        problems = []
        if len(signatures) != len(records):
            problems.append(f"{len(signatures)} signature(s), {len(records)} record(s) given")
        for index, covered in enumerate(signatures):
            try:
                verified = dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc)
                reason = "does not verify"
            except Exception as error:  # dkimpy raises on malformed signatures
                verified, reason = False, error
            if not verified:
                problems.append(f"signature {index + 1}: {reason}")
            missing = REQUIRED - covered
            if missing:
                problems.append(f"signature {index + 1}: h= lacks {b', '.join(sorted(missing)).decode()}")
        if problems:
            failed += 1
            print(f"{path}: {'; '.join(problems)}")
    print(f"dkim-verify: {len(files) - failed} of {len(files)} message(s) verify")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
