"""In-process events, two kinds.

Signals connect domain code to domain code inside one process: the module where something happens
declares a `Signal` (`ingest.photo_ready`, `library.decision_made`, ...) and others connect receivers
to it. A receiver that fails is logged here, once, and never undoes what the sender already did.

Published events go to the phones: `publish(UPLOAD_RECEIVED, photo_id=...)` puts a JSON-able dict
{"type": name, "ts": seconds, ...fields} on the bounded queue of every subscriber of every `Hub` (the
running app's Runtime holds one; web/ws.py gives each websocket a queue), so a slow phone never blocks
the worker. Their names are the constants below; docs/API.md
describes each one's fields.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

# --- event names (the "type" of a published event) ------------------------------------------------
UPLOAD_RECEIVED = "upload.received"  # a new photo is in the inbox
PHOTO_ANALYSED = "photo.analysed"  # embedding, tags and faces are stored (captions come later)
PHOTO_CAPTIONED = "photo.captioned"  # the caption pass stored a photo's caption and its caption tags
PHOTO_FAILED = "photo.failed"  # analysis of a photo failed
PHOTO_CHANGED = "photo.changed"  # tags or regions edited; carries photo_id
SUGGESTION_READY = "suggestion.ready"  # folder suggestions for a photo
JOB_PROGRESS = "job.progress"  # a background job moved on
LIBRARY_CHANGED = "library.changed"  # a photo filed, skipped or undone; a folder created or renamed
PEOPLE_CHANGED = "people.changed"  # faces confirmed or rejected, people named, renamed, merged, forgotten
PHOTO_AUTO_FILED = "photo.auto_filed"  # the auto-filer filed a photo in its first choice (suggest/autofiler.py)
DEVICES_CHANGED = "devices.changed"  # a device paired, renamed or revoked (Settings' list follows it)
EVENT_NAMES = (UPLOAD_RECEIVED, PHOTO_ANALYSED, PHOTO_CAPTIONED, PHOTO_FAILED, PHOTO_CHANGED, SUGGESTION_READY,
               JOB_PROGRESS, LIBRARY_CHANGED, PEOPLE_CHANGED, PHOTO_AUTO_FILED, DEVICES_CHANGED)


class Signal:
    """Receivers called in the sender's thread, in the order they connected, after the sender's work
    is committed. Connecting the same receiver twice keeps one."""

    def __init__(self, name: str):
        self.name = name
        self._receivers: list[Callable] = []
        self._lock = threading.Lock()

    def connect(self, receiver: Callable) -> Callable:
        """Call `receiver(*args, **kwargs)` on every `send`; returns it (usable as a decorator)."""
        with self._lock:
            if receiver not in self._receivers:
                self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Callable) -> None:
        with self._lock:
            if receiver in self._receivers:
                self._receivers.remove(receiver)

    def send(self, *args, **kwargs) -> None:
        with self._lock:
            receivers = list(self._receivers)
        for receiver in receivers:
            try:
                receiver(*args, **kwargs)
            except Exception:  # the sender's work is done and committed: a receiver cannot undo it
                log.exception("%s receiver %r failed", self.name, receiver)


published = Signal("published")  # every event `publish` sends; each Hub fans them out


def publish(event_type: str, **data) -> dict:
    """Send an event to every Hub's subscribers; `event_type` is one of EVENT_NAMES (a typo fails here)."""
    if event_type not in EVENT_NAMES:
        raise ValueError(f"unknown event type {event_type!r}: add it to jaicat.events and docs/API.md")
    event = {"type": event_type, "ts": time.time(), **data}
    published.send(event)
    return event


class Hub:
    """Fans published events out to bounded queues, one per listener (a phone's websocket, the review
    refresher, the sidecar follower). The app's Runtime holds one; tests make their own:

        hub = Hub()
        q = hub.subscribe()
        ...
        hub.unsubscribe(q)

    It listens to `published` only while it has a queue. A stalled listener drops its oldest event
    rather than blocking the sender."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queues: list[queue.Queue] = []

    def subscribe(self, maxsize: int = 1000) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=maxsize)
        with self._lock:
            self._queues.append(q)
            published.connect(self._deliver)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            if q in self._queues:
                self._queues.remove(q)
            if not self._queues:
                published.disconnect(self._deliver)

    def _deliver(self, event: dict) -> None:
        with self._lock:
            queues = list(self._queues)
        for q in queues:
            try:
                q.put_nowait(event)
            except queue.Full:
                try:
                    q.get_nowait()
                    q.put_nowait(event)
                except (queue.Empty, queue.Full):
                    pass


# --- signals that cross rooms (declared on the ground floor so that neither side imports the other) -----
# (photo): ingest catalogued a photo completely, ready for analysis; loops.PhotoLoop wakes on it.
photo_ready = Signal("photo_ready")
# (settings, photo_id, embedding): analysis stored a photo's CLIP embedding; the search indexes of this
# process follow it (search/query.py), the pipeline does not know them.
photo_embedded = Signal("photo_embedded")
