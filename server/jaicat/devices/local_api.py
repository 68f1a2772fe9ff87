"""The local credential: how `jaicat` commands on this machine ask the running server to change
things, so that the server stays the one owner of the catalogue's review state and the suggester.

At start `jaicat serve` issues a fresh random token (a new one each start; the old one dies with
the process) and writes it, with the loopback URL to reach the server at, to
`<data_dir>/local-api.json` (mode 0600: only the data directory's owner can read it). The server
accepts the token only in an `Authorization: Bearer` header and only from a loopback peer
(web/auth.py): a phone on the LAN cannot use it even if it learned it.

    access = LocalAccess(settings)     # held by the Runtime (runtime.local)
    access.issue()                     # serve: write the file, accept its token from now on
    access.accepts(token)              # the web layer asks
    access.issued                      # whether this process serves commands (commands/analysis.py)
    access.revoke()                    # serve stops: forget the token, remove the file
    read_credential(settings)          # a command: {"url", "token", "pid", "ca"} or None
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
import threading

from ..config import Settings

FILE = "local-api.json"


def loopback_url(settings: Settings) -> str | None:
    """The URL a command on this machine reaches the server at over loopback, or None when the server
    listens on one other address only (then it cannot be asked locally)."""
    host = (settings.host or "0.0.0.0").strip("[]")
    if host in ("0.0.0.0", "localhost") or host.startswith("127."):
        addr = "127.0.0.1"
    elif host in ("::", "::1"):
        addr = "[::1]"
    else:
        return None
    return f"{'https' if settings.https else 'http'}://{addr}:{int(settings.port)}"


def is_loopback(address: str | None) -> bool:
    """Whether a peer address is this machine's loopback (127.0.0.0/8, ::1, or v4-mapped 127.x)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class LocalAccess:
    """The local credential of one serving process."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.path = settings.data_dir / FILE
        self._token: str | None = None
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new token, written (0600, atomically) with the loopback URL; the previous one is dead."""
        token = secrets.token_urlsafe(32)
        doc = {"url": loopback_url(self.settings), "token": token, "pid": os.getpid()}
        tmp = self.path.with_name(f".{FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask, and even if the temp file existed
            os.write(fd, json.dumps(doc).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        with self._lock:
            self._token = token
        return token

    def accepts(self, token: str | None) -> bool:
        """Whether `token` is this process's current local credential (constant-time compare)."""
        with self._lock:
            mine = self._token
        return bool(mine and token) and hmac.compare_digest(mine.encode(), token.encode())

    @property
    def issued(self) -> bool:
        """Whether a credential is live: this process serves the commands of this machine."""
        with self._lock:
            return self._token is not None

    def revoke(self) -> None:
        """Accept the token no longer and remove the file (if it is still ours)."""
        with self._lock:
            self._token = None
        cred = read_credential(self.settings)
        if cred is not None and cred.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)


def read_credential(settings: Settings) -> dict | None:
    """The running server's credential file as {"url", "token", "pid"}, or None if there is none."""
    try:
        doc = json.loads((settings.data_dir / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("token"), str):
        return None
    return doc
