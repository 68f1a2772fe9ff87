"""In-process event bus: domain code publishes, the websocket layer (web/ws.py) fans out to phones.

Events are plain JSON-able dicts: {"type": str, ...fields}. Types in use:
upload.received, photo.analysed, suggestion.ready, job.progress, library.changed, photo.failed,
photo.changed (tags/regions/faces edited; carries photo_id), people.changed (action, person,
photo_ids).
Each subscriber gets its own bounded queue, so a slow phone never blocks the worker.
"""

from __future__ import annotations

import queue
import threading
import time

_lock = threading.Lock()
_subscribers: list[queue.Queue] = []


def publish(event_type: str, **data) -> dict:
    event = {"type": event_type, "ts": time.time(), **data}
    with _lock:
        subs = list(_subscribers)
    for q in subs:
        try:
            q.put_nowait(event)
        except queue.Full:  # a stalled client drops its oldest event rather than blocking everyone
            try:
                q.get_nowait()
                q.put_nowait(event)
            except (queue.Empty, queue.Full):
                pass
    return event


def subscribe(maxsize: int = 1000) -> queue.Queue:
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    with _lock:
        _subscribers.append(q)
    return q


def unsubscribe(q: queue.Queue) -> None:
    with _lock:
        if q in _subscribers:
            _subscribers.remove(q)
