"""Attacks from the home network against the real server on loopback (tests/e2e/conftest.py starts it).

Every count and wait here is bounded: an attack that succeeds makes a test fail within seconds (a
phone's request that times out, a status that is not the refusal), never hang the suite."""

from __future__ import annotations

import io
import socket
import struct
import zlib

import pytest
from e2e.conftest import LiveServer, free_port, live_server, live_server_factory  # noqa: F401

__all__ = ["LiveServer", "free_port", "live_server", "live_server_factory"]


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real JPEG, different for every seed."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256)).save(buf, "JPEG")
    return buf.getvalue()


def raw_socket(server, source: str | None = None, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    return s


def read_status(s: socket.socket, timeout: float = 10.0) -> int | None:
    """The status code of the response on `s`, or None if the server closed without one."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            part = s.recv(4096)
            if not part:
                break
            data += part
    except (ConnectionResetError, BrokenPipeError):
        pass
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def pixel_bomb_png(width: int, height: int) -> bytes:
    """A valid 16-bit greyscale PNG of width x height black pixels, a few hundred KB on disk.

    The zlib stream is one compressed block of rows, flushed to a byte boundary with the dictionary
    reset (Z_FULL_FLUSH), so the same bytes can be repeated instead of compressing ~450 MB."""
    row = b"\0" + bytes(width * 2)
    rows_per_block = 100
    assert height % rows_per_block == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(row * rows_per_block) + c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    adler = 1
    for _ in range(height):
        adler = zlib.adler32(row, adler)
    idat = b"\x78\xda" + block * (height // rows_per_block) + end + struct.pack(">I", adler)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def worker_pid(server) -> int:
    """The gunicorn worker serving requests (the master's only child)."""
    kids = open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read().split()
    assert len(kids) == 1, kids
    return int(kids[0])


def peak_rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    return pixel_bomb_png(15000, 15000)
