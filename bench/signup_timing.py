#!/usr/bin/env python3
"""Sign-up answer times for a subscribed address and for new ones (issue 27,
point 10): ROUNDS of each, interleaved, each from a client address of its own
(X-Forwarded-For through the loopback proxy), one connection a request.
Prints: known median ms, new median ms, known p90, new p90, statuses seen.

    signup_timing.py ADDRESS KNOWN_ADDRESS ROUNDS
"""
import http.client
import statistics
import sys
import time

address, known, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = address.rsplit(":", 1)
times = {"known": [], "new": []}
statuses = set()
for n in range(rounds):
    for kind in ("known", "new"):
        email = known if kind == "known" else f"new{n:06d}@example.net"
        client = f"10.{(n >> 8) & 255}.{n & 255}.{1 if kind == 'known' else 2}"
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.connect()
        body = "email=" + email.replace("@", "%40")
        started = time.perf_counter()
        connection.request("POST", "/subscribe", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": client})
        response = connection.getresponse()
        response.read()
        times[kind].append((time.perf_counter() - started) * 1000)
        statuses.add(response.status)
        connection.close()
def p90(values):
    return sorted(values)[int(0.9 * len(values))]
print(f"{statistics.median(times['known']):.3f}", f"{statistics.median(times['new']):.3f}",
      f"{p90(times['known']):.3f}", f"{p90(times['new']):.3f}", ",".join(map(str, sorted(statuses))))
