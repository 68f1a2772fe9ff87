"""Keep library sidecars current between filings: a face confirmed or rejected, a person renamed or
merged, a photo analysed again. Filing itself is handled by SidecarWriter's decision receiver.

Runs as one daemon thread in the server process, fed by the in-process event bus; it only touches
photos already filed in the library. `forget` and bulk `rematch` events do not say which photos they
changed: `jaicat xmp write --all` brings those sidecars up to date.
"""

from __future__ import annotations

import logging
import queue
import threading

from .. import events
from ..db import Face, Person, Photo, database

log = logging.getLogger(__name__)
# events that name one photo whose tags, caption or regions changed. PHOTO_CHANGED is for edits
# (tags, regions) made through the API: publishing it keeps that photo's sidecar current.
# PHOTO_CAPTIONED comes after PHOTO_ANALYSED, from the caption pass (the caption and its tags).
PHOTO_EVENTS = (events.PHOTO_ANALYSED, events.PHOTO_CAPTIONED, events.PHOTO_CHANGED)


def affected_photos(event: dict) -> set[int]:
    """Ids of the photos whose sidecar content an event may have changed."""
    kind, action = event.get("type"), event.get("action")
    if kind in PHOTO_EVENTS and event.get("photo_id") is not None:
        return {int(event["photo_id"])}
    if kind != events.PEOPLE_CHANGED:
        return set()
    if action in ("confirm_all", "not_face", "hide", "faces_found"):  # people/curation.py, people/passes.py
        return {int(i) for i in event.get("photo_ids") or []}
    if action in ("confirm", "reject") and event.get("face") is not None:
        face = Face.get_or_none(Face.id == event["face"])
        return {face.photo_id} if face else set()
    if action in ("rename", "merge", "name_cluster") and event.get("person"):
        return {pid for (pid,) in Face.select(Face.photo).join(Person)
                .where(Person.name == event["person"]).tuples()}
    return set()


class SidecarFollower:
    def __init__(self, settings, write, hub: events.Hub):
        self.settings = settings
        self._write = write  # write_photo_sidecar, passed in to keep this module free of a cycle
        self._hub = hub
        self._queue = hub.subscribe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xmp-sidecars", daemon=True)

    def start(self) -> SidecarFollower:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._hub.unsubscribe(self._queue)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                with database.connection_context():
                    ids = affected_photos(event)
                    if ids:
                        for photo in Photo.select().where(Photo.id.in_(list(ids)) & (Photo.root == "library")):
                            self._write(photo, self.settings)
            except Exception:  # one bad sidecar must not stop the follower
                log.exception("updating sidecars after %s failed", event.get("type"))
