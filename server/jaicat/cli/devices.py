"""Device commands: pair, devices, discover."""

from __future__ import annotations

import datetime as dt
import sys

from ..devices import pairing
from ..devices.addresses import read_running, server_urls


def register(sub) -> None:
    p = sub.add_parser("pair", help="print a new pairing code (valid 10 minutes) for a phone")
    p.add_argument("--no-qr", dest="qr", action="store_false", help="do not draw the QR code")
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser("devices", help="list paired devices, or revoke one")
    p.add_argument("--revoke", type=int, metavar="ID", help="revoke the device with this id")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("discover", help="list Jaicat servers announced on the LAN (zeroconf)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to listen (default 3)")
    p.add_argument("--interface", action="append", help="only this interface address (repeatable)")
    p.set_defaults(func=cmd_discover)


def base_url(settings) -> str:
    """The first URL a phone can open for these settings (the server's own view: server_urls)."""
    return server_urls(settings)[0]


def print_pairing(settings, qr: bool = True, urls: list[str] | None = None) -> str:
    """Make a pairing code and print it with a link (and a QR code) for each URL of the server."""
    code, expires = pairing.create_code()
    local = expires.replace(tzinfo=dt.timezone.utc).astimezone()  # the clock on the user's wall
    print(f"Pairing code: {code}  (valid until {local:%H:%M}, single use)")
    for url in urls or server_urls(settings):
        link = pairing.pair_url(url, code)
        print(f"Open on the phone: {link}")
        if qr:
            print(pairing.qr_text(link))
    sys.stdout.flush()
    return code


def cmd_pair(args, runtime) -> int:
    settings = runtime.settings
    runtime.open()
    running = read_running(settings)
    if running is None:
        print("The server is not running: start it with `jaicat serve`; the code works once it runs.")
    print_pairing(settings, qr=args.qr, urls=running["urls"] if running else None)
    return 0


def cmd_devices(args, runtime) -> int:
    runtime.open()
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


def cmd_discover(args, runtime) -> int:
    from ..devices.discovery import discover

    found = discover(timeout=args.timeout, interfaces=args.interface)
    if not found:
        print("no Jaicat server found")
        return 1
    for s in found:
        print(f"{s['name']}\t{s['url']}\tversion {s['version']}\tid {s['id']}")
    return 0
