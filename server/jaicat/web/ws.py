"""`/ws`: pushes domain events to every connected phone and takes review decisions back.

Each connection gets its own event queue (jaicat.events.subscribe); a sender thread drains it and
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
from ..devices import discovery
from ..db import database
from ..errors import JaicatError
from .params import BadRequest
from .review import decide, undo

log = logging.getLogger(__name__)
PING_SECONDS = 25.0
sock = Sock()


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


def handle_message(review, device_name: str, raw) -> dict | None:
    """The reply to one client message (None for none)."""
    try:
        msg = json.loads(raw) if isinstance(raw, (str, bytes)) else None
    except ValueError:
        msg = None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        return {"type": "error", "error": "bad_request", "message": "send a JSON object with a 'type'"}
    rid = msg.get("id")
    if msg["type"] == "ping":
        return {"type": "pong", "id": rid}
    try:
        if msg["type"] == "decision":
            result = decide(review, device_name, msg.get("photo_id"), msg.get("action"), msg)
        elif msg["type"] == "undo":
            result = undo(review, msg.get("decision_id"))
        else:
            return {"type": "error", "id": rid, "error": "bad_request",
                    "message": f"unknown message type {msg['type']!r}"}
    except JaicatError as e:
        return {"type": "error", "id": rid, "error": e.code, "message": e.message}
    except Exception:
        log.exception("websocket decision failed")
        return {"type": "error", "id": rid, "error": "internal_error", "message": "internal server error"}
    return {"type": "decision.result", "id": rid, **result}


@sock.route("/ws")
def websocket(ws):
    review = current_app.extensions["jaicat"].review
    device = g.device
    send_lock = threading.Lock()
    closed = threading.Event()

    def send(obj: dict) -> None:
        with send_lock:
            ws.send(json.dumps(obj, default=str))

    q = events.subscribe()

    def pump():
        next_ping = time.monotonic() + PING_SECONDS
        try:
            while not closed.is_set():
                try:
                    event = q.get(timeout=min(1.0, max(0.05, next_ping - time.monotonic())))
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
        while not closed.is_set():
            raw = ws.receive(timeout=1.0)
            if raw is None:
                continue
            reply = handle_message(review, device.name, raw)
            if reply is not None:
                send(reply)
    except ConnectionClosed:
        pass
    finally:
        closed.set()
        events.unsubscribe(q)
        if sender.is_alive():
            sender.join(timeout=2)
        if not database.is_closed():
            database.close()
