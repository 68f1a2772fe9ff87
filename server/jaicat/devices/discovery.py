"""Finding the server on the LAN: zeroconf `_jaicat._tcp.local.` announcement and browsing.

The service is announced only on the interfaces the server listens on: a server bound to
127.0.0.1 announces on loopback only (tests), one bound to 0.0.0.0 on every interface.
TXT records: version, api path, https flag, server id (stable, from the catalogue's Meta table).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

from .. import __version__
from ..db import get_meta, set_meta
from .tls import lan_addresses

SERVICE_TYPE = "_jaicat._tcp.local."
_id_lock = threading.Lock()


def server_id() -> str:
    """This catalogue's stable id (created on first use)."""
    with _id_lock:
        sid = get_meta("server_id")
        if sid is None:
            sid = uuid.uuid4().hex[:16]
            set_meta("server_id", sid)
        return sid


def _interfaces(host: str):
    from zeroconf import InterfaceChoice

    if host in ("0.0.0.0", "", "::"):
        return InterfaceChoice.All
    return [host]


def _addresses(host: str) -> list[str]:
    if host not in ("0.0.0.0", "", "::"):
        return [host]

    return lan_addresses() or ["127.0.0.1"]


class Announcement:
    """A registered zeroconf service; `close()` unregisters it."""

    def __init__(self, host: str, port: int, https: bool, sid: str, name: str | None = None):
        from zeroconf import ServiceInfo, Zeroconf

        self.zc = Zeroconf(interfaces=_interfaces(host))
        label = (name or f"Jaicat on {socket.gethostname()}")[:50]
        self.info = ServiceInfo(
            SERVICE_TYPE, f"{label} ({sid[:6]}).{SERVICE_TYPE}",
            addresses=[socket.inet_aton(a) for a in _addresses(host)], port=port,
            properties={"version": __version__, "api": "/api", "https": "1" if https else "0", "id": sid},
            server=f"{socket.gethostname().split('.')[0]}.local.",
        )
        self.zc.register_service(self.info, allow_name_change=True)

    def close(self) -> None:
        try:
            self.zc.unregister_service(self.info)
        finally:
            self.zc.close()


def announce(host: str, port: int, https: bool, sid: str) -> Announcement:
    return Announcement(host, port, https, sid)


def discover(timeout: float = 3.0, interfaces: list[str] | None = None) -> list[dict]:
    """Servers seen within `timeout` seconds: [{name, addresses, port, url, version, https, id}]."""
    from zeroconf import InterfaceChoice, ServiceBrowser, ServiceStateChange, Zeroconf

    zc = Zeroconf(interfaces=interfaces or InterfaceChoice.All)
    names: set[str] = set()
    lock = threading.Lock()

    def on_change(zeroconf, service_type, name, state_change):
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            with lock:
                names.add(name)

    browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
    found: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            with lock:
                pending = [n for n in names if n not in found]
            for n in pending:
                info = zc.get_service_info(SERVICE_TYPE, n, timeout=1000)
                if info is None:
                    continue
                props = {k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()}
                addrs = info.parsed_addresses()
                https = props.get("https") == "1"
                found[n] = {
                    "name": n.removesuffix("." + SERVICE_TYPE), "addresses": addrs, "port": info.port,
                    "url": f"{'https' if https else 'http'}://{addrs[0] if addrs else info.server}:{info.port}",
                    "version": props.get("version"), "https": https, "id": props.get("id"),
                    "api": props.get("api"),
                }
    finally:
        browser.cancel()
        zc.close()
    return list(found.values())
