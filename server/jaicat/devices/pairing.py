"""Pairing phones with this server: short one-time codes exchanged for long device tokens.

Codes and tokens are stored only as SHA-256 hashes: codes in the Meta table (`pair:<hash>` ->
expiry), so a code made by `jaicat pair` in one process is accepted by the running server in
another; tokens in Device.token_hash. A code is 6 characters from an alphabet without look-alikes
(31^6 ≈ 8.9e8 values), valid 10 minutes and single use; failed attempts are limited per address in the
server process (5 wrong codes block that address for a minute, doubling each time), so guessing is
hopeless and a guesser never blocks another phone's valid code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import ipaddress
import secrets
import threading
import time
from collections import deque

from ..db import Device, Meta, database, utcnow
from ..errors import InvalidInput, NotFound, RateLimited, Unauthorized
from .. import events
from ..events import Signal

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
CODE_TTL = dt.timedelta(minutes=10)
_PREFIX = "pair:"

# Sent with the device id after a device is revoked (and committed): its open connections close.
device_revoked = Signal("device_revoked")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalise_code(code: str) -> str:
    return "".join(ch for ch in str(code).upper() if ch.isalnum())


def create_code(now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """A fresh pairing code and its expiry (UTC, naive). Expired codes are purged on the way."""
    now = now or utcnow()
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + CODE_TTL
    with database.atomic():
        _purge_expired(now)
        Meta.insert(key=_PREFIX + _hash(code), value=expires.isoformat()).on_conflict_replace().execute()
    return code, expires


def _purge_expired(now: dt.datetime) -> None:
    for row in Meta.select().where(Meta.key.startswith(_PREFIX)):
        try:
            expired = dt.datetime.fromisoformat(row.value) <= now
        except ValueError:
            expired = True
        if expired:
            row.delete_instance()


class AttemptLimiter:
    """Failed pairing attempts per client address, with back-off: `per_client` failures within
    `window` seconds block that address for `window` seconds, doubling with each further block up to
    `max_block`. Only the failing address is blocked: a phone on another address always gets its
    valid code through, however many addresses a guesser uses (with 31^6 codes valid 10 minutes, a
    thousand addresses guessing at 5 a minute find one code with odds of about 1 in 18000).
    IPv6 addresses count per /64, the block a single host can use freely."""

    def __init__(self, per_client: int = 5, window: float = 60.0, max_block: float = 3600.0,
                 max_clients: int = 10_000):
        self.per_client, self.window, self.max_block, self.max_clients = per_client, window, max_block, max_clients
        self._lock = threading.Lock()
        self._fails: dict[str, deque] = {}
        self._blocks: dict[str, tuple[int, float]] = {}  # address -> (blocks so far, blocked until)

    @staticmethod
    def key(client: str) -> str:
        if ":" in client:
            try:
                return str(ipaddress.IPv6Network(f"{client.split('%')[0]}/64", strict=False))
            except ValueError:
                return client
        return client

    def check(self, client: str) -> None:
        key, now = self.key(client), time.monotonic()
        with self._lock:
            _, until = self._blocks.get(key, (0, 0.0))
            if now < until:
                raise RateLimited(f"too many wrong pairing codes from this address; wait {until - now:.0f} s",
                                  retry_after=int(until - now) + 1)

    def failed(self, client: str) -> None:
        key, now = self.key(client), time.monotonic()
        with self._lock:
            q = self._fails.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            q.append(now)
            if len(q) >= self.per_client:
                q.clear()
                blocks, _ = self._blocks.get(key, (0, 0.0))
                self._blocks[key] = (blocks + 1, now + min(self.window * 2 ** blocks, self.max_block))
            if len(self._fails) > self.max_clients:  # forget the quietest addresses first
                for old in sorted(self._fails, key=lambda k: self._fails[k][-1] if self._fails[k] else 0.0)[
                        : len(self._fails) - self.max_clients]:
                    self._fails.pop(old, None)
                    if self._blocks.get(old, (0, 0.0))[1] <= now:
                        self._blocks.pop(old, None)


def redeem_code(code: str, device_name: str, limiter: AttemptLimiter | None = None,
                client: str = "") -> tuple[Device, str]:
    """Exchange a valid code for a new Device and its token (returned once, stored hashed)."""
    if limiter:
        limiter.check(client)
    name = str(device_name or "").strip()[:100] or "phone"
    key = _PREFIX + _hash(normalise_code(code))
    now = utcnow()
    with database.atomic():
        row = Meta.get_or_none(Meta.key == key)
        valid = False
        if row is not None:
            try:
                valid = dt.datetime.fromisoformat(row.value) > now
            except ValueError:
                valid = False
            row.delete_instance()  # single use, and an expired one is gone either way
        if not valid:
            if limiter:
                limiter.failed(client)
            raise Unauthorized("invalid or expired pairing code")
        token = secrets.token_urlsafe(32)
        device = Device.create(name=name, token_hash=_hash(token), last_seen=now)
    events.publish(events.DEVICES_CHANGED, device_id=device.id, change="paired", name=device.name)
    return device, token


def device_for_token(token: str | None) -> Device | None:
    """The active device owning `token`, or None. Touches last_seen at most once a minute."""
    if not token or len(token) > 200:
        return None
    device = Device.get_or_none((Device.token_hash == _hash(token)) & (Device.revoked == False))  # noqa: E712
    if device is not None:
        now = utcnow()
        if device.last_seen is None or (now - device.last_seen).total_seconds() > 60:
            Device.update(last_seen=now).where(Device.id == device.id).execute()
            device.last_seen = now
    return device


def list_devices(include_revoked: bool = True) -> list[Device]:
    q = Device.select().order_by(Device.id)
    if not include_revoked:
        q = q.where(Device.revoked == False)  # noqa: E712
    return list(q)


def _device(device_id) -> Device:
    try:
        device_id = int(device_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"not a device id: {device_id!r}") from None
    device = Device.get_or_none(Device.id == device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    return device


def rename_device(device_id: int, name: str) -> Device:
    """Give a paired device another name (1-100 characters)."""
    device = _device(device_id)
    name = str(name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("a device name has 1 to 100 characters")
    Device.update(name=name).where(Device.id == device.id).execute()
    device.name = name
    events.publish(events.DEVICES_CHANGED, device_id=device.id, change="renamed", name=name)
    return device


def revoke_device(device_id: int) -> Device:
    device = _device(device_id)
    Device.update(revoked=True).where(Device.id == device.id).execute()
    device.revoked = True
    device_revoked.send(device_id)
    events.publish(events.DEVICES_CHANGED, device_id=device.id, change="revoked", name=device.name)
    return device


def is_revoked(device_id: int) -> bool:
    """Whether the device is revoked now (or gone): a long-lived connection asks again."""
    return not Device.select().where((Device.id == device_id) & (Device.revoked == False)).exists()  # noqa: E712


def has_paired_devices() -> bool:
    return Device.select().where(Device.revoked == False).exists()  # noqa: E712


def pair_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/#pair={code}"


def qr_text(data: str) -> str:
    """The QR code of `data` as terminal text (two rows per line with half blocks fall back to ASCII)."""
    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(data)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def qr_modules(data: str) -> list[str]:
    """The QR code of `data` as rows of "0"/"1" (1 = dark), quiet zone included: the phone draws it."""
    import qrcode

    qr = qrcode.QRCode(border=2)
    qr.add_data(data)
    qr.make(fit=True)
    return ["".join("1" if cell else "0" for cell in row) for row in qr.get_matrix()]
