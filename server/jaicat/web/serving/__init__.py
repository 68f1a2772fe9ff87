"""The serving layer: the gunicorn worker `jaicat serve` runs, and everything that leans on gunicorn.

- `front`: FrontWorker, gunicorn's gthread worker with every request read on its event loop under
  deadlines and size limits before a thread sees it (stalled or idle clients cost a buffer, not a
  thread); TimedSocket, which turns gunicorn's "blocking" sockets into ones with STALL_SECONDS.
- `rawbody`: upload chunks spliced from the socket into their file, past gunicorn's body readers.
- `internals`: the gunicorn internals below as data, checked when the worker starts and in
  tests/web/test_serving_internals.py; gunicorn is pinned to the tested major version (27).

The gunicorn internals this package touches (none is public API; `internals.INTERNALS` is the
checked list, and a test keeps this one in step with it):
- `gunicorn.workers.gthread.ThreadWorker` (subclassed): `__init__`, `init_process`, `run`, `accept`
  (registered by `set_accept_enabled`), `enqueue_req`, `handle` (skips its wait when `data_ready`,
  calls `setblocking(True)` then `_keepalive_after`), `finish_request`, `murder_pending`,
  `on_client_socket_readable`, `_keepalive_after`; the attributes `poller`, `method_queue`
  (`PollableMethodQueue.defer`), `keepalived_conns`, `nr_conns`, `alive`, `cfg`, `log`, `wsgi`; and
  the module's `_DEFER` marker.
- `gunicorn.workers.gthread.TConn` (subclassed): `__init__`, `init`, `set_timeout`; the attributes
  `cfg`, `sock`, `client`, `parser`, `initialized`, `data_ready`, `timeout`.
- `gunicorn.http.get_parser`; the parser's `unreader` (`Unreader.unread`, `Unreader.take_buffered`,
  `Unreader.buf`) and `Parser.finish_body(deadline=...)`.
- `gunicorn.http.wsgi.SERVER` (the Server header's name, which `Response` copies) and the
  `default_environ` key "gunicorn.socket".
- `gunicorn.sock.ssl_context` (TLS handshakes on the loop, with TimedSSLSocket).
- `gunicorn.http.body.Body` (`reader`, `buf`), `gunicorn.http.body.LengthReader` (`unreader`,
  `length`) and `gunicorn.http.unreader.SocketUnreader` (`sock`), for rawbody.
- `gunicorn.workers.base.Worker.load_wsgi` (it sets `wsgi`, which the front wraps in
  `closing_when_unread`), `gunicorn.http.wsgi.Response.start_response`, `Response.force_close` and
  `Response.should_close` (`must_close`), `gunicorn.http.message.Message.set_body_reader` (a
  `LengthReader` body) and the `default_environ` key "wsgi.input": an answer given before the body
  was read says `Connection: close`.

This package imports web/ modules for the limits it enforces (params.MAX_JSON_BYTES, ws.SOCKETS_TOTAL,
the upload blueprint's URL), never the other way round except for STALL_SECONDS and rawbody.
"""

from __future__ import annotations

STALL_SECONDS = 30.0  # a request thread waits at most this long for the next byte of a body
