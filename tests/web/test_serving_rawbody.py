"""The splice fast path for upload bodies, on a real socket pair with gunicorn's own body classes."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from jaicat.web.serving.rawbody import SocketBody, body_source

pytestmark = pytest.mark.skipif(not hasattr(os, "splice"), reason="splice(2) is Linux-only")


def _gunicorn_body(sock, length: int, read_ahead: bytes = b"") -> Body:
    unreader = SocketUnreader(sock)
    unreader.buf.write(read_ahead)  # what gunicorn read together with the headers
    return Body(LengthReader(unreader, length))


def test_buffered_bytes_first_then_spliced_into_the_file(tmp_path):
    payload = os.urandom(3 * 1024 * 1024 + 7)
    server, client = socket.socketpair()
    head = payload[:1000]
    body = _gunicorn_body(server, len(payload), read_ahead=head)
    environ = {"gunicorn.socket": server, "wsgi.input": body, "CONTENT_LENGTH": str(len(payload))}
    src = body_source(environ, fallback=None, timeout=5)
    assert isinstance(src, SocketBody)
    sender = threading.Thread(target=client.sendall, args=(payload[1000:],))
    sender.start()
    out = tmp_path / "out"
    fd = os.open(out, os.O_RDWR | os.O_CREAT)
    pos = 0
    while n := src.copy_to(fd, pos, 1 << 20):
        pos += n
    os.close(fd)
    src.close()
    sender.join()
    assert out.read_bytes() == payload
    assert body.reader.length == 0 and body.read(10) == b""  # gunicorn sees the body as read
    client.close()
    server.close()


def test_a_pipelined_next_request_is_left_to_gunicorn(tmp_path):
    server, client = socket.socketpair()
    body = _gunicorn_body(server, 5, read_ahead=b"hello" + b"GET /next HTTP/1.1")
    src = body_source({"gunicorn.socket": server, "wsgi.input": body, "CONTENT_LENGTH": "5"}, None, 1)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    assert src.copy_to(fd, 0, 100) == 5 and src.copy_to(fd, 5, 100) == 0
    os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"hello"
    assert body.reader.unreader.buf.getvalue() == b"GET /next HTTP/1.1"
    server.close()
    client.close()


def test_silent_peer_times_out_and_closed_peer_ends(tmp_path):
    server, client = socket.socketpair()
    body = _gunicorn_body(server, 100)
    src = body_source({"gunicorn.socket": server, "wsgi.input": body, "CONTENT_LENGTH": "100"}, None, 0.2)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    with pytest.raises(TimeoutError):
        src.copy_to(fd, 0, 100)
    client.sendall(b"x" * 40)
    client.close()
    assert src.copy_to(fd, 0, 100) == 40
    assert src.copy_to(fd, 40, 100) == 0  # the phone went away: what arrived is kept
    os.close(fd)
    src.close()
    server.close()


def test_other_bodies_use_the_ordinary_stream():
    marker = object()
    assert body_source({}, marker, 1) is marker
    server, client = socket.socketpair()
    body = _gunicorn_body(server, 10)
    # no Content-Length (chunked upload): not spliced
    assert body_source({"gunicorn.socket": server, "wsgi.input": body}, marker, 1) is marker
    server.close()
    client.close()
