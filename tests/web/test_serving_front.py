"""The front's framing decisions (web/serving/front.py): when a request is whole enough for a thread."""

from __future__ import annotations

import pytest

from jaicat.web.serving import front
from jaicat.web.serving.front import Verdict, chunked_end, judge

HEAD = b"POST /api/folders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_a_head_is_collected_until_its_blank_line():
    assert judge(b"GET /api/hea") == Verdict.MORE
    assert judge(b"GET /api/health HTTP/1.1\r\nHost: x\r\n") == Verdict.MORE
    assert judge(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n") == Verdict.READY


def test_an_endless_head_is_refused():
    status, code, _ = judge(b"GET / HTTP/1.1\r\nX: " + b"a" * (front.HEAD_MAX_BYTES + 1))
    assert (status, code) == (431, "headers_too_large")


def test_a_small_body_is_collected_whole():
    assert judge(HEAD + b"Content-Length: 10\r\n\r\n{\"a\"") == Verdict.MORE
    assert judge(HEAD + b"Content-Length: 10\r\n\r\n{\"a\": 123}") == Verdict.READY


def test_a_big_body_is_refused_except_on_upload_chunks():
    big = b"Content-Length: %d\r\n\r\n" % (front.SMALL_BODY_BYTES + 1)
    assert judge(HEAD + big)[0] == 413
    chunk = b"PATCH /api/uploads/u_1?offset=0 HTTP/1.1\r\nHost: x\r\n" + big
    assert judge(chunk) == Verdict.READY  # the upload route streams it, after checking the token


def test_a_chunked_body_is_collected_whole_and_bounded():
    te = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert judge(te + b"4\r\nabcd\r\n") == Verdict.MORE
    assert judge(te + b"4\r\nabcd\r\n0\r\n\r\n") == Verdict.READY
    piece = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    assert judge(te + piece * 20)[0] == 413


def test_chunked_scanning_resumes_where_it_stopped():
    body = b"4\r\nabcd\r\n3\r\nxyz\r\n"
    end, resume = chunked_end(body)
    assert end is None and resume == len(body)
    end, _ = chunked_end(body + b"0\r\n\r\n", resume)
    assert end == len(body) + 5
    with pytest.raises(ValueError):
        chunked_end(b"zz\r\n")


def test_websocket_upgrades_and_expect_continue():
    up = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    assert judge(up) == Verdict.WEBSOCKET
    ask = HEAD + b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n"
    assert judge(ask) == Verdict.CONTINUE
    assert judge(ask + b"{\"a\"") == Verdict.MORE


def test_a_descriptor_closed_while_watched_does_not_stop_the_worker():
    """A websocket's reader thread closes its socket while the loop still watches it; the kernel
    gives the number to the next connection. Registering that one replaces the stale key (a plain
    register raised KeyError there and the worker process died, resetting every connection)."""
    import selectors
    import socket

    poller = selectors.DefaultSelector()
    old, peer = socket.socketpair()
    try:
        number = old.fileno()
        front.watch(poller, old, "linger")
        old.close()  # closed elsewhere, never unregistered
        fresh, fresh_peer = socket.socketpair()
        try:
            if number not in (fresh.fileno(), fresh_peer.fileno()):
                pytest.skip("the kernel gave the new socket another descriptor number")
            reused = fresh if fresh.fileno() == number else fresh_peer
            with pytest.raises(KeyError):
                poller.register(reused, selectors.EVENT_READ, "plain register")
            front.watch(poller, reused, "next request")
            assert poller.get_key(reused).data == "next request"
            other = fresh_peer if reused is fresh else fresh
            other.send(b"x")
            assert [key.data for key, _ in poller.select(timeout=5)] == ["next request"]
        finally:
            fresh.close()
            fresh_peer.close()
    finally:
        peer.close()
        poller.close()


def test_the_streamed_path_is_the_upload_chunk_route_and_no_other(app):
    """The front lets big bodies through to one route only; its pattern comes from that blueprint."""
    urls = app.url_map.bind("localhost")
    assert urls.match("/api/uploads/abc123", method="PATCH")[0] == "uploads.chunk"
    assert front.STREAMED_PATH.match(b"/api/uploads/abc123?offset=0")
    streamed = [r for r in app.url_map.iter_rules()
                if front.STREAMED_PATH.match(r.rule.replace("<", "x").replace(">", "x").encode())]
    assert {r.endpoint for r in streamed if "PATCH" in r.methods} == {"uploads.chunk"}
    assert not front.STREAMED_PATH.match(b"/api/uploads/check/x")
    assert not front.STREAMED_PATH.match(b"/api/uploadsx/1")


def test_the_front_enforces_the_limits_the_app_declares():
    from jaicat.web import params, ws

    assert front.SMALL_BODY_BYTES == params.MAX_JSON_BYTES
    assert front.WEBSOCKET_THREADS > ws.SOCKETS_TOTAL


def test_a_blocking_request_socket_gives_up_after_the_one_stall_timeout():
    """gunicorn sets request sockets blocking; the front's sockets then wait STALL_SECONDS, no longer
    (web/uploads.py relies on this for upload chunks and passes the same figure to the splice path)."""
    import socket

    from jaicat.web import serving

    a, b = socket.socketpair()
    s = front.TimedSocket(a.family, a.type, a.proto, fileno=a.detach())
    try:
        s.setblocking(True)
        assert s.gettimeout() == serving.STALL_SECONDS
        s.setblocking(False)
        assert s.gettimeout() == 0.0
    finally:
        s.close()
        b.close()
