"""A full disk answers 507 with a message, everywhere: the real server with its data directory (and its
log) on a small tmpfs that is then filled, and the error mapping itself through the test client (for
machines where tests cannot mount)."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
from e2e.conftest import LiveServer, free_port

from jaicat.photos import library


def _fill(disk) -> None:
    """Take every block and every inode of the filesystem at `disk`."""
    try:
        with open(disk / "filler", "wb") as f:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
    except OSError as e:
        assert e.errno == errno.ENOSPC
    i = 0
    try:
        while True:
            (disk / f"inode-{i}").touch()
            i += 1
    except OSError as e:
        assert e.errno == errno.ENOSPC


@pytest.fixture
def full_disk_server(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (test_507_is_mapped_centrally covers the mapping)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,nr_inodes=4000", "tmpfs", str(disk)], check=True)
    server = LiveServer(data_dir=disk / "data", port=free_port(), config={"worker": False})
    try:
        server.start()  # its log is server.data_dir.parent, the same small disk
        _fill(disk)
        yield server
    finally:
        server.stop()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_9_a_full_disk_is_507_with_a_message(full_disk_server):
    for path, body in (("/api/folders", {"path": "Full"}), ("/api/pair/code", None)):
        r = full_disk_server.post(path, json=body) if body else full_disk_server.post(path)
        assert r.status_code in (201, 507), (path, r.status_code, r.text)  # the old server: 500
        if r.status_code == 507:
            assert r.json()["error"] == "insufficient_storage" and "disk" in r.json()["message"], r.text
    r = full_disk_server.post("/api/folders", json={"path": "Full2"})
    assert r.status_code == 507, r.text
    assert full_disk_server.get("/api/health").status_code == 200


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 OSError(errno.EDQUOT, "Disk quota exceeded")])
def test_507_is_mapped_centrally(client, monkeypatch, exc):
    def full(*_a, **_k):
        raise exc

    monkeypatch.setattr(library.Path, "mkdir", full)
    r = client.post("/api/folders", json={"path": "Full"})
    assert r.status_code == 507 and r.get_json()["error"] == "insufficient_storage", r.get_data(as_text=True)
    assert "disk" in r.get_json()["message"]


def test_507_for_a_full_catalogue(client, monkeypatch):
    from peewee import OperationalError

    from jaicat.devices import pairing

    def full(*_a, **_k):
        raise OperationalError("database or disk is full")

    monkeypatch.setattr(pairing, "create_code", full)
    r = client.post("/api/pair/code")
    assert r.status_code == 507 and r.get_json()["error"] == "insufficient_storage", r.get_data(as_text=True)
