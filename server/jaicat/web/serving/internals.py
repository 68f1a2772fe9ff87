"""The gunicorn internals web/serving relies on, as data, and the check that they are still there.

gunicorn has no public API for a worker that reads requests on its event loop, so the front
subclasses its gthread worker and reaches into its parser and body readers. A gunicorn release that
renames one of these would not fail loudly: the front would fall back to gunicorn's own behaviour (or
crash on one connection), and the protections against stalled and oversized requests would be gone.
`problems()` turns such a change into one clear message; the worker calls it before it serves and
refuses to start, and tests/web/test_serving_internals.py runs it in CI.

Each entry is (dotted name, kind, expectation):
- "signature": the callable exists with exactly this signature (str(inspect.signature)).
- "exists": the module-level name exists.
- "sets": instances get these attributes (`self.<name> =` somewhere in the class or its bases).
- "source": the function's source still contains this text (a behaviour the front builds on).
"""

from __future__ import annotations

import importlib
import inspect

import gunicorn

TESTED_MAJOR = 27  # pyproject.toml pins gunicorn>=27,<28

INTERNALS: tuple[tuple[str, str, object], ...] = (
    # the worker the front subclasses (serving/front.py FrontWorker)
    ("gunicorn.workers.gthread.ThreadWorker.__init__", "signature", "(self, *args, **kwargs)"),
    ("gunicorn.workers.gthread.ThreadWorker", "sets",
     ("poller", "method_queue", "keepalived_conns", "nr_conns", "alive", "cfg", "log", "wsgi")),
    ("gunicorn.workers.gthread.ThreadWorker.init_process", "signature", "(self)"),
    ("gunicorn.workers.gthread.ThreadWorker.run", "signature", "(self)"),
    ("gunicorn.workers.gthread.ThreadWorker.accept", "signature", "(self, listener)"),
    ("gunicorn.workers.gthread.ThreadWorker.set_accept_enabled", "signature", "(self, enabled)"),
    ("gunicorn.workers.gthread.ThreadWorker.set_accept_enabled", "source", "self.accept"),
    ("gunicorn.workers.gthread.ThreadWorker.enqueue_req", "signature", "(self, conn)"),
    ("gunicorn.workers.gthread.ThreadWorker.handle", "signature", "(self, conn)"),
    ("gunicorn.workers.gthread.ThreadWorker.handle", "source", "conn.data_ready"),
    ("gunicorn.workers.gthread.ThreadWorker.handle", "source", "conn.sock.setblocking(True)"),
    ("gunicorn.workers.gthread.ThreadWorker.handle", "source", "self._keepalive_after(conn,"),
    ("gunicorn.workers.gthread.ThreadWorker.finish_request", "signature", "(self, conn, fs)"),
    ("gunicorn.workers.gthread.ThreadWorker.murder_pending", "signature", "(self)"),
    ("gunicorn.workers.gthread.ThreadWorker.on_client_socket_readable", "signature", "(self, conn, client)"),
    ("gunicorn.workers.gthread.ThreadWorker._keepalive_after", "signature", "(self, conn, keepalive)"),
    ("gunicorn.workers.gthread.PollableMethodQueue.defer", "signature", "(self, callback, *args)"),
    ("gunicorn.workers.gthread._DEFER", "exists", None),
    # the connection the front extends (serving/front.py FrontConn)
    ("gunicorn.workers.gthread.TConn.__init__", "signature", "(self, cfg, sock, client, server)"),
    ("gunicorn.workers.gthread.TConn", "sets", ("cfg", "sock", "client", "parser", "initialized", "data_ready",
                                                "timeout")),
    ("gunicorn.workers.gthread.TConn.init", "signature", "(self)"),
    ("gunicorn.workers.gthread.TConn.set_timeout", "signature", "(self)"),
    # parsing: the bytes the loop collected are handed to gunicorn's own parser
    ("gunicorn.http.get_parser", "signature", "(cfg, source, source_addr, http2_connection=False)"),
    ("gunicorn.http.unreader.Unreader.unread", "signature", "(self, data)"),
    ("gunicorn.http.unreader.Unreader.take_buffered", "signature", "(self)"),
    ("gunicorn.http.unreader.Unreader", "sets", ("buf",)),
    ("gunicorn.http.parser.Parser", "sets", ("unreader",)),
    ("gunicorn.http.parser.Parser.finish_body", "signature", "(self, deadline=None, max_bytes=None)"),
    # the Server header, and TLS on the loop
    ("gunicorn.http.wsgi.SERVER", "exists", None),
    ("gunicorn.http.wsgi.Response.__init__", "source", "SERVER"),
    ("gunicorn.sock.ssl_context", "signature", "(conf)"),
    # the splice fast path for upload chunks (serving/rawbody.py)
    ("gunicorn.http.body.Body.__init__", "signature", "(self, reader)"),
    ("gunicorn.http.body.Body", "sets", ("reader", "buf")),
    ("gunicorn.http.body.LengthReader.__init__", "signature", "(self, unreader, length)"),
    ("gunicorn.http.body.LengthReader", "sets", ("unreader", "length")),
    ("gunicorn.http.unreader.SocketUnreader.__init__", "signature", "(self, sock, max_chunk=8192)"),
    ("gunicorn.http.unreader.SocketUnreader", "sets", ("sock",)),
    # an answer before the body was read closes the connection (serving/front.py closing_when_unread)
    ("gunicorn.workers.base.Worker.load_wsgi", "signature", "(self)"),
    ("gunicorn.workers.base.Worker.load_wsgi", "source", "self.wsgi = "),
    ("gunicorn.http.wsgi.Response.start_response", "signature", "(self, status, headers, exc_info=None)"),
    ("gunicorn.http.wsgi.Response.force_close", "signature", "(self)"),
    ("gunicorn.http.wsgi.Response.should_close", "source", "self.must_close"),
    ("gunicorn.http.message.Message.set_body_reader", "source", "Body(LengthReader("),
    ("gunicorn.http.wsgi.default_environ", "source", "\"wsgi.input\": req.body"),
    # the request's socket in the WSGI environ (web/ws.py lifts its stall timeout)
    ("gunicorn.http.wsgi.default_environ", "source", '"gunicorn.socket"'),
)


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def _sets(cls) -> str:
    out = []
    for klass in inspect.getmro(cls):
        if klass is not object:
            try:
                out.append(inspect.getsource(klass))
            except (OSError, TypeError):
                pass
    return "\n".join(out)


def problems() -> list[str]:
    """What no longer matches INTERNALS in the installed gunicorn (empty when all is as tested).
    A check that needs source code is skipped where gunicorn was installed without it."""
    found = []
    for dotted, kind, expect in INTERNALS:
        try:
            obj = _resolve(dotted)
        except (ImportError, AttributeError):
            found.append(f"{dotted} is gone")
            continue
        try:
            if kind == "signature":
                got = str(inspect.signature(obj))
                if got != expect:
                    found.append(f"{dotted}{got}, expected {expect}")
            elif kind == "sets":
                text = _sets(obj)
                if text:
                    found += [f"{dotted} no longer sets self.{a}" for a in expect if f"self.{a} =" not in text]
            elif kind == "source":
                if expect not in inspect.getsource(obj):
                    found.append(f"{dotted} no longer contains {expect}")
        except (OSError, TypeError, ValueError):
            continue
    return found


def message(found: list[str]) -> str:
    return (f"gunicorn {gunicorn.__version__} changed internals that jaicat.web.serving relies on "
            f"(tested with {TESTED_MAJOR}.x): " + "; ".join(found)
            + ". Re-check web/serving/ against this gunicorn before widening the pin in pyproject.toml.")
