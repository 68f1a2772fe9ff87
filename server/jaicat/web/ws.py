"""`/ws`: pushes domain events to every connected phone and takes review decisions back.

Each connection gets its own event queue (from the runtime's events.Hub); a sender thread drains it and
sends a keepalive ping every 25 s, while the request thread reads client messages. Sends from the
two threads are serialised by a lock. Authentication happened in before_request (web/auth.py).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

from flask import current_app, g
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from .. import __version__, events
from ..devices import discovery, pairing
from ..db import database
from ..errors import JaicatError, TooManySockets
from .params import BadRequest
from .review import decide, undo

log = logging.getLogger(__name__)
PING_SECONDS = 25.0
RECHECK_SECONDS = 5.0  # a device revoked by another process (`jaicat devices --revoke`) is seen this late
SOCKETS_PER_DEVICE = 8  # a phone needs one; a few more cover reloads and a tablet sharing its pairing
SOCKETS_TOTAL = 320  # web/serving/front.WEBSOCKET_THREADS is derived from it: each open websocket holds one of those
CLOSE_REVOKED = 1008  # policy violation
sock = Sock()


class OpenSockets:
    """The websockets open in this app, by device: capped per device and in total, and closed at
    once when their device is revoked (pairing.device_revoked)."""

    def __init__(self, per_device: int = SOCKETS_PER_DEVICE, total: int = SOCKETS_TOTAL):
        self.per_device, self.total = per_device, total
        self._lock = threading.Lock()
        self._by_device: dict[int, dict[object, callable]] = {}

    def add(self, device_id: int, key, close) -> None:
        """Register one socket's `close()`; raises TooManySockets beyond the caps."""
        with self._lock:
            mine = self._by_device.setdefault(device_id, {})
            if len(mine) >= self.per_device:
                raise TooManySockets(f"this device already has {len(mine)} open websockets")
            if sum(len(v) for v in self._by_device.values()) >= self.total:
                raise TooManySockets("the server has no room for another websocket; try again later")
            mine[key] = close

    def remove(self, device_id: int, key) -> None:
        with self._lock:
            mine = self._by_device.get(device_id, {})
            mine.pop(key, None)
            if not mine:
                self._by_device.pop(device_id, None)

    def close_device(self, device_id: int) -> int:
        """Close every websocket of `device_id`; returns how many."""
        with self._lock:
            closers = list(self._by_device.get(int(device_id), {}).values())
        for close in closers:
            try:
                close()
            except Exception:
                log.exception("closing a revoked device's websocket failed")
        return len(closers)

    def count(self, device_id: int | None = None) -> int:
        with self._lock:
            if device_id is not None:
                return len(self._by_device.get(device_id, {}))
            return sum(len(v) for v in self._by_device.values())


def _enrich(event: dict) -> dict:
    """Add what the phone needs to show an event without another request (docs/API.md)."""
    if "photo_id" in event and "thumb_url" not in event:
        event = dict(event, thumb_url=f"/api/photos/{event['photo_id']}/thumb?size=256")
    if event.get("type") == events.SUGGESTION_READY and "folders" not in event:
        folders = event.get("suggestions") or []
        top = folders[0] if folders else {}
        event = dict(event, folders=folders, confidence=top.get("score", 0.0), reason=top.get("reason", ""))
    return event


def check_handshake() -> None:
    """A plain HTTP request to /ws gets a 400, not a half-made websocket (before_request hook)."""
    from flask import request

    if request.path != "/ws":
        return
    h = request.headers
    if (h.get("Upgrade", "").lower() != "websocket" or "upgrade" not in h.get("Connection", "").lower()
            or not h.get("Sec-WebSocket-Key") or h.get("Sec-WebSocket-Version") != "13"):
        raise BadRequest("/ws is a websocket: connect with a websocket client (version 13)")


def handle_message(review, device_name: str, raw, device_id: int | None = None) -> dict | None:
    """The reply to one client message (None for none). A decision from a device revoked meanwhile is
    refused."""
    try:
        msg = json.loads(raw) if isinstance(raw, (str, bytes)) else None
    except (ValueError, RecursionError):  # a message is at most 64 KiB, but "[[[[..." still recurses
        msg = None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        return {"type": "error", "error": "bad_request", "message": "send a JSON object with a 'type'"}
    rid = msg.get("id")
    if msg["type"] == "ping":
        return {"type": "pong", "id": rid}
    if device_id is not None and msg["type"] in ("decision", "undo") and pairing.is_revoked(device_id):
        return {"type": "error", "id": rid, "error": "unauthorized", "message": "this device was revoked"}
    try:
        if msg["type"] == "decision":
            result = decide(review, device_name, msg.get("photo_id"), msg.get("action"), msg)
        elif msg["type"] == "undo":
            result = undo(review, msg.get("decision_id"), msg.get("photo_id"))
        else:
            return {"type": "error", "id": rid, "error": "bad_request",
                    "message": f"unknown message type {msg['type']!r}"}
    except JaicatError as e:
        return {"type": "error", "id": rid, "error": e.code, "message": e.message}
    except Exception:
        log.exception("websocket decision failed")
        return {"type": "error", "id": rid, "error": "internal_error", "message": "internal server error"}
    return {"type": "decision.result", "id": rid, **result}


def reserve_socket() -> None:
    """before_request for /ws: refuse a websocket over the caps with 429 before the handshake."""
    from flask import request

    if request.path != "/ws" or getattr(g, "device", None) is None:
        return
    open_sockets = current_app.extensions["jaicat_sockets"]
    key = object()
    open_sockets.add(g.device.id, key, lambda: None)  # replaced once the socket is up
    g.socket_key = key
    # An open websocket waits on its client for as long as it likes: lift the stall timeout web/serving/
    # gives request sockets before the websocket's reader thread starts reading.
    raw = request.environ.get("gunicorn.socket")
    if raw is not None:
        raw.settimeout(None)


def release_socket(_exc=None) -> None:
    """teardown_request: a websocket that never got going gives its place back."""
    key = g.get("socket_key")
    device = g.get("device")
    if key is not None and device is not None:
        current_app.extensions["jaicat_sockets"].remove(device.id, key)


@sock.route("/ws")
def websocket(ws):
    runtime = current_app.extensions["jaicat"]
    review = runtime.review
    device = g.device
    local = getattr(device, "local", False)  # a command with the local credential: no device row to recheck
    open_sockets: OpenSockets = current_app.extensions["jaicat_sockets"]
    send_lock = threading.Lock()
    closed = threading.Event()

    def send(obj: dict) -> None:
        with send_lock:
            ws.send(json.dumps(obj, default=str))

    def close_revoked() -> None:
        closed.set()
        try:
            q.put_nowait(None)
        except queue.Full:
            pass
        with send_lock:
            try:
                ws.close(reason=CLOSE_REVOKED, message="this device was revoked")
            except (ConnectionClosed, OSError):
                pass  # already gone

    q = runtime.hub.subscribe()
    key = g.socket_key
    open_sockets.remove(device.id, key)
    open_sockets.add(device.id, key, close_revoked)

    def pump():
        next_ping = time.monotonic() + PING_SECONDS
        try:
            while not closed.is_set():
                try:
                    # an idle socket's threads wake only to ping: hundreds of them must cost no CPU
                    event = q.get(timeout=max(0.05, next_ping - time.monotonic()))
                    if event is None:  # the socket closed
                        break
                except queue.Empty:
                    if time.monotonic() >= next_ping:
                        send({"type": "ping", "ts": time.time()})
                        next_ping = time.monotonic() + PING_SECONDS
                    continue
                send(_enrich(event))
        except (ConnectionClosed, OSError):
            pass
        finally:
            closed.set()

    sender = threading.Thread(target=pump, name=f"ws-{device.id}", daemon=True)
    try:
        send({"type": "hello", "server_id": discovery.server_id(), "version": __version__,
              "device": {"id": device.id, "name": device.name}})
        sender.start()
        recheck = time.monotonic() + RECHECK_SECONDS
        while not closed.is_set():
            raw = ws.receive(timeout=RECHECK_SECONDS)
            if time.monotonic() >= recheck:
                recheck = time.monotonic() + RECHECK_SECONDS
                if not local and pairing.is_revoked(device.id):
                    close_revoked()
                    break
            if raw is None:
                continue
            reply = handle_message(review, device.name, raw, None if local else device.id)
            if reply is not None:
                send(reply)
    except ConnectionClosed:
        pass
    finally:
        closed.set()
        open_sockets.remove(device.id, key)
        runtime.hub.unsubscribe(q)
        try:
            q.put_nowait(None)  # wakes the sender to stop
        except queue.Full:
            pass
        if sender.is_alive():
            sender.join(timeout=2)
        if not database.is_closed():
            database.close()
