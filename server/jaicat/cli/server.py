"""Server commands: serve, discover, devices, pair.

`jaicat serve` runs the Flask app on gunicorn's threaded worker (one process, many threads: the ML
worker and the websocket hub live in that process). Side effects happen here, never in create_app:
the pairing code is printed by the master before it forks; the worker process (gunicorn's `load`)
starts the ML worker, the suggestion engine, the upload sweeper and the zeroconf announcement.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading

from .. import pairing
from ..errors import InvalidInput
from . import open_catalogue

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

    p = sub.add_parser("discover", help="list Jaicat servers announced on the LAN (zeroconf)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to listen (default 3)")
    p.add_argument("--interface", action="append", help="only this interface address (repeatable)")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("devices", help="list paired devices, or revoke one")
    p.add_argument("--revoke", type=int, metavar="ID", help="revoke the device with this id")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("pair", help="print a new pairing code (valid 10 minutes) for a phone")
    p.add_argument("--no-qr", dest="qr", action="store_false", help="do not draw the QR code")
    p.set_defaults(func=cmd_pair)


def base_url(settings) -> str:
    scheme = "https" if settings.https else "http"
    host = settings.host
    if host in ("0.0.0.0", "", "::"):
        from ..tls import lan_addresses

        addrs = lan_addresses()
        host = addrs[0] if addrs else f"{socket.gethostname().split('.')[0]}.local"
    return f"{scheme}://{host}:{settings.port}"


def print_pairing(settings, qr: bool = True) -> str:
    code, expires = pairing.create_code()
    url = pairing.pair_url(base_url(settings), code)
    print(f"Pairing code: {code}  (valid until {expires:%H:%M} UTC, single use)")
    print(f"Open on the phone: {url}")
    if qr:
        print(pairing.qr_text(url))
    sys.stdout.flush()
    return code


def cmd_pair(args, settings) -> int:
    open_catalogue(settings)
    print_pairing(settings, qr=args.qr)
    return 0


def cmd_devices(args, settings) -> int:
    open_catalogue(settings)
    if args.revoke is not None:
        d = pairing.revoke_device(args.revoke)
        print(f"revoked device {d.id} ({d.name})")
        return 0
    rows = pairing.list_devices()
    if not rows:
        print("no paired devices; run `jaicat pair` and enter the code on the phone")
        return 0
    print(f"{'ID':>4}  {'NAME':<28} {'PAIRED':<20} {'LAST SEEN':<20} STATUS")
    for d in rows:
        seen = f"{d.last_seen:%Y-%m-%d %H:%M}" if d.last_seen else "-"
        print(f"{d.id:>4}  {d.name[:28]:<28} {d.created_at:%Y-%m-%d %H:%M}     {seen:<20} "
              f"{'revoked' if d.revoked else 'active'}")
    return 0


def cmd_discover(args, settings) -> int:
    from ..discovery import discover

    found = discover(timeout=args.timeout, interfaces=args.interface)
    if not found:
        print("no Jaicat server found")
        return 1
    for s in found:
        print(f"{s['name']}\t{s['url']}\tversion {s['version']}\tid {s['id']}")
    return 0


# --- serve -------------------------------------------------------------------------------------------
def _apply_flags(args, settings) -> None:
    for name in ("host", "port", "https", "zeroconf", "worker"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, value)
    if not 0 < int(settings.port) < 65536:
        raise InvalidInput(f"port {settings.port} is not a TCP port")


def _sweep_uploads(settings, stop: threading.Event) -> None:
    from .. import uploads
    from ..db import database

    while True:  # one sweep at start-up, then every SWEEP_SECONDS
        try:
            with database.connection_context():
                n = uploads.expire_uploads(settings)
            if n:
                log.info("removed %d expired uploads", n)
        except Exception:
            log.exception("upload sweep failed")
        if stop.wait(SWEEP_SECONDS):
            return


def _start_services(settings) -> list:
    """Worker-process side effects; returns callables that undo them at exit."""
    stops = []
    stop = threading.Event()
    threading.Thread(target=_sweep_uploads, args=(settings, stop), name="upload-sweeper", daemon=True).start()
    stops.append(stop.set)
    from .. import worker, xmp
    from ..suggest import service as suggest_service

    # Learning and sidecars hook into filing before the worker can produce the first suggestion.
    suggest_service.install(settings, warm=True)
    xmp.install(settings, follow=True)
    stops.append(xmp.stop_following)
    if settings.worker:
        worker.start(settings)
        stops.append(worker.stop)
    if settings.zeroconf:
        from ..db import database
        from ..discovery import announce, server_id

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
        "worker_class": "gthread",
        "threads": max(4, int(threads)),
        "timeout": 120,
        "graceful_timeout": 5,
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
        from ..tls import ensure_server_cert

        paths = ensure_server_cert(settings.data_dir, extra_hosts=[settings.host])
        options.update(certfile=str(paths.cert), keyfile=str(paths.key))

    class JaicatServer(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self):
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            app = create_app(settings)
            stops.extend(_start_services(settings))
            return app

    return JaicatServer()


def cmd_serve(args, settings) -> int:
    from ..db import database

    _apply_flags(args, settings)
    open_catalogue(settings)
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
    server.run()
    return 0
