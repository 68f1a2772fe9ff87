"""The connection front: gunicorn's threaded worker, with every request read on its event loop first.

gunicorn's gthread worker parks idle keep-alive connections in its selector, but it hands a
connection to a request thread as soon as the first byte arrives, and that thread then blocks
reading the rest of the request head. A client that sends `GET /api/hea` and nothing more holds a
thread; 32 of them froze the server. Here the head, and any body small enough to be a JSON
document, are read without blocking on the worker's own event loop, under a deadline, and only a
complete request reaches a thread. A stalled or idle client costs a buffer, not a thread.

- A request head must arrive within HEAD_SECONDS and fit HEAD_MAX_BYTES.
- A body of at most SMALL_BODY_BYTES (either transfer encoding) is buffered here too. A bigger one is
  refused here with 413, except on the routes that stream big bodies (STREAMED_PATH: upload chunks,
  which authenticate before reading a byte); those reach a thread after the head, and a thread waits
  at most STALL_SECONDS for the next byte (the socket timeout).
- Websocket upgrades run on their own pool (WEBSOCKET_THREADS), so open websockets never take the
  request threads a phone's next request needs.
- Closing a connection lingers on the event loop, never in a thread (gunicorn drains for up to 2 s),
  and reads at most LINGER_MAX_BYTES of what the client still sends after a refusal of the front
  (LINGER_APP_MAX_BYTES after a request the app answered), within LINGER_SECONDS.

TLS handshakes happen on the event loop too (non-blocking), so a client that opens a TLS connection
and stops costs nothing either.

The limits come from the modules that own them (params.MAX_JSON_BYTES, ws.SOCKETS_TOTAL, the upload
blueprint's prefix, serving.STALL_SECONDS). The gunicorn internals used here are listed in the package
docstring; the worker checks them (internals.problems) before it serves.
"""

from __future__ import annotations

import errno
import json
import re
import resource
import selectors
import socket
import ssl
import time
from concurrent import futures
from functools import partial
from typing import NamedTuple

from gunicorn import http
from gunicorn import sock as gsock
from gunicorn.http import body as gbody
from gunicorn.http import wsgi as gwsgi
from gunicorn.workers import gthread

from .. import uploads as upload_routes
from ..params import MAX_JSON_BYTES
from ..ws import SOCKETS_TOTAL
from . import STALL_SECONDS, internals

HEAD_SECONDS = 15.0  # a whole request head (and a small body) within this
HEAD_MAX_BYTES = 64 * 1024
SMALL_BODY_BYTES = MAX_JSON_BYTES  # no JSON route takes more
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 256 * 1024  # after a refusal of the front: a refused body is cut off soon
# A request the app answered without reading all of its body (only the streamed upload chunks, whose
# device authenticated: every other body was read here) is often a refused chunk, e.g. a stale offset
# after a dropped connection. The client reads the answer only once it has sent the chunk, so the
# close reads what is left of it (a phone's chunks are at most 32 MiB), or the kernel resets the
# connection and the answer is lost. LINGER_SECONDS bounds it in time.
LINGER_APP_MAX_BYTES = 40 * 1024 * 1024
WEBSOCKET_THREADS = SOCKETS_TOTAL + 16  # every open websocket holds one, and a few are closing
# the upload chunk route (`PATCH <prefix>/<upload_id>` in web/uploads.py)
STREAMED_PATH = re.compile(rb"^" + re.escape(upload_routes.bp.url_prefix.encode()) + rb"/[^/?#]+(\?|$)")
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(;[^\r\n]*)?\r\n")


class _Timed:
    """A socket whose 'blocking' mode has a timeout: gunicorn sets request sockets blocking before it
    reads, and a read that never returns is what let a stalled client keep a thread for ever."""

    stall_seconds = STALL_SECONDS

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.stall_seconds)
        else:
            super().setblocking(False)


class TimedSocket(_Timed, socket.socket):
    pass


class TimedSSLSocket(_Timed, ssl.SSLSocket):
    pass


def chunked_end(body, pos: int = 0) -> tuple[int | None, int]:
    """Where a complete chunked body ends in `body` (after its last CRLF) or None if it is incomplete,
    and where to resume scanning once more bytes came (the start of the first incomplete chunk).
    Raises ValueError on a malformed size line."""
    while True:
        m = _CHUNK_SIZE_LINE.match(body, pos)
        if m is None:
            if len(body) - pos > 1024 or b"\r\n" in body[pos:pos + 40]:
                raise ValueError("bad chunk size line")
            return None, pos
        size = int(m.group(1), 16)
        if size == 0:
            end = body.find(b"\r\n\r\n", m.end() - 2)  # trailers (usually none) end with an empty line
            return (None, pos) if end < 0 else (end + 4, pos)
        if m.end() + size + 2 > len(body):
            return None, pos
        pos = m.end() + size + 2


class Verdict:
    MORE, READY, WEBSOCKET = "more", "ready", "websocket"
    CONTINUE = "continue"  # MORE, and the client waits for "100 Continue" before it sends the body


class _Head(NamedTuple):
    """The framing headers of a request head."""
    length: int | None
    chunked: bool
    upgrade: bool
    expect: bool
    bad_length: bool


def _framing(head_lines: bytes) -> _Head:
    length, chunked, upgrade, expect = None, False, False, False
    for line in head_lines.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return _Head(None, chunked, upgrade, expect, True)
        elif name == b"transfer-encoding":
            chunked = chunked or b"chunked" in value.lower()
        elif name == b"upgrade":
            upgrade = b"websocket" in value.lower()
        elif name == b"expect":
            expect = b"100-continue" in value.lower()
    return _Head(length, chunked, upgrade, expect, False)


def _judge_chunked(buf, start: int, expect: bool, conn) -> tuple[int, str, str] | str:
    received = len(buf) - start
    try:
        end, resume = chunked_end(buf, max(start, getattr(conn, "chunk_pos", 0)))
        if conn is not None:
            conn.chunk_pos = resume
    except ValueError:
        return Verdict.READY  # gunicorn answers the malformed body with its 400
    if end is not None:
        return Verdict.READY
    if received > SMALL_BODY_BYTES + 64 * 1024:  # the framing of 1 MiB of data is smaller
        return (413, "payload_too_large", f"request body over {SMALL_BODY_BYTES} bytes")
    return Verdict.CONTINUE if expect and not received else Verdict.MORE


def judge(buf: bytes | bytearray, conn=None) -> tuple[int, str, str] | str:
    """What to do with what a connection sent so far: Verdict.MORE, READY or WEBSOCKET, or
    (status, code, message) for a refusal. Only framing is judged here; gunicorn parses for real.
    `conn.chunk_pos` (if given) remembers how far a chunked body was scanned."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buf) > HEAD_MAX_BYTES:
            return (431, "headers_too_large", f"request head over {HEAD_MAX_BYTES} bytes")
        return Verdict.MORE
    first, _, rest = buf[:head_end].partition(b"\r\n")
    parts = first.split(b" ")
    head = _framing(rest)
    if head.bad_length:
        return Verdict.READY  # gunicorn answers the malformed header
    start = head_end + 4
    if STREAMED_PATH.match(parts[1] if len(parts) == 3 else b""):
        return Verdict.READY  # the upload route keeps every byte that arrived, even of a chunk cut short
    if head.chunked:
        return _judge_chunked(buf, start, head.expect, conn)
    if head.length:
        if head.length > SMALL_BODY_BYTES:
            return (413, "payload_too_large", f"request body over {SMALL_BODY_BYTES} bytes")
        if len(buf) - start < head.length:
            return Verdict.CONTINUE if head.expect and len(buf) == start else Verdict.MORE
    return Verdict.WEBSOCKET if head.upgrade else Verdict.READY


def watch(poller: selectors.BaseSelector, sock, data) -> None:
    """Register `sock` for reading. A key already held for its descriptor number is stale: a socket
    closed by another thread while registered (a websocket's reader thread closes its socket when
    the connection ends) leaves its key behind, and the kernel hands the number to the next
    connection. Replace it rather than let `register` fail, which would stop the whole worker."""
    try:
        poller.register(sock, selectors.EVENT_READ, data)
    except KeyError:
        poller.unregister(sock.fileno())
        poller.register(sock, selectors.EVENT_READ, data)


def closing_when_unread(app):
    """The WSGI `app`, whose answer says `Connection: close` when it answers before it has read its
    request's whole body (a refused upload chunk): the front then closes the connection, lingering
    for the rest of the body, and a client must not send its next request on it."""

    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            reader = getattr(environ.get("wsgi.input"), "reader", None)
            if isinstance(reader, gbody.LengthReader) and reader.length > 0:
                start_response.__self__.force_close()  # gunicorn's Response: no keep-alive promised
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


class FrontConn(gthread.TConn):
    """A connection whose request bytes the event loop collects in `buf` before a thread parses it."""

    def __init__(self, cfg, sock, client, server):
        super().__init__(cfg, sock, client, server)
        self.buf = bytearray()
        self.chunk_pos = 0
        self.continued = False
        self.handshaking = False
        self.deadline = time.monotonic() + HEAD_SECONDS

    def init(self):
        if self.initialized:
            return
        self.initialized = True
        self.sock.setblocking(True)
        self.parser = http.get_parser(self.cfg, self.sock, self.client)
        self.hand_over()

    def hand_over(self) -> None:
        """Give the collected bytes to gunicorn's parser (before a thread reads the request)."""
        if self.parser is not None and self.buf:
            self.parser.unreader.unread(bytes(self.buf))
            self.buf = bytearray()


class FrontWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker with the request-reading front described in the module docstring."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading: dict[FrontConn, None] = {}  # connections whose request is being collected
        self.lingering: dict[socket.socket, list] = {}  # socket -> [deadline, bytes drained, most to drain]
        self.ws_pool = None
        self._ssl_context = None

    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = closing_when_unread(self.wsgi)

    def init_process(self):
        found = internals.problems()
        if found:  # serving on would silently drop the protections above
            raise RuntimeError(internals.message(found))
        # gunicorn names itself in every response's Server header and has no setting for it; the
        # module-level name is what each response copies, in this worker process only.
        gwsgi.SERVER = "Jaicat"
        # every stalled client holds a descriptor now, not a thread: allow as many as the system does
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = self.cfg.worker_connections + 256
        if soft != resource.RLIM_INFINITY and soft < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY
                                                            else min(want, hard), hard))
            except (ValueError, OSError):
                pass
        self.ws_pool = futures.ThreadPoolExecutor(max_workers=WEBSOCKET_THREADS, thread_name_prefix="ws")
        if self.cfg.is_ssl:
            self._ssl_context = gsock.ssl_context(self.cfg)
            self._ssl_context.sslsocket_class = TimedSSLSocket
        super().init_process()

    # --- accepting and collecting ----------------------------------------------------------------
    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # out of descriptors: stop accepting until the loop's next turn (run() turns it back on)
                self.log.warning("cannot accept a connection: %s", e)
                self.set_accept_enabled(False)
                return
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        sock = TimedSocket(client_sock.family, client_sock.type, client_sock.proto, fileno=client_sock.detach())
        sock.setblocking(False)
        self.nr_conns += 1
        conn = FrontConn(self.cfg, sock, client_addr, listener.getsockname())
        if self._ssl_context is not None:
            conn.sock = self._ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False,
                suppress_ragged_eofs=self.cfg.suppress_ragged_eofs)
            conn.handshaking = True
        self._collect(conn)

    def _collect(self, conn: FrontConn) -> None:
        conn.chunk_pos = 0
        conn.continued = False
        conn.deadline = time.monotonic() + HEAD_SECONDS
        conn.sock.setblocking(False)
        self.reading[conn] = None
        watch(self.poller, conn.sock, partial(self.on_readable, conn))
        if conn.buf:  # bytes already held (pipelined behind the last request) may be a whole request
            self._advance(conn)

    def on_readable(self, conn: FrontConn, _sock=None) -> None:
        try:
            if conn.handshaking:
                conn.sock.do_handshake()
                conn.handshaking = False
            while len(conn.buf) <= HEAD_MAX_BYTES + SMALL_BODY_BYTES + 64 * 1024:
                data = conn.sock.recv(256 * 1024)
                if not data:
                    self._drop(conn)
                    return
                conn.buf += data
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedError):
            pass
        except (OSError, ValueError):
            self._drop(conn)
            return
        self._advance(conn)

    def _advance(self, conn: FrontConn) -> None:
        verdict = judge(conn.buf, conn)
        if verdict == Verdict.CONTINUE:
            if not conn.continued:  # curl asks for it before any body over 1 KB; gunicorn answers too late
                conn.continued = True
                try:
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                except (OSError, ValueError):
                    pass
            return
        if verdict == Verdict.MORE:
            return
        self._unwatch(conn)
        if isinstance(verdict, tuple):
            self._refuse(conn, *verdict)
            return
        conn.data_ready = True
        if conn.initialized:
            conn.hand_over()
        if verdict == Verdict.WEBSOCKET:
            fs = self.ws_pool.submit(self.handle, conn)
            fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))
        else:
            self.enqueue_req(conn)

    def _unwatch(self, conn: FrontConn) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _drop(self, conn: FrontConn) -> None:
        self._unwatch(conn)
        self.nr_conns -= 1
        try:
            conn.sock.close()
        except OSError:
            pass

    def _refuse(self, conn: FrontConn, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": code, "message": message}).encode()
        reason = {408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large"}
        head = (f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        try:
            conn.sock.send(head + body)  # small enough for any socket buffer; a full one loses nothing
        except (OSError, ValueError):
            pass
        self.nr_conns -= 1
        self._linger(conn.sock)

    # --- closing without blocking the loop -------------------------------------------------------
    def _linger(self, sock, max_bytes: int = LINGER_MAX_BYTES) -> None:
        """Half-close and read what the client still sends (up to `max_bytes`) until it closes or
        LINGER_SECONDS pass, so the kernel does not reset the connection before the client read our
        last response."""
        try:
            sock.setblocking(False)
            if isinstance(sock, ssl.SSLSocket):
                sock.close()
                return
            sock.shutdown(socket.SHUT_WR)
            watch(self.poller, sock, self._on_linger_readable)
            self.lingering[sock] = [time.monotonic() + LINGER_SECONDS, 0, max_bytes]
        except (OSError, ValueError, KeyError):
            sock.close()

    def _on_linger_readable(self, sock) -> None:
        try:
            data = sock.recv(65536)
            if data:
                state = self.lingering.get(sock)
                if state is not None:
                    state[1] += len(data)
                    if state[1] <= state[2]:
                        return  # else: a client that goes on sending a refused body is cut off
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._end_linger(sock)

    def _end_linger(self, sock) -> None:
        self.lingering.pop(sock, None)
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        sock.close()

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.reading if c.deadline <= now]:
            self._unwatch(conn)
            if conn.buf:
                self._refuse(conn, 408, "request_timeout", f"the request did not arrive within {HEAD_SECONDS:.0f} s")
            else:
                self._drop(conn)
        for sock in [s for s, (t, *_) in self.lingering.items() if t <= now]:
            self._end_linger(sock)

    # --- after a request -------------------------------------------------------------------------
    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection sent something: collect the next request on the loop."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._collect(conn)

    def finish_request(self, conn, fs):
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:
            result = False
        if result is gthread._DEFER:  # our connections always have data: never deferred
            result = False
        if result and self.alive:
            held = conn.parser.unreader.take_buffered()
            if held:  # the client pipelined its next request
                conn.buf += held
            if conn.buf:
                self._collect(conn)
                return
            conn.sock.setblocking(False)
            conn.set_timeout()
            self.keepalived_conns.append(conn)
            watch(self.poller, conn.sock, partial(self.on_client_socket_readable, conn))
            return
        self.nr_conns -= 1
        try:
            self._linger(conn.sock, LINGER_APP_MAX_BYTES)
        except Exception:
            conn.close()

    def _keepalive_after(self, conn, keepalive):
        """Keep the connection only if the body the app left unread is already here: draining more
        would hold this thread for as long as a client cares to trickle it."""
        return bool(keepalive) and bool(conn.parser.finish_body(deadline=time.monotonic() + 0.05))

    def run(self):
        try:
            super().run()
        finally:
            self.ws_pool.shutdown(wait=False)
