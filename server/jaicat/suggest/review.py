"""The review loop: photos waiting for a decision, each shown with the suggester's answer as it is
now, and the decisions taken on them (accept, fix, skip, undo). HTTP, the websocket and the CLI all
call these; web/ only maps requests to them.

    review = Review(settings, suggester)     # held by the Runtime (runtime.review)
    review.queue(limit=20)                   # waiting photos, suggestions computed now
    review.accept(photo_id, folder=None)     # file where suggested (or where told)
    review.start() / review.stop()           # `serve`: push fresh suggestions after each change

Suggestions are never served from what was stored at analysis time: every read of the queue asks
the suggester, which answers from its current state (well under 1 ms a photo). While serving, every
decision, folder change or people change (the `library.changed`, `people.changed` and
`photo.changed` events) makes the refresher recompute the first REFRESH_PAGE waiting photos and
publish `suggestion.ready` (with `refresh: true`) for each card whose suggestions changed, so the
phones' cards update in place within a second.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading

from peewee import SQL, fn

from .. import events
from ..config import Settings
from ..db import CAPTURED_SQL, Decision, Face, Photo, database
from ..errors import Conflict, NothingToUndo, NotFound
from ..photos import library, paths, tags
from .catalogue import tags_and_people
from .service import Suggester, store_suggestions

log = logging.getLogger(__name__)

REFRESH_PAGE = 100  # waiting photos re-suggested after each change: more than a phone holds as cards
REFRESH_DEBOUNCE = 0.05  # seconds: a burst of changes (a "file all" of a burst) costs one refresh
BURST = dt.timedelta(minutes=10)  # photos this close in capture time are one burst: filed together
MAX_GROUP = 200  # photos one "file all" may take
# a first suggestion scoring less is a guess: the card says it is unsure and shows the folders as
# plain choices (`GET /api/review` hands this to the phones as "sure")
SURE = 0.5  # less likely right than wrong
REFRESH_EVENTS = (events.LIBRARY_CHANGED, events.PEOPLE_CHANGED, events.PHOTO_CHANGED)


class Review:
    """The review queue and its decisions for one data directory (one per Runtime)."""

    def __init__(self, settings: Settings, suggester: Suggester, hub: events.Hub | None = None):
        self.settings = settings
        self.suggester = suggester
        self.hub = hub if hub is not None else events.Hub()  # the changes it refreshes after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshed = 0  # refresh passes done (tests and `jaicat doctor` read it)

    # --- reading --------------------------------------------------------------------------------
    def with_suggestions(self, photos: list[Photo]) -> list[Photo]:
        """Set each waiting photo's `suggestions` to the suggester's current answer (not saved)."""
        waiting = [p for p in photos if p.status in library.WAITING_STATUSES]
        if waiting:
            fresh = self.suggester.suggest_for_photos(waiting)
            for p in waiting:
                p.suggestions = fresh[p.id]
        return photos

    def queue(self, limit: int, cursor: str | None = None, status: str | None = None):
        """(photos with current suggestions, next cursor or None, total waiting); see
        library.review_queue for the order and the cursor."""
        rows, nxt, count = library.review_queue(limit, cursor, status=status)
        return self.with_suggestions(rows), nxt, count

    def photo(self, photo_id: int) -> Photo:
        """A photo by id (NotFound otherwise), with current suggestions when it is waiting."""
        return self.with_suggestions([Photo.get_or_404(photo_id)])[0]

    # --- deciding -------------------------------------------------------------------------------
    def accept(self, photo_id: int, folder: str | None = None, tag_names: list[str] | None = None,
               people: list[str] | None = None, device: str | None = None) -> Decision:
        """File a photo where the suggester puts it first (or in `folder`, which must be one of the
        choices or exist: accepting never makes a folder the user did not see). A proposed new folder
        (a choice with "new": true) is created."""
        photo = self.photo(photo_id)
        suggested = photo.suggestions or []
        if folder is None:
            if not suggested:
                raise Conflict(f"photo {photo.id} has no suggestion to accept; give a folder or use fix")
            folder = suggested[0]["folder"]
        elif folder not in {s["folder"] for s in suggested} and \
                not library.resolve_in_library(self.settings, folder).is_dir():
            # a card shown before a rename must not re-create the old folder
            raise NotFound(f"folder {folder!r} does not exist; use fix with create: true to make it")
        if any(s.get("new") and s["folder"] == folder for s in suggested) and \
                not library.resolve_in_library(self.settings, folder).is_dir():
            library.create_folder(self.settings, folder)  # the proposed new folder, shown on the card
        return self._file(photo, folder, "accept", suggested, tag_names, people, device)

    def fix(self, photo_id: int, folder: str, create: bool = False, tag_names: list[str] | None = None,
            people: list[str] | None = None, device: str | None = None) -> Decision:
        """File a photo in another folder; `create` makes the folder first (else it must exist)."""
        photo = self.photo(photo_id)
        if create:
            if paths.normalise_folder(folder):
                library.create_folder(self.settings, folder)
        elif not library.resolve_in_library(self.settings, folder).is_dir():
            raise NotFound(f"folder {folder!r} does not exist; send create: true to make it")
        return self._file(photo, folder, "fix", photo.suggestions or [], tag_names, people, device)

    def _file(self, photo: Photo, folder: str, action: str, suggested: list, tag_names, people, device):
        if tag_names is not None:
            tag_names = [tags.clean_tag(t) for t in tag_names]  # refuse bad names before anything moves
        decision = library.file_photo(photo, folder, self.settings, action=action, suggested=suggested,
                                      tags=tag_names, people=people, device=device)
        if tag_names is not None:  # only once the photo is filed
            tags.set_user_tags(photo.id, tag_names)
        return decision

    def skip(self, photo_id: int, device: str | None = None) -> Decision:
        """Leave the photo where it is, listed under Skipped until it is filed."""
        photo = self.photo(photo_id)
        return library.skip_photo(photo, self.settings, suggested=photo.suggestions, device=device)

    def undo(self, decision_id: int | None = None, photo_id: int | None = None) -> Decision:
        """Undo a decision (the latest by default, or the latest of `photo_id`: an auto-filing in one
        call) from the decision log: survives reloads."""
        if photo_id is not None:
            latest = (Decision.select().where((Decision.photo == Photo.get_or_404(photo_id).id)
                                              & (Decision.undone == False)  # noqa: E712
                                              & Decision.action.not_in(("undo", "confirm")))
                      .order_by(Decision.id.desc()).first())
            if latest is None:
                raise NothingToUndo(f"photo {photo_id} has no decision to undo")
            decision_id = latest.id
        return library.undo(self.settings, decision_id)

    def group(self, photo_id: int) -> tuple[str | None, list[Photo]]:
        """(folder, photos): the waiting photos that go where this one goes now, itself first - the
        same top suggestion and a strong shared reason that points at that folder: the same named
        people, with photos of them already filed there, or one burst (capture times within BURST;
        a file's modification time makes no burst), with a photo of it already filed there. A score,
        however high, is no shared reason. Looked for among the first REFRESH_PAGE waiting photos.
        (None, [photo]) without one."""
        photo = self.photo(photo_id)
        if not photo.suggestions or photo.status not in library.WAITING_STATUSES:
            return None, [photo]
        top = photo.suggestions[0]["folder"]
        rows = self.with_suggestions([p for p in library.review_queue(REFRESH_PAGE)[0] if p.id != photo.id])
        _tags, people = tags_and_people([photo.id] + [p.id for p in rows])
        mine = set(people.get(photo.id, []))
        by_people = bool(mine) and _filed_with_people(top, mine)
        at = photo.captured_at
        by_burst = at is not None and _filed_between(top, at - BURST, at + BURST)
        out = [photo]
        for p in rows:
            if not p.suggestions or p.suggestions[0]["folder"] != top:
                continue
            burst = by_burst and p.captured_at is not None and abs(p.captured_at - at) <= BURST
            if burst or (by_people and set(people.get(p.id, [])) == mine):
                out.append(p)
        return (top, out[:MAX_GROUP]) if len(out) > 1 else (None, out)

    def accept_all(self, photo_ids: list[int], folder: str, device: str | None = None) -> list[Decision]:
        """File several photos in one folder ("file all 6 of this burst here"): one accept each, so
        each can be undone alone. Stops at the first refusal (those filed stay filed)."""
        return [self.accept(pid, folder, device=device) for pid in photo_ids[:MAX_GROUP]]

    # --- pushing fresh suggestions ---------------------------------------------------------------
    def refresh(self) -> int:
        """Recompute the first REFRESH_PAGE waiting photos; store and announce those that changed.
        Returns how many changed."""
        rows, _nxt, _count = library.review_queue(REFRESH_PAGE)
        before = {p.id: p.suggestions for p in rows}
        changed = 0
        for p in self.with_suggestions(rows):
            if p.suggestions != before[p.id] and store_suggestions(p.id, p.suggestions):
                changed += 1
                events.publish(events.SUGGESTION_READY, photo_id=p.id, suggestions=p.suggestions,
                               refresh=True)
        self.refreshed += 1
        return changed

    def start(self) -> Review:
        """Refresh the waiting cards after every change, in a background thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            q = self.hub.subscribe()
            self._thread = threading.Thread(target=self._loop, args=(q,), name="review-refresh", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self, q: queue.Queue) -> None:
        try:
            while not self._stop.is_set():
                try:
                    ev = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if ev.get("type") not in REFRESH_EVENTS:
                    continue
                self._stop.wait(REFRESH_DEBOUNCE)
                while True:  # one refresh for the whole burst
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        break
                try:
                    with database.connection_context():
                        self.refresh()
                except Exception:  # noqa: BLE001 - the loop outlives one failed refresh
                    log.exception("review: could not refresh suggestions")
        finally:
            self.hub.unsubscribe(q)


def _in_folder(folder: str):
    """Photos filed directly in a library folder."""
    prefix = f"{folder}/" if folder else ""
    return Photo.live().where(Photo.root == "library", Photo.path.startswith(prefix),
                              fn.instr(fn.substr(Photo.path, len(prefix) + 1), "/") == 0)


def _filed_with_people(folder: str, person_ids: set) -> bool:
    """Does `folder` already hold a photo of one of these people?"""
    return _in_folder(folder).join(Face, on=(Face.photo == Photo.id)).where(
        Face.person.in_(list(person_ids))).exists()


def _filed_between(folder: str, start: dt.datetime, end: dt.datetime) -> bool:
    """Does `folder` already hold a photo captured between start and end (capture dates only)?"""
    when = SQL(CAPTURED_SQL.format(r=""))
    return _in_folder(folder).where(when >= start, when <= end).exists()
