#!/usr/bin/env python3
"""Verifies the DKIM signature of each message file with dkimpy (PyPI
`dkimpy`, with PyNaCl for Ed25519), an implementation independent of
newsroom's, against the one TXT record given instead of DNS.

    dkim-verify.py RECORD_NAME RECORD_VALUE FILE...

Each signature must verify and its h= must cover List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058 section 4). Prints a line per failure and
a count; exit status 1 if any file fails.
"""
import sys

import dkim

REQUIRED = {b"list-unsubscribe", b"list-unsubscribe-post", b"from", b"to", b"subject"}


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    name, record, files = sys.argv[1].rstrip("."), sys.argv[2].encode(), sys.argv[3:]

    def dnsfunc(query, timeout=5):
        query = query.decode() if isinstance(query, bytes) else query
        return record if query.rstrip(".") == name else None

    failed = 0
    for path in files:
        with open(path, "rb") as f:
            message = f.read()
        try:
            verified = dkim.verify(message, dnsfunc=dnsfunc)
        except Exception as error:  # dkimpy raises on malformed signatures
            verified, reason = False, error
        else:
            reason = "the signature does not verify"
        covered = set()
        for line in message.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ").split(b"\r\n"):
            if line.lower().startswith(b"dkim-signature:"):
                for tag in line.split(b":", 1)[1].split(b";"):
                    key, _, value = tag.strip().partition(b"=")
                    if key == b"h":
                        covered = {h.strip().lower() for h in value.replace(b" ", b"").split(b":")}
        missing = REQUIRED - covered
        if not verified or missing:
            failed += 1
            why = reason if not verified else f"h= lacks {b', '.join(sorted(missing)).decode()}"
            print(f"{path}: {why}")
    print(f"dkim-verify: {len(files) - failed} of {len(files)} message(s) verify")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
