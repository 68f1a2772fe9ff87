"""The auto-filer: a photo the suggester is sure of files itself, through the same filing as a swipe.

    filer = AutoFiler(settings, review, hub)    # held by the Runtime (runtime.auto_filer)
    filer.start() / filer.stop()                # `serve`: watch fresh suggestions, file what qualifies
    filer.set_target(0.05)                      # or "off": the phone's Settings (kept in the catalogue)
    filer.seen([photo ids])                     # the user saw these auto-filings: they teach now
    filer.consider(photo_id)                    # "filed", or why not (the guards below)

After a waiting photo's suggestion is computed (`suggestion.ready`, and a look at the waiting cards
every SCAN_SECONDS) it is filed in its first choice when all of these hold: `auto_file` is on; the
photo is waiting for review ("suggested", not skipped, not in the trash, not a Live Photo's motion
part) and was never auto-filed before (an undone or corrected auto-filing goes to the user); its faces
are not still pending (analysed, and through the thorough pass where that runs); the first choice is
an existing folder (never a proposed new one); that first choice has not changed for `stable_seconds`;
and the online rule (autofile.py) says its confidence is within the target and is not paused.

The filing is library.file_photo (intent, move, commit; sidecar, journal, undo), an "accept" with
filed_by "auto" and compare-and-set on the photo still waiting; `photo.auto_filed` tells the phones.
The suggester does not learn it (service.py) until a "confirm" decision says it was kept: the user saw
it (`seen`, the Review strip) or CONFIRM_AFTER passed without a correction. A correction (moving it
elsewhere, or undoing it) is the user's own decision and counts against the threshold.

The rule's outcomes: every review decision on a waiting photo (was the first choice taken?), every
auto-filing kept (right) or corrected (wrong). They are kept in the catalogue (Meta RULE_KEY); a
catalogue without them replays its decision log once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time

from .. import events
from ..config import Settings, auto_file_text, parse_auto_file
from peewee import fn

from ..db import Decision, Photo, database, get_meta, set_meta, utcnow
from ..errors import JaicatError
from ..people.passes import THOROUGH
from ..photos import library
from ..photos.library import _move_lock
from .autofile import AutoFileRule
from .review import REFRESH_PAGE, Review

log = logging.getLogger(__name__)

STABLE_SECONDS = 5.0  # a first choice that changed more recently than this waits
CONFIRM_AFTER = dt.timedelta(days=7)  # an auto-filing not corrected for this long was kept
SCAN_SECONDS = 60.0  # the waiting cards are looked at again this often (a lower threshold may file them)
CONFIRM_SWEEP_SECONDS = 600.0
RULE_KEY = "autofile.rule"  # the rule's outcome counts (AutoFileRule.state)
TARGET_KEY = "autofile.target"  # the target chosen in the phone's Settings; wins over config and env
COUNTING_TARGET = 0.05  # the rule counts outcomes while auto-filing is off too; its target then is moot
FILINGS = ("accept", "fix", "file")


def faces_pending(photo: Photo, settings: Settings) -> bool:
    """The photo's faces may still change what it suggests: not analysed yet, or waiting for the
    thorough face pass where one runs."""
    if photo.analysed_at is None:
        return True
    return settings.worker and settings.face_thorough and not photo.is_video and photo.faces_pass < THOROUGH


def first_score(suggested) -> float:
    """The confidence of a decision's first choice (0 when there was none, or it was a new folder)."""
    top = (suggested or [{}])[0]
    return 0.0 if top.get("new") else float(top.get("score") or 0.0)


def latest_filing(photo_id: int) -> Decision | None:
    """The photo's latest decision that is not undone (skips aside)."""
    return (Decision.select().where((Decision.photo == photo_id) & (Decision.undone == False)  # noqa: E712
                                    & (Decision.action != "skip"))
            .order_by(Decision.id.desc()).first())


class AutoFiler:
    """Files the photos the suggester is sure of, for one data directory (one per Runtime)."""

    def __init__(self, settings: Settings, review: Review, hub: events.Hub | None = None,
                 stable_seconds: float = STABLE_SECONDS, clock=time.monotonic):
        self.settings = settings
        self.review = review
        self.hub = hub if hub is not None else events.Hub()
        self.stable_seconds = stable_seconds
        self.clock = clock
        self._lock = threading.RLock()
        self._rule: AutoFileRule | None = None
        self._tops: dict[int, tuple[str | None, float]] = {}  # photo id -> (first choice, since)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.filed = 0  # auto-filings by this process (tests and `doctor` read it)

    # --- the setting ------------------------------------------------------------------------------
    def load_target(self) -> None:
        """Apply the target chosen in the phone's Settings, if one was (it outlives restarts)."""
        kept = get_meta(TARGET_KEY)
        if kept is not None:
            self.settings.auto_file = auto_file_text(parse_auto_file(kept))

    def set_target(self, value) -> str:
        """Set `auto_file` ("off" or a rate in (0, 0.5]; InvalidInput otherwise), kept in the
        catalogue; returns it as text."""
        text = auto_file_text(parse_auto_file(value))
        set_meta(TARGET_KEY, text)
        with self._lock:
            self.settings.auto_file = text
            if self._rule is not None:
                self._rule = AutoFileRule.from_state(self.settings.auto_file_rate or COUNTING_TARGET,
                                                     self._rule.state())
        if text != "off":
            self._scan()
        return text

    def state(self) -> dict:
        """What the Settings screen and the Review strip show: the target ("off" or the rate), the
        threshold learned (None: not enough decisions yet), paused, outcomes counted, photos filed
        by the auto-filer where they are, and those not seen yet."""
        on = self.settings.auto_file_rate is not None
        with self._lock:
            rule = self.rule()
            threshold, paused, decisions = rule.threshold, rule.paused, sum(rule.n)
        return {"auto_file": self.settings.auto_file_rate if on else "off",
                "threshold": threshold if on else None, "paused": on and paused, "decisions": decisions,
                "auto_filed": Photo.select().where(Photo.filed_by == "auto").count(), "unseen": self.unseen()}

    # --- the rule and its outcomes ----------------------------------------------------------------
    def rule(self) -> AutoFileRule:
        """The online rule, loaded (or replayed from the decision log) on first use."""
        with self._lock:
            if self._rule is None:
                target = self.settings.auto_file_rate or COUNTING_TARGET
                raw = get_meta(RULE_KEY)
                if raw is not None:
                    self._rule = AutoFileRule.from_state(target, json.loads(raw))
                else:
                    self._rule = self._replay(AutoFileRule(target))
                    self._save()
            return self._rule

    def _replay(self, rule: AutoFileRule) -> AutoFileRule:
        """The outcomes of the review decisions in the log, in order (a catalogue from before)."""
        q = (Decision.select().where((Decision.undone == False) & Decision.action.in_(("accept", "fix"))  # noqa: E712
                                     & (Decision.from_root == "inbox")).order_by(Decision.id))
        for d in q:
            if first_score(d.suggested) > 0:
                rule.record(first_score(d.suggested), d.suggested[0]["folder"] == d.chosen_folder)
        return rule

    def _save(self) -> None:
        set_meta(RULE_KEY, json.dumps(self._rule.state()))

    def decided(self, decision: Decision) -> None:
        """What a decision says about the rule (`library.decision_made`): a review decision on a
        waiting photo (was the first choice taken?), an auto-filing kept or corrected."""
        with self._lock:
            rule = self.rule()
            if decision.undone:
                if decision.filed_by == "auto" and decision.action == "accept":
                    self._wrong(rule, decision)
            elif decision.action == "confirm":
                rule.record(first_score(decision.suggested), True, qualified=True)
            elif decision.filed_by == "auto" or decision.action not in FILINGS:
                return  # its outcome comes later
            else:
                before = (Decision.select().where((Decision.photo == decision.photo_id) & (Decision.id < decision.id)
                                                  & (Decision.undone == False) & Decision.action.in_(FILINGS))  # noqa: E712
                          .order_by(Decision.id.desc()).first())
                if before is not None and before.filed_by == "auto" and decision.from_root == "library":
                    if before.chosen_folder == decision.chosen_folder:
                        return
                    self._wrong(rule, before)  # moved elsewhere: a correction
                elif decision.from_root == "inbox" and first_score(decision.suggested) > 0:
                    rule.record(first_score(decision.suggested),
                                decision.suggested[0]["folder"] == decision.chosen_folder)
                else:
                    return
            self._save()

    def _wrong(self, rule: AutoFileRule, auto: Decision) -> None:
        kept = Decision.select().where((Decision.photo == auto.photo_id) & (Decision.action == "confirm")
                                       & (Decision.id > auto.id)).exists()
        if kept:
            rule.amend(first_score(auto.suggested))  # counted kept when it was seen: not after all
        else:
            rule.record(first_score(auto.suggested), False, qualified=True)

    # --- filing -----------------------------------------------------------------------------------
    def note(self, photo_id: int, suggestions: list | None, now: float | None = None) -> None:
        """A photo's suggestion was (re)computed: its first choice is stable since now unless unchanged."""
        top = suggestions[0]["folder"] if suggestions else None
        now = self.clock() if now is None else now
        with self._lock:
            seen = self._tops.get(photo_id)
            if seen is None or seen[0] != top:
                self._tops[photo_id] = (top, now)

    def due(self, now: float | None = None) -> list[int]:
        """Photos whose first choice has been stable for `stable_seconds`."""
        now = self.clock() if now is None else now
        with self._lock:
            return [pid for pid, (_top, since) in self._tops.items() if now - since >= self.stable_seconds]

    def _refusal(self, photo: Photo | None) -> str | None:
        """Why this photo may not file itself, whatever its suggestion (None: it may)."""
        if self.settings.auto_file_rate is None:
            return "off"
        if photo is None or photo.status != "suggested" or photo.trashed_at is not None or photo.live_of_id:
            return "not_waiting"
        if faces_pending(photo, self.settings):
            return "faces_pending"
        if Decision.select().where((Decision.photo == photo.id) & (Decision.filed_by == "auto")).exists():
            return "corrected_before"
        return None

    def consider(self, photo_id: int, now: float | None = None) -> str:
        """File the photo in its first choice if every guard holds; returns "filed" or why not:
        off, not_waiting, faces_pending, corrected_before, no_suggestion, new_folder, unstable,
        not_sure, paused, conflict."""
        photo = Photo.get_or_none(Photo.id == photo_id)
        refusal = self._refusal(photo)
        if refusal is None:
            suggestions = self.review.with_suggestions([photo])[0].suggestions or []
            refusal = self._refusal_of(photo, suggestions, now)
        if refusal is not None:
            if refusal != "unstable":
                with self._lock:
                    self._tops.pop(photo_id, None)
            return refusal
        with self._lock:
            self._tops.pop(photo_id, None)
        return self._file(photo, suggestions)

    def _refusal_of(self, photo: Photo, suggestions: list, now: float | None) -> str | None:
        if not suggestions:
            return "no_suggestion"
        first = suggestions[0]
        if first.get("new") or not library.resolve_in_library(self.settings, first["folder"]).is_dir():
            return "new_folder"
        self.note(photo.id, suggestions, now)
        if photo.id not in self.due(now):
            return "unstable"
        with self._lock:  # decisions in request threads record outcomes meanwhile
            rule = self.rule()
            if not rule.qualifies(first_score(suggestions)):
                return "not_sure"
            return "paused" if rule.paused else None

    def _file(self, photo: Photo, suggestions: list) -> str:
        folder = suggestions[0]["folder"]
        try:
            decision = library.file_photo(photo, folder, self.settings, action="accept", suggested=suggestions,
                                          filed_by="auto", waiting=True)
        except JaicatError as e:  # filed, skipped or trashed meanwhile; the folder renamed: the user's way wins
            log.info("auto-filing photo %s into %r refused: %s", photo.id, folder, e.message)
            return "conflict"
        self.filed += 1
        events.publish(events.PHOTO_AUTO_FILED, photo_id=photo.id, folder=decision.chosen_folder,
                       decision_id=decision.id, confidence=first_score(suggestions))
        return "filed"

    def run_due(self, now: float | None = None) -> int:
        """Consider every photo whose first choice is stable; returns how many were filed."""
        return sum(self.consider(pid, now) == "filed" for pid in self.due(now))

    def _scan(self) -> None:
        """Note the first waiting cards as they are stored (photos whose suggestion did not change
        since a start or a lower threshold)."""
        for p in library.review_queue(REFRESH_PAGE)[0]:
            if p.status == "suggested":
                self.note(p.id, p.suggestions)

    # --- kept: the suggester learns them ------------------------------------------------------------
    def seen(self, photo_ids: list[int], device: str | None = None) -> int:
        """The user saw these auto-filed photos where they are: each unchanged one is kept (a
        "confirm" decision, learned by the suggester, counted right). Returns how many."""
        return sum(self._confirm(pid, device) for pid in photo_ids)

    def confirm_old(self, older_than: dt.timedelta = CONFIRM_AFTER) -> int:
        """Keep the auto-filings nobody corrected for `older_than`; returns how many."""
        return sum(self._confirm(pid) for (pid,) in self._unseen(older_than).tuples())

    def unseen(self) -> int:
        """Auto-filings not yet seen (nor kept by time, nor corrected): "new since the last visit"."""
        return self._unseen().count()

    @staticmethod
    def _unseen(older_than: dt.timedelta | None = None):
        """The photo ids of auto-filings with no decision after them, `older_than` that if given."""
        later = Decision.alias()
        cond = ((Decision.filed_by == "auto") & (Decision.action == "accept") & (Decision.undone == False)  # noqa: E712
                & ~fn.EXISTS(later.select().where((later.photo == Decision.photo) & (later.id > Decision.id)
                                                  & (later.undone == False)))  # noqa: E712
                & (Photo.trashed_at.is_null()))
        if older_than is not None:
            cond &= Decision.created_at < utcnow() - older_than
        return Decision.select(Decision.photo).join(Photo, on=(Decision.photo == Photo.id)).where(cond)

    def _confirm(self, photo_id: int, device: str | None = None) -> bool:
        with _move_lock, database.atomic():
            photo = Photo.get_or_none(Photo.id == photo_id)
            auto = latest_filing(photo_id)
            if photo is None or auto is None or auto.filed_by != "auto" or auto.action != "accept" \
                    or (photo.root, photo.path) != (auto.to_root, auto.to_path) or photo.trashed_at is not None:
                return False
            kept = Decision.create(photo=photo, action="confirm", suggested=auto.suggested,
                                   chosen_folder=auto.chosen_folder, from_root=photo.root, from_path=photo.path,
                                   to_root=photo.root, to_path=photo.path, tags=auto.tags, people=auto.people,
                                   device=device, filed_by="auto")
        events.publish(events.LIBRARY_CHANGED, photo_id=photo_id, change="kept", decision_id=kept.id)
        library.decision_made.send(kept)
        return True

    # --- serving ----------------------------------------------------------------------------------
    def start(self) -> AutoFiler:
        """Hear decisions and fresh suggestions, and file in a background thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self.load_target()
            library.decision_made.connect(self.decided)
            self._stop.clear()
            q = self.hub.subscribe()
            self._thread = threading.Thread(target=self._loop, args=(q,), name="auto-filer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        library.decision_made.disconnect(self.decided)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self, q: queue.Queue) -> None:
        scanned = confirmed = float("-inf")
        try:
            while not self._stop.is_set():
                self._hear(q)
                try:
                    with database.connection_context():
                        if self.clock() - confirmed >= CONFIRM_SWEEP_SECONDS:
                            confirmed = self.clock()
                            self.confirm_old()
                        if self.settings.auto_file_rate is None:
                            continue
                        if self.clock() - scanned >= SCAN_SECONDS:
                            scanned = self.clock()
                            self._scan()
                        self.run_due()
                except Exception:  # noqa: BLE001 - the loop outlives one failed pass
                    log.exception("auto-filer: a pass failed")
                    self._stop.wait(1.0)
        finally:
            self.hub.unsubscribe(q)

    def _hear(self, q: queue.Queue) -> None:
        """Note every fresh suggestion published (waiting up to a quarter second for the first)."""
        timeout = 0.25
        while True:
            try:
                ev = q.get(timeout=timeout) if timeout else q.get_nowait()
            except queue.Empty:
                return
            timeout = 0
            if ev.get("type") == events.SUGGESTION_READY:
                self.note(ev["photo_id"], ev.get("suggestions"))
