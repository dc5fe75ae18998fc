#!/usr/bin/env python3
"""Half-open flood against `newsroom serve` (issue 27, point 1): HALF_OPEN
connections that send part of their headers and never finish, kept open
(reopened as serve closes them) while one-click POSTs run one after another
and /healthz is probed 500 times, 10 ms apart. Prints one line: failed POSTs, POSTs, /healthz p50,
p99 and max in ms, half-open connections opened. Driven by bench/halfopen.sh.

    halfopen.py ADDRESS SECRET LIST_ID FIRST_ID POSTS HALF_OPEN
"""
import hashlib
import hmac
import http.client
import resource
import selectors
import socket
import sys
import threading
import time

address, secret, list_id, first, posts, half_open = sys.argv[1:7]
host, port = address.rsplit(":", 1)
port, first, posts, half_open = int(port), int(first), int(posts), int(half_open)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def token(subscriber):
    mac = hmac.new(secret.encode(), b"newsroom-unsubscribe\0" + list_id.encode() + b"\0" + str(subscriber).encode(), hashlib.sha256)
    return f"{subscriber}-{mac.hexdigest()[:32]}"

done = threading.Event()
opened = 0

def flood():
    global opened
    selector = selectors.DefaultSelector()
    def open_one():
        global opened
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            selector.register(s, selectors.EVENT_READ)
            opened += 1
        except OSError:
            time.sleep(0.01)
    for _ in range(half_open):
        open_one()
    while not done.is_set():
        for key, _ in selector.select(timeout=0.1):
            selector.unregister(key.fileobj)
            key.fileobj.close()
            open_one()
    for key in list(selector.get_map().values()):
        key.fileobj.close()

def one_request(method, path, body=None):
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    connection.request(method, path, body=body, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status

latencies = []
PROBES = 500
def probe():
    for _ in range(PROBES):
        started = time.perf_counter()
        try:
            ok = one_request("GET", "/healthz") == 200
        except OSError:
            ok = False
        latencies.append((time.perf_counter() - started) * 1000 if ok else float("inf"))
        time.sleep(0.01)

flooder = threading.Thread(target=flood)
flooder.start()
while opened < min(half_open, 1000):
    time.sleep(0.05)
prober = threading.Thread(target=probe)
prober.start()
failed = 0
for n in range(posts):
    try:
        if one_request("POST", f"/unsubscribe/{token(first + n)}", "List-Unsubscribe=One-Click") != 200:
            failed += 1
    except OSError:
        failed += 1
prober.join()
done.set()
flooder.join()
latencies.sort()
def at(q):
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(failed, posts, f"{at(0.5):.2f}", f"{at(0.99):.2f}", f"{latencies[-1]:.2f}", opened)
