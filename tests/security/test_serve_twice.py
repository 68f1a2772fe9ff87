"""A second `jaicat serve` on a data directory a server already serves is refused, and leaves the
running server's record of its addresses (server.json) alone: `jaicat pair` still finds it."""

from __future__ import annotations

import json
import subprocess
import sys

from e2e.conftest import free_port, server_env


def test_6_a_refused_second_serve_keeps_the_running_servers_address(live_server):
    record = live_server.data_dir / "server.json"
    before = json.loads(record.read_text())
    second = subprocess.run(
        [sys.executable, "-m", "jaicat", "--data-dir", str(live_server.data_dir), "serve", "--host", "127.0.0.1",
         "--port", str(free_port()), "--no-zeroconf"],
        capture_output=True, text=True, env=server_env(), timeout=60)
    assert second.returncode != 0
    assert record.is_file(), second.stdout + second.stderr
    assert json.loads(record.read_text()) == before
    out = live_server.cli("pair", "--no-qr").stdout
    assert f":{live_server.port}" in out and ":8787" not in out, out
