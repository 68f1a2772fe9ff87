"""`jaicat pair` while the server on the same data dir is busy writing.

Both sides read and then write the catalogue in one transaction (the CLI's schema check on open, the
code purge + insert). In WAL mode a deferred transaction that read before another process committed
cannot upgrade to a write: SQLite answers "database is locked" at once, without waiting out
busy_timeout, and `jaicat pair` died with a traceback (exit 1). Transactions that read and then
write now take the write lock up front (BEGIN IMMEDIATE) and so wait their turn instead.
"""

from __future__ import annotations

import re
import threading

import requests


def test_pair_cli_succeeds_while_the_server_writes(live_server):
    stop = threading.Event()
    statuses: list[int] = []

    def write_loop():
        s = requests.Session()
        while not stop.is_set():
            # each call purges expired codes and inserts one: a read-then-write on the server side
            r = s.post(f"{live_server.url}/api/pair/code", headers=live_server.auth, timeout=30)
            statuses.append(r.status_code)
        s.close()

    writers = [threading.Thread(target=write_loop) for _ in range(2)]
    for t in writers:
        t.start()
    try:
        results = [live_server.cli("pair", "--no-qr", check=False) for _ in range(6)]
    finally:
        stop.set()
        for t in writers:
            t.join(timeout=60)
    for r in results:
        assert r.returncode == 0, r.stderr
        assert re.search(r"Pairing code: [A-Z0-9]{6}", r.stdout), r.stdout
    assert len(statuses) > 20 and set(statuses) == {201}, statuses[-10:]
    # the codes from the CLI still pair a phone with the running server
    code = re.search(r"Pairing code: ([A-Z0-9]{6})", results[-1].stdout).group(1)
    r = requests.post(f"{live_server.url}/api/pair", json={"code": code, "name": "raced phone"}, timeout=10)
    assert r.status_code == 201, r.text
