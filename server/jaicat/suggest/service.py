"""The suggester inside Jaicat: one `Suggester` per data directory owns the engine, learns from every
Decision, and keeps a snapshot so start-up stays fast however long the history.

    suggester = Suggester(settings).connect()   # learn from filing, folder renames and people changes
    suggester.suggest_for_photo(photo)
    suggester.close()                           # disconnect and save the snapshot

State on disk (all under `<data_dir>/suggest/`):
  engine.pkl      the engine after the last saved decision, with the id of that decision and the ids of
                  decisions undone so far; a header first with its serial (its place in the decision,
                  folder-rename and person-change logs); written atomically every few decisions and on close
  learning-logs/  the desktop scripts' `tag_learning_log.json` files imported with `jaicat suggest
                  import-log` (an older `seed-logs/` folder is read too)
Catalogue Meta key `suggest.reset_at`: the last Decision id when learning was reset; a rebuild (no
usable snapshot) learns only from photos filed after it, so a reset survives losing the snapshot.

History is what is in the library: a rebuild learns every catalogued photo with root "library" in its
current folder (so moves and renames are followed), in filing order, a "fix" counting as a correction.
A photo the auto-filer filed is learned only once it is confirmed (a "confirm" decision: the user saw
it, or a while passed without a correction), never from the engine's own guess.
`learn_library` also registers every folder of the tree (names and dates suggest at once) and learns
library files that are not catalogued yet from their EXIF (date, camera, GPS) - those survive in the
snapshot, not in a rebuild. A skip says none of the suggestions was taken: it makes the confidence
shown humbler (SuggestEngine.note_skip) but teaches nothing about where photos go.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from peewee import Case, fn

from .. import events
from ..config import Settings
from ..db import Decision, Folder, FolderRename, Meta, Person, PersonChange, Photo, get_meta, set_meta
from . import names
from .catalogue import features_for_photo, record, tags_and_people
from .engine import SuggestEngine
from .features import PhotoFeatures, camera_label
from .learning_log import load_learning_log
from ..people import persons
from ..photos import library
from ..db import database
from ..photos.library import list_folders
from ..photos.ingest import PHOTO_EXTENSIONS
from ..photos import imaging

log = logging.getLogger(__name__)

SAVE_EVERY = 25  # decisions between snapshots (and at most SAVE_SECONDS apart while deciding)
SAVE_SECONDS = 60.0
RESET_KEY = "suggest.reset_at"
LEARNED_KEY = "suggest.library_learned"  # set once the library was learned (photos learned)
UNDO_CHECK_SECONDS = 30.0
REBUILD_TRAIN = 3000  # latest decisions a rebuild also trains the signal weights on
LOGS_DIR = "learning-logs"
OLD_LOGS_DIR = "seed-logs"  # where imported logs were kept before; still read, never written


WAITING = ("inbox", "suggested", "skipped")  # statuses of photos not filed yet


def store_suggestions(photo_id: int, suggestions: list[dict], promote: bool = False) -> bool:
    """Store a waiting photo's suggestions, and with `promote` turn "inbox" into "suggested", in one
    compare-and-set UPDATE: a photo filed since it was read is left alone. True if it was waiting."""
    status = Case(None, ((Photo.status == "inbox", "suggested"),), Photo.status) if promote else Photo.status
    return bool(Photo.update(suggestions=suggestions, status=status)
                .where((Photo.id == photo_id) & Photo.status.in_(WAITING)).execute())


def names_before_person_log() -> dict[str, int]:
    """{lower-cased name: person id} as people were named before the first logged rename, merge or
    forget: what a snapshot from before that log (lessons keyed by name) meant by each name."""
    names = dict(Person.select(Person.id, Person.name).tuples())
    for change in PersonChange.select().order_by(PersonChange.id.desc()):
        if change.old_name:
            names[change.person] = change.old_name
    return {name.lower(): pid for pid, name in names.items()}


class Suggester:
    """The folder suggester of one data directory. Thread-safe: every method holds the instance's lock.
    The engine loads lazily (snapshot, else a rebuild from the catalogue) on first use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.data_dir / "suggest"
        self._lock = threading.RLock()
        self._engine: SuggestEngine | None = None
        self._last_decision = 0  # the latest Decision id the engine has seen
        self._last_rename = 0  # the latest FolderRename id the engine has applied
        self._last_person = 0  # the latest PersonChange id the engine has applied
        self.read_only = False  # a guest beside the serving process: never writes the snapshot
        self._undone: set[int] = set()  # Decision ids seen undone
        self._last_folder = 0  # the latest Folder id registered with the engine
        self._folders_known = False  # the engine has seen the folder table once: later rows are new
        self._dirty = 0  # decisions learned since the snapshot
        self._saved_at = 0.0
        self._stamp: tuple | None = None  # the snapshot file as last written or read by us
        self._undos_at = 0.0
        self._saver: threading.Thread | None = None

    # --- lifetime ---------------------------------------------------------------------------------
    def connect(self) -> Suggester:
        """Learn from every filing decision and follow folder renames and person renames, merges and
        forgets (`library.decision_made`, `library.folder_renamed`, `persons.person_changed`);
        idempotent. Returns self."""

        library.decision_made.connect(self.learn_decision)
        library.folder_renamed.connect(self.rename_folder)
        persons.person_changed.connect(self.person_changed)
        return self

    def disconnect(self) -> None:
        """Stop hearing about filing (what it misses, it catches up from the logs)."""

        library.decision_made.disconnect(self.learn_decision)
        library.folder_renamed.disconnect(self.rename_folder)
        persons.person_changed.disconnect(self.person_changed)

    def close(self) -> None:
        """Disconnect from filing and save the snapshot if anything was learned since the last one."""
        self.disconnect()
        self.save_now()

    def warm(self) -> threading.Thread:
        """Load the engine in the background so the first suggestion does not wait (serve)."""
        t = threading.Thread(target=self._warm, name="suggest-warm", daemon=True)
        t.start()
        return t

    def _warm(self) -> None:

        try:
            with database.connection_context():
                self.engine()
        except Exception:
            log.exception("suggest: could not load the engine")

    # --- the engine and its snapshot ------------------------------------------------------------
    def engine(self) -> SuggestEngine:
        """The engine, loaded from the snapshot or rebuilt on first use."""
        with self._lock:
            if self._engine is None:
                self._load_or_rebuild()
            return self._engine

    def _snapshot_stamp(self) -> tuple | None:
        try:
            st = (self.dir / "engine.pkl").stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load_or_rebuild(self) -> None:
        snap = self.dir / "engine.pkl"
        self._dirty, self._saved_at, self._last_folder = 0, time.monotonic(), 0
        self._folders_known = False
        if snap.is_file():
            try:
                stamp = self._snapshot_stamp()
                with snap.open("rb") as fh:
                    doc = pickle.load(fh)
                    if "serial" in doc:  # a header first, the engine after it
                        doc = pickle.load(fh)
                eng = SuggestEngine.from_bytes(doc["engine"])
                eng.predict(PhotoFeatures.build("probe", "2000-01-01T00:00:00", {"probe": 1.0}), 1)  # usable?
                self._engine, self._last_decision, self._undone = eng, doc["last_decision"], set(doc["undone"])
                self._last_rename = doc.get("last_rename", 0)
                if "last_person_change" in doc:
                    self._last_person = doc["last_person_change"]
                else:  # lessons learned under people's names: key them by id, then replay the log
                    eng.key_people_by_id(names_before_person_log())
                    self._last_person = 0
                if doc.get("last_folder"):
                    self._last_folder, self._folders_known = doc["last_folder"], True
                self._stamp = stamp
                self._catch_up(undos=True)
                return
            except Exception as e:  # a snapshot from another version or a torn file: rebuild instead
                log.warning("suggest: snapshot %s unusable (%s); rebuilding from the catalogue", snap, e)
        self._rebuild(respect_reset=True)

    def _catch_up(self, undos: bool) -> int:
        """Apply decisions made since the engine last looked (after its snapshot, or by another process
        such as `jaicat file`), and, with `undos`, undos of older ones. Returns decisions applied."""
        n = 0
        if undos:
            undone_now = {d for (d,) in Decision.select(Decision.id).where(Decision.undone == True).tuples()}  # noqa: E712
            for did in sorted(undone_now - self._undone):
                if did <= self._last_decision:
                    self._engine.forget(str(Decision.get_by_id(did).photo_id))
                    n += 1
            self._undone, self._undos_at = undone_now, time.monotonic()
        # folder renames and person changes, each in the order it happened among the decisions
        changes = sorted(
            [(r.after_decision, 0, r.id, r) for r in
             FolderRename.select().where(FolderRename.id > self._last_rename)]
            + [(c.after_decision, 1, c.id, c) for c in
               PersonChange.select().where(PersonChange.id > self._last_person)], key=lambda x: x[:3])
        last = Decision.select(fn.MAX(Decision.id)).scalar() or 0
        if last > self._last_decision:
            for d in Decision.select().where(Decision.id > self._last_decision).order_by(Decision.id):
                while changes and changes[0][0] < d.id:
                    self._apply_change(changes.pop(0)[3])
                    n += 1
                self._apply(d)
                n += 1
        for *_, change in changes:
            self._apply_change(change)
            n += 1
        self._sync_folders()
        self._dirty += n
        return n

    def _fresh(self) -> SuggestEngine:
        """The engine, up to date with the catalogue and with snapshots other processes wrote
        (`jaicat suggest reset`/`import-log`/`learn-library` while the server runs). Costs a stat and
        one indexed query; undos made elsewhere are looked for at most every UNDO_CHECK_SECONDS."""
        self.engine()
        stamp = self._snapshot_stamp()
        if stamp is not None and stamp != self._stamp:
            self._load_or_rebuild()
        else:
            self._catch_up(undos=time.monotonic() - self._undos_at > UNDO_CHECK_SECONDS)
        return self._engine

    def _log_files(self) -> list[Path]:
        return [f for name in (OLD_LOGS_DIR, LOGS_DIR) if (self.dir / name).is_dir()
                for f in sorted((self.dir / name).glob("*.json"))]

    def _rebuild(self, respect_reset: bool, force: bool = False) -> int:
        """Replace the engine by one learned afresh from the catalogue (under the lock) and save it."""
        built = self._build(respect_reset)
        self._install(built)
        self._save(force=force)
        return built.learned

    def _build(self, respect_reset: bool, progress: Callable[[int, int], None] | None = None,
               files: list[tuple[str, Path]] | None = None) -> _Built:
        """A new engine learned from the learning logs, the folder tree, the catalogued filed photos
        and the uncatalogued library `files` (from `_library_files`). Touches nothing of `self`: it can
        run without the lock while suggestions are served from the current engine. `progress(done,
        total)` after each photo or file."""

        eng = SuggestEngine()
        # where in the logs this engine stands: taken first, so what happens while it learns is caught up
        last_decision = Decision.select(fn.MAX(Decision.id)).scalar() or 0
        last_rename = FolderRename.select(fn.MAX(FolderRename.id)).scalar() or 0  # the tree is current
        last_person = PersonChange.select(fn.MAX(PersonChange.id)).scalar() or 0  # so are the people
        undone = {d for (d,) in Decision.select(Decision.id).where(Decision.undone == True).tuples()}  # noqa: E712
        reset_at = int(get_meta(RESET_KEY, "0") or 0) if respect_reset else 0
        for log_file in self._log_files():
            for rec, folder, weight in load_learning_log(log_file, self.settings.library):
                eng.learn(rec, folder, weight=weight)
        for path in list_folders(self.settings):
            eng.add_folder(path, created=False)
        # filing order: photos never decided here (already in the library) first, then by decision
        latest, unseen = _latest_filings(last_decision)
        photos = [p for p in Photo.select().where(Photo.root == "library") if p.folder and p.id not in unseen]
        if reset_at:
            photos = [p for p in photos if latest.get(p.id, (0, ""))[0] > reset_at]
        photos.sort(key=lambda p: (latest.get(p.id, (0, ""))[0], p.taken_at is None, p.taken_at or 0, p.id))
        files = files or []
        total = len(photos) + len(files)
        n = 0
        for i in range(0, len(photos), 500):
            chunk = photos[i:i + 500]
            tags, people = tags_and_people([p.id for p in chunk])
            for p in chunk:
                rec = record(p, tags.get(p.id, {}), people.get(p.id, {}))
                # the combiner trains on the latest decisions only: a 50k rebuild stays fast
                eng.learn(rec, p.folder, corrected=latest.get(p.id, (0, ""))[1] == "fix",
                          update_weights=n >= len(photos) - REBUILD_TRAIN)
                n += 1
                if progress:
                    progress(n, total)
        n += self._learn_files(eng, files, lambda k: progress(len(photos) + k, total) if progress else None)
        return _Built(eng, (last_decision, last_rename, last_person), undone, n)

    def _install(self, built: _Built) -> None:
        """Serve from a built engine from now on (under the lock)."""
        self._engine, self._last_folder, self._folders_known = built.engine, 0, False
        self._last_decision, self._last_rename, self._last_person = built.serial
        self._undone = built.undone
        self._undos_at = time.monotonic()
        self._sync_folders()

    def _sync_folders(self) -> None:
        """Folders created since we last looked become suggestible at once (a new user's first folder
        included: "you just created ...")."""
        for fid, path in Folder.select(Folder.id, Folder.path).where(Folder.id > self._last_folder).tuples():
            self._engine.add_folder(path, created=self._folders_known)
            self._last_folder = max(self._last_folder, fid)
        self._folders_known = True

    @property
    def serial(self) -> tuple[int, int, int]:
        """(latest Decision id, latest FolderRename id, latest PersonChange id) the engine has
        learned: its place in the logs."""
        return (self._last_decision, self._last_rename, self._last_person)

    def snapshot_serial(self) -> tuple[int, int, int] | None:
        """The serial of the snapshot on disk (None if there is none or it has no header); one from
        before person changes were logged has seen none of them."""
        try:
            with (self.dir / "engine.pkl").open("rb") as fh:
                head = pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError):
            return None
        if not (isinstance(head, dict) and "serial" in head):
            return None
        return (tuple(head["serial"]) + (0, 0, 0))[:3]

    def _save(self, force: bool = False) -> bool:
        """Write the snapshot, unless the one on disk is further along the log (another process wrote
        it): a snapshot is never replaced by an older one. `force` (reset, import of a learning log)
        replaces it anyway. Returns whether it was written."""
        if self.read_only and not force:
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "engine.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time, across processes
            on_disk = self.snapshot_serial()
            if not force and on_disk is not None and any(a > b for a, b in zip(on_disk, self.serial, strict=True)):
                self._stamp = None  # reload it at the next look
                return False
            head = {"serial": list(self.serial), "saved_by": os.getpid()}
            doc = {"engine": self._engine.to_bytes(), "last_decision": self._last_decision,
                   "undone": sorted(self._undone), "last_folder": self._last_folder,
                   "last_rename": self._last_rename, "last_person_change": self._last_person}
            tmp = self.dir / f"engine.pkl.{os.getpid()}.{threading.get_ident()}.tmp"
            with tmp.open("wb") as fh:
                pickle.dump(head, fh, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(doc, fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.dir / "engine.pkl")
        self._dirty, self._saved_at, self._stamp = 0, time.monotonic(), self._snapshot_stamp()
        return True

    def save_now(self) -> None:
        """Write the snapshot if anything was learned since the last one."""
        with self._lock:
            if self._engine is not None and self._dirty:
                try:
                    self._save()
                except Exception:
                    log.exception("suggest: could not save the snapshot")

    # --- learning ---------------------------------------------------------------------------------
    def _apply(self, decision: Decision) -> None:
        eng = self._engine
        self._last_decision = max(self._last_decision, decision.id)
        if decision.undone:
            self._undone.add(decision.id)
            eng.forget(str(decision.photo_id))
            return
        if decision.action == "skip":
            photo = Photo.get_or_none(Photo.id == decision.photo_id)
            eng.note_skip(features_for_photo(photo) if photo is not None else None)
            return
        if decision.action == "undo" or decision.chosen_folder is None:
            return
        if decision.filed_by == "auto" and decision.action != "confirm":
            return  # the auto-filer's own filing teaches nothing until the user has seen it (its "confirm")
        photo = Photo.get_or_none(Photo.id == decision.photo_id)
        if photo is None:
            return
        top = (decision.suggested or [{}])[0].get("folder") if decision.suggested else None
        corrected = decision.action == "fix" or (top is not None and top != decision.chosen_folder)
        eng.forget(str(photo.id))  # re-filing a photo moves its lesson rather than doubling it
        eng.learn(features_for_photo(photo), decision.chosen_folder, corrected=corrected)

    def learn_decision(self, decision: Decision) -> None:
        """Learn a filing in a few milliseconds; an undo unlearns it (`library.decision_made`)."""
        with self._lock:
            self._fresh()  # learns this decision, and any made elsewhere before it
            if decision.undone and decision.id not in self._undone:
                self._apply(decision)
                self._dirty += 1
            due = self._dirty >= SAVE_EVERY or time.monotonic() - self._saved_at > SAVE_SECONDS
            if due and (self._saver is None or not self._saver.is_alive()):
                # pickling a long history takes a moment: not on the phone's request
                self._saver = threading.Thread(target=self.save_now, name="suggest-snapshot", daemon=True)
                self._saver.start()

    def rename_folder(self, old: str, new: str) -> int:
        """A folder (and its subfolders) was renamed (`library.folder_renamed`): its history follows,
        from the rename log (FolderRename), so every process and snapshot applies it exactly once.
        Returns log entries applied."""
        with self._lock:
            self.engine()
            return self._catch_up(undos=False)

    def person_changed(self, change: PersonChange) -> int:
        """A person was renamed, merged or forgotten (`persons.person_changed`): the lessons keyed by
        their id follow, from the log (PersonChange), so every process and snapshot applies it exactly
        once. Returns log entries applied."""
        with self._lock:
            self.engine()
            return self._catch_up(undos=False)

    def _apply_change(self, change: FolderRename | PersonChange) -> None:
        if isinstance(change, FolderRename):
            self._engine.rename_folder(change.old, change.new)
            self._last_rename = max(self._last_rename, change.id)
            return
        if change.kind == "merge" and change.into is not None:
            self._engine.merge_person(change.person, change.into)
        elif change.kind == "forget":
            self._engine.forget_person(change.person)
        # a rename changes no lesson (they are keyed by id); reasons and folder names read the new name
        self._last_person = max(self._last_person, change.id)

    # --- suggesting -------------------------------------------------------------------------------
    def suggest_for_photo(self, photo: Photo, k: int | None = None) -> list[dict]:
        """Top-k folders for a photo as [{"folder", "score" (calibrated 0-1), "reason"}], best first,
        and, when it starts a new event or shows a person without a folder, a proposed new folder
        ({..., "new": true}) in its place by its score."""
        return self.suggest_for_photos([photo], k)[photo.id]

    def suggest_for_photos(self, photos: list[Photo], k: int | None = None) -> dict[int, list[dict]]:
        """{photo id: suggestions (as suggest_for_photo)} for many photos: their tags and people in two
        queries, then the whole page through the engine at once, under one lock (predict_many: the
        same answers as one photo at a time, up to rounding, in well under a millisecond a card). The
        photos are each other's context for a proposed folder's date (names.event_start)."""
        k = self.settings.suggest_top_k if k is None else k
        tags, people = tags_and_people([p.id for p in photos])
        recs = [record(p, tags.get(p.id, {}), people.get(p.id, {})) for p in photos]
        with self._lock:
            eng = self._fresh()
            evidence = eng.evidence_many(recs)
            answers = eng.predict_many(recs, k, evidence=evidence)
            proposed = names.proposals(eng, eng.name_pattern(), recs, evidence, answers)
            known = set(eng.known_folders())
            people = names.person_folders(list(known), [n for (n,) in Person.select(Person.name).tuples()])
            proposed = [prop or names.person_proposal(eng, people, rec, known) for prop, rec in zip(
                proposed, recs, strict=True)]
        out = {}
        for p, sugg, prop in zip(photos, answers, proposed, strict=True):
            # a proposed new folder takes its place by its score among the others
            out[p.id] = sorted([s.as_dict() for s in sugg] + ([prop] if prop else []), key=lambda d: -d["score"])
        return out

    def suggest_after_analysis(self, photo: Photo) -> list[dict]:
        """Once a photo is analysed: store its suggestions, mark an inbox photo "suggested" and tell
        the phones (`suggestion.ready`). Compare-and-set: a photo filed meanwhile stays filed and is
        not announced."""
        sugg = self.suggest_for_photo(photo)
        if store_suggestions(photo.id, sugg, promote=True):
            events.publish(events.SUGGESTION_READY, photo_id=photo.id, suggestions=sugg,
                           thumb_url=f"/api/photos/{photo.id}/thumb?size=256")
        return sugg

    # --- maintenance ------------------------------------------------------------------------------
    def reset_learning(self) -> None:
        """Forget everything learned (imported learning logs too); the folder tree stays suggestible by
        its names and dates. Survives restarts: a rebuild learns only from photos filed after the reset."""
        with self._lock:
            self.engine()
            last = Decision.select(Decision.id).order_by(Decision.id.desc()).scalar() or 0
            set_meta(RESET_KEY, str(last))
            for name in (OLD_LOGS_DIR, LOGS_DIR):
                shutil.rmtree(self.dir / name, ignore_errors=True)
            self._rebuild(respect_reset=True, force=True)

    def import_learning_log(self, path: str | os.PathLike) -> int:
        """Learn the desktop scripts' tag_learning_log.json (shapes: see learning_log.py); returns
        entries learned. The file is kept under <data_dir>/suggest/learning-logs so a rebuild learns it
        again."""
        rows = load_learning_log(path, self.settings.library)
        with self._lock:
            eng = self.engine()
            for rec, folder, weight in rows:
                eng.learn(rec, folder, weight=weight)
            logs = self.dir / LOGS_DIR
            logs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, logs / f"{int(time.time() * 1000)}-{Path(path).name}")
            self._save(force=True)
        return len(rows)

    def learn_library(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Relearn from the whole library: every catalogued filed photo (a reset no longer applies) and
        every folder of the tree, plus library files not yet catalogued, from their EXIF. The new
        engine is built without holding the lock (suggestions keep coming from the current one), then
        replaces it and catches up with decisions, renames and person changes made meanwhile. Running
        it again learns afresh, never twice. Records LEARNED_KEY when done. Returns photos learned."""
        Meta.delete().where(Meta.key == RESET_KEY).execute()
        built = self._build(respect_reset=False, progress=progress, files=self._library_files())
        with self._lock:
            self._install(built)
            self._catch_up(undos=True)
            self._save(force=True)
        set_meta(LEARNED_KEY, str(built.learned))
        return built.learned

    def _library_files(self) -> list[tuple[str, Path]]:
        """(folder, path) of the photo files in library folders that are not catalogued, in tree order."""

        root = self.settings.library
        if not root.is_dir():
            return []
        known = {p for (p,) in Photo.select(Photo.path).where(Photo.root == "library").tuples()}
        found = []
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            if rel_dir == ".":
                continue  # files at the library root are not filed anywhere
            for name in sorted(files):
                if f"{rel_dir}/{name}" not in known and Path(name).suffix.lower() in PHOTO_EXTENSIONS:
                    found.append((rel_dir, Path(dirpath) / name))
        return found

    def _learn_files(self, eng: SuggestEngine, files: list[tuple[str, Path]],
                     progress: Callable[[int], None]) -> int:
        """Teach `eng` where each file is, from its EXIF (date, camera, GPS), oldest first; returns the
        files learned (unreadable ones are not history). `progress(files read)` after each."""

        root = self.settings.library
        found = []
        for k, (folder, path) in enumerate(files, 1):
            try:
                with imaging.open_image(path, self.settings.max_pixels) as im:
                    facts = imaging.read_facts(im)
            except Exception:
                facts = None
            if facts is not None:
                camera = camera_label(facts.camera_make, facts.camera_model)
                gps = (facts.gps_lat, facts.gps_lon) if facts.gps_lat is not None else None
                found.append((facts.taken_at, path.relative_to(root).as_posix(), folder, camera, gps))
            progress(k)
        found.sort(key=lambda x: (x[0] is None, x[0] or 0, x[1]))
        for taken, rel, folder, camera, gps in found:
            eng.learn(PhotoFeatures.build("file:" + rel, taken, None, None, None, camera, gps), folder)
        return len(found)


def _latest_filings(last_decision: int) -> tuple[dict[int, tuple[int, str]], set[int]]:
    """({photo id: (its latest filing's Decision id, action)}, the photos whose latest filing is the
    auto-filer's, not yet seen or kept: not a lesson yet), up to `last_decision`."""
    latest: dict[int, tuple[int, str]] = {}
    unseen: set[int] = set()
    q = (Decision.select(Decision.id, Decision.photo, Decision.action, Decision.filed_by)
         .where((Decision.undone == False) & (Decision.action != "skip") & (Decision.id <= last_decision))  # noqa: E712
         .order_by(Decision.id).tuples())
    for did, pid, action, filed_by in q:
        latest[pid] = (did, action)
        if filed_by == "auto" and action != "confirm":
            unseen.add(pid)
        else:
            unseen.discard(pid)
    return latest, unseen


class _Built:
    """An engine learned by `Suggester._build` and where in the logs it stands: `serial` is (latest
    Decision id, latest FolderRename id, latest PersonChange id)."""

    def __init__(self, engine: SuggestEngine, serial: tuple[int, int, int], undone: set[int], learned: int):
        self.engine, self.serial, self.undone, self.learned = engine, serial, undone, learned
