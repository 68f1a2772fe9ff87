"""The server command: `jaicat serve`.

`jaicat serve` runs the Flask app on gunicorn's threaded worker behind a front that reads each request
on the event loop before a thread sees it (web/serving/; one process, many threads: the ML worker and
the websocket hub live in that process). Side effects happen here, never in create_app:
the pairing code is printed by the master before it forks; the worker process (gunicorn's `load`)
creates the Runtime (suggester and analysis worker) for the app, starts it, and starts the upload
sweeper and the zeroconf announcement."""

from __future__ import annotations

import logging
import os
import sys
import threading

from ..devices import pairing
from ..devices.addresses import clear_running, write_running
from ..errors import InvalidInput
from .devices import base_url, print_pairing

log = logging.getLogger("jaicat.serve")
SWEEP_SECONDS = 600


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the server for the phone app (HTTP API, websocket, PWA)")
    p.add_argument("--host", help="address to listen on (default 0.0.0.0: every interface)")
    p.add_argument("--port", type=int, help="port (default 8787)")
    p.add_argument("--https", action="store_true", default=None,
                   help="serve HTTPS with a local CA (created once; phones trust /ca.crt)")
    p.add_argument("--no-zeroconf", dest="zeroconf", action="store_false", default=None,
                   help="do not announce the server on the LAN")
    p.add_argument("--no-worker", dest="worker", action="store_false", default=None,
                   help="do not run the analysis worker in the server")
    p.add_argument("--threads", type=int, default=32,
                   help="request threads (each open websocket holds one; default 32)")
    p.set_defaults(func=cmd_serve)


def _apply_flags(args, settings) -> None:
    for name in ("host", "port", "https", "zeroconf", "worker"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, value)
    if not 0 < int(settings.port) < 65536:
        raise InvalidInput(f"port {settings.port} is not a TCP port")


def _sweep_uploads(receiver, stop: threading.Event) -> None:
    from ..db import database

    while True:  # one sweep at start-up, then every SWEEP_SECONDS
        try:
            with database.connection_context():
                n = receiver.expire()
            if n:
                log.info("removed %d expired uploads", n)
        except Exception:
            log.exception("upload sweep failed")
        if stop.wait(SWEEP_SECONDS):
            return


def _start_services(settings, runtime) -> list:
    """Worker-process side effects; returns callables that undo them at exit."""
    stops = []
    stop = threading.Event()
    threading.Thread(target=_sweep_uploads, args=(runtime.uploads, stop), name="upload-sweeper", daemon=True).start()
    stops.append(stop.set)
    # Learning and sidecars hook into filing before the worker can produce the first suggestion.
    runtime.start()  # the suggester learns from filing and warms up; sidecars follow; the worker starts
    stops.append(runtime.close)  # stops the worker, saves what the suggester learned, revokes the credential
    runtime.local.issue()  # commands on this machine ask this server from now on (local-api.json)
    if settings.zeroconf:
        from ..db import database
        from ..devices.discovery import announce, server_id

        with database.connection_context():
            sid = server_id()
        try:
            ann = announce(settings.host, settings.port, settings.https, sid)
            stops.append(ann.close)
            log.info("announced %s on zeroconf", sid)
        except OSError as e:
            log.warning("zeroconf announcement failed: %s", e)
    return stops


def make_server(settings, threads: int = 32):
    """A gunicorn application serving Jaicat with `settings` (importable for in-thread tests)."""
    from gunicorn.app.base import BaseApplication

    from ..runtime import Runtime
    from ..web.app import create_app

    stops: list = []

    def worker_exit(server, worker):
        for fn in reversed(stops):
            try:
                fn()
            except Exception:
                log.exception("shutdown step failed")

    options = {
        "bind": [f"[{settings.host}]:{settings.port}" if ":" in settings.host else
                 f"{settings.host}:{settings.port}"],
        "workers": 1,
        # gthread with a front that reads requests on the event loop (web/serving/): stalled and idle
        # clients cost a buffer, not one of the request threads
        "worker_class": "jaicat.web.serving.front.FrontWorker",
        "worker_connections": 4000,
        "threads": max(4, int(threads)),
        "timeout": 120,
        # after SIGTERM the worker drains its requests and then runs Runtime.close (the face pass's
        # process, a command job's next file, the suggester's snapshot): gunicorn's master SIGKILLs a
        # worker still busy at this limit, which once left the face pass's process behind
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": "-" if settings.log_requests else None,
        # the path without the query string: a websocket's ?token= must never reach a log file
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "jaicat",
        "worker_exit": worker_exit,
        "limit_request_line": 8190,
        "control_socket_disable": True,  # several servers (tests) must not fight over one socket
    }
    if settings.https:
        from ..devices.tls import ensure_server_cert

        paths = ensure_server_cert(settings.data_dir, extra_hosts=[settings.host])
        options.update(certfile=str(paths.cert), keyfile=str(paths.key))

    class JaicatServer(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self):
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            runtime = Runtime(settings)
            app = create_app(settings, runtime=runtime)
            stops.extend(_start_services(settings, runtime))
            return app

    return JaicatServer()


def cmd_serve(args, runtime) -> int:
    from ..db import database, open_db

    settings = runtime.settings
    _apply_flags(args, settings)
    # The catalogue only: the sidecar writer, suggester and worker belong to the serving process's own
    # Runtime (created after gunicorn's fork), so nothing is connected twice there.
    settings.ensure_dirs()
    open_db(settings.db_path)
    server = make_server(settings, threads=args.threads)  # creates the certificates for --https
    print(f"Jaicat serving {base_url(settings)} (listening on {settings.host}:{settings.port}, pid {os.getpid()})")
    if settings.https:
        print(f"Phones trust the local CA once: {base_url(settings)}/ca.crt (see docs/HTTPS.md)")
    if not pairing.has_paired_devices():
        print_pairing(settings)
    else:
        print("Pair another phone with `jaicat pair`.")
    sys.stdout.flush()
    database.close()  # never carry an SQLite connection across gunicorn's fork
    write_running(settings)  # `jaicat pair` prints these addresses
    try:
        server.run()
    finally:
        clear_running(settings)
    return 0
