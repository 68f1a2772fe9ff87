"""Device commands: pair, devices, discover."""

from __future__ import annotations

import socket
import sys

from ..devices import pairing


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
    scheme = "https" if settings.https else "http"
    host = settings.host
    if host in ("0.0.0.0", "", "::"):
        from ..devices.tls import lan_addresses

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


def cmd_pair(args, runtime) -> int:
    settings = runtime.settings
    runtime.open()
    print_pairing(settings, qr=args.qr)
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
