"""The suggester inside Jaicat: feature records from the catalogue, one engine per process, learning
from every Decision, and a snapshot so start-up stays fast however long the history.

State on disk (all under `<data_dir>/suggest/`):
  engine.pkl    the engine after the last saved decision, with the id of that decision and the ids of
                decisions undone so far; written atomically every few decisions and at exit
  seed-logs/    seed `tag_learning_log.json` files imported with `jaicat suggest import-log`
Catalogue Meta key `suggest.reset_at`: the last Decision id when learning was reset; a rebuild (no
usable snapshot) learns only from photos filed after it, so a reset survives losing the snapshot.

History is what is in the library: a rebuild learns every catalogued photo with root "library" in its
current folder (so moves and renames are followed), in filing order, a "fix" counting as a correction.
`learn_library` also registers every folder of the tree (names and dates suggest at once) and learns
library files that are not catalogued yet from their EXIF (date, camera, GPS) - those survive in the
snapshot, not in a rebuild. A skip says none of the suggestions was taken: it makes the confidence
shown humbler (SuggestEngine.note_skip) but teaches nothing about where photos go.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import shutil
import threading
import time
from pathlib import Path

from peewee import fn

from .. import events
from ..config import Settings
from ..db import Decision, Face, Folder, Meta, Person, Photo, PhotoTag, Tag, blob_to_vec, get_meta, set_meta
from .engine import SuggestEngine
from .features import PhotoFeatures
from .learning_log import load_seed_log

log = logging.getLogger(__name__)

_lock = threading.RLock()
_state: dict = {"engine": None, "data_dir": None, "settings": None, "last_decision": 0, "undone": set(),
                "dirty": 0, "saved_at": 0.0, "last_folder": 0}
SAVE_EVERY = 25  # decisions between snapshots (and at most SAVE_SECONDS apart while deciding)
SAVE_SECONDS = 60.0
RESET_KEY = "suggest.reset_at"
UNDO_CHECK_SECONDS = 30.0
REBUILD_TRAIN = 3000  # latest decisions a rebuild also trains the signal weights on


def _dir(settings: Settings) -> Path:
    return settings.data_dir / "suggest"


# --- features from the catalogue -----------------------------------------------------------------
def _camera(photo: Photo) -> str | None:
    make, model = (photo.camera_make or "").strip(), (photo.camera_model or "").strip()
    if model and make and model.lower().startswith(make.lower().split()[0]):
        return model
    return " ".join(x for x in (make, model) if x) or None


def _record(photo: Photo, tags: dict, people: list) -> PhotoFeatures:
    gps = (photo.gps_lat, photo.gps_lon) if photo.gps_lat is not None and photo.gps_lon is not None else None
    emb = blob_to_vec(photo.embedding) if photo.embedding else None
    return PhotoFeatures.build(photo.id, photo.taken_at, tags, people, photo.caption, _camera(photo), gps, emb)


def _tags_people(ids: list[int]) -> tuple[dict, dict]:
    tags: dict[int, dict] = {}
    people: dict[int, list] = {}
    for i in range(0, len(ids), 500):  # SQLite variable limit
        chunk = ids[i:i + 500]
        q = (PhotoTag.select(PhotoTag.photo, PhotoTag.score, Tag.name).join(Tag)
             .where(PhotoTag.photo.in_(chunk) & (PhotoTag.removed == False)).tuples())  # noqa: E712
        for pid, score, name in q:
            tags.setdefault(pid, {})[name] = score
        q = (Face.select(Face.photo, Person.name).join(Person).where(Face.photo.in_(chunk)).tuples())
        for pid, name in q:
            if name not in people.setdefault(pid, []):
                people[pid].append(name)
    return tags, people


def features_for_photo(photo: Photo) -> PhotoFeatures:
    """The engine's view of a catalogued photo: EXIF facts, tags (not removed), named people, caption,
    CLIP embedding."""
    tags, people = _tags_people([photo.id])
    return _record(photo, tags.get(photo.id, {}), people.get(photo.id, []))


# --- the engine and its snapshot -----------------------------------------------------------------
def install(settings: Settings, warm: bool = False) -> None:
    """Hook learning into filing (`library.on_decision`); idempotent. Serve and the CLI call this;
    `warm=True` (serve) loads the engine in the background so the first suggestion does not wait."""
    from ..photos import library

    with _lock:
        _state["settings"] = settings
    library.on_decision(learn_decision)
    library.on_folder_renamed(rename_folder)
    if warm:
        threading.Thread(target=_warm, args=(settings,), name="suggest-warm", daemon=True).start()


def _warm(settings: Settings) -> None:
    try:
        engine(settings)
    except Exception:
        log.exception("suggest: could not load the engine")


def engine(settings: Settings | None = None) -> SuggestEngine:
    """The process's engine for `settings`' data dir, loaded from the snapshot or rebuilt (lazily)."""
    settings = settings or _state["settings"]
    if settings is None:
        raise RuntimeError("suggest.service: call install(settings) first")
    with _lock:
        if _state["engine"] is None or _state["data_dir"] != settings.data_dir:
            save_now()  # the engine of another data dir (tests, a second catalogue)
            _state["settings"] = settings
            _load_or_rebuild(settings)
        return _state["engine"]


def _stamp(settings: Settings):
    try:
        st = (_dir(settings) / "engine.pkl").stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _load_or_rebuild(settings: Settings) -> None:
    snap = _dir(settings) / "engine.pkl"
    _state.update(data_dir=settings.data_dir, dirty=0, saved_at=time.monotonic(), last_folder=0)
    if snap.is_file():
        try:
            stamp = _stamp(settings)
            with snap.open("rb") as fh:
                doc = pickle.load(fh)
            eng = SuggestEngine.from_bytes(doc["engine"])
            eng.predict(PhotoFeatures.build("probe", "2000-01-01T00:00:00", {"probe": 1.0}), 1)  # usable?
            _state.update(engine=eng, last_decision=doc["last_decision"], undone=set(doc["undone"]), stamp=stamp)
            _catch_up(undos=True)
            return
        except Exception as e:  # a snapshot from another version or a torn file: rebuild instead
            log.warning("suggest: snapshot %s unusable (%s); rebuilding from the catalogue", snap, e)
    _rebuild(settings, respect_reset=True)


def _catch_up(undos: bool) -> int:
    """Apply decisions made since the engine last looked (after its snapshot, or by another process
    such as `jaicat file`), and, with `undos`, undos of older ones. Returns decisions applied."""
    eng = _state["engine"]
    n = 0
    if undos:
        undone_now = {d for (d,) in Decision.select(Decision.id).where(Decision.undone == True).tuples()}  # noqa: E712
        for did in sorted(undone_now - _state["undone"]):
            if did <= _state["last_decision"]:
                eng.forget(str(Decision.get_by_id(did).photo_id))
                n += 1
        _state.update(undone=undone_now, undos_at=time.monotonic())
    last = Decision.select(fn.MAX(Decision.id)).scalar() or 0
    if last > _state["last_decision"]:
        for d in Decision.select().where(Decision.id > _state["last_decision"]).order_by(Decision.id):
            _apply(d)
            n += 1
    _sync_folders()
    _state["dirty"] += n
    return n


def _fresh(settings: Settings) -> SuggestEngine:
    """The engine, up to date with the catalogue and with snapshots other processes wrote
    (`jaicat suggest reset`/`import-log`/`learn-library` while the server runs). Costs a stat and
    one indexed query; undos made elsewhere are looked for at most every UNDO_CHECK_SECONDS."""
    engine(settings)
    stamp = _stamp(settings)
    if stamp is not None and stamp != _state.get("stamp"):
        _load_or_rebuild(settings)
    else:
        _catch_up(undos=time.monotonic() - _state.get("undos_at", 0.0) > UNDO_CHECK_SECONDS)
    return _state["engine"]


def _rebuild(settings: Settings, respect_reset: bool, progress=None) -> int:
    from ..photos.library import list_folders

    eng = SuggestEngine()
    _state.update(engine=eng, last_folder=0)
    reset_at = int(get_meta(RESET_KEY, "0") or 0) if respect_reset else 0
    seeds = _dir(settings) / "seed-logs"
    for log_file in sorted(seeds.glob("*.json")) if seeds.is_dir() else []:
        for rec, folder, weight in load_seed_log(log_file, settings.library):
            eng.learn(rec, folder, weight=weight)
    for path in list_folders(settings):
        eng.add_folder(path, created=False)
    # filing order: photos never decided here (already in the library) first, then by decision
    latest: dict[int, tuple[int, str]] = {}
    q = (Decision.select(Decision.id, Decision.photo, Decision.action)
         .where((Decision.undone == False) & (Decision.action != "skip"))  # noqa: E712
         .order_by(Decision.id).tuples())
    for did, pid, action in q:
        latest[pid] = (did, action)
    photos = [p for p in Photo.select().where(Photo.root == "library") if p.folder]  # not the root itself
    if reset_at:
        photos = [p for p in photos if latest.get(p.id, (0, ""))[0] > reset_at]
    photos.sort(key=lambda p: (latest.get(p.id, (0, ""))[0], p.taken_at is None, p.taken_at or 0, p.id))
    n = 0
    for i in range(0, len(photos), 500):
        chunk = photos[i:i + 500]
        tags, people = _tags_people([p.id for p in chunk])
        for p in chunk:
            rec = _record(p, tags.get(p.id, {}), people.get(p.id, []))
            # the combiner trains on the latest decisions only: a 50k rebuild stays fast
            eng.learn(rec, p.folder, corrected=latest.get(p.id, (0, ""))[1] == "fix",
                      update_weights=n >= len(photos) - REBUILD_TRAIN)
            n += 1
            if progress:
                progress(n, len(photos))
    last = Decision.select(Decision.id).order_by(Decision.id.desc()).scalar() or 0
    undone = {d for (d,) in Decision.select(Decision.id).where(Decision.undone == True).tuples()}  # noqa: E712
    _state.update(last_decision=last, undone=undone, undos_at=time.monotonic())
    _sync_folders()
    _save(settings)
    return n


def _sync_folders() -> None:
    """Folders created since we last looked become suggestible at once."""
    eng = _state["engine"]
    for fid, path in Folder.select(Folder.id, Folder.path).where(Folder.id > _state["last_folder"]).tuples():
        eng.add_folder(path, created=_state["last_folder"] > 0)
        _state["last_folder"] = max(_state["last_folder"], fid)


def _save(settings: Settings) -> None:
    d = _dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    doc = {"engine": _state["engine"].to_bytes(), "last_decision": _state["last_decision"],
           "undone": sorted(_state["undone"])}
    tmp = d / f"engine.pkl.{os.getpid()}.tmp"
    with tmp.open("wb") as fh:
        pickle.dump(doc, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, d / "engine.pkl")
    _state.update(dirty=0, saved_at=time.monotonic(), stamp=_stamp(settings))


def save_now() -> None:
    """Write the snapshot if anything was learned since the last one (also runs at exit)."""
    with _lock:
        if _state["engine"] is not None and _state["dirty"] and _state["settings"] is not None:
            try:
                _save(_state["settings"])
            except Exception:
                log.exception("suggest: could not save the snapshot")


atexit.register(save_now)


# --- learning ------------------------------------------------------------------------------------
def _apply(decision: Decision) -> None:
    eng = _state["engine"]
    _state["last_decision"] = max(_state["last_decision"], decision.id)
    if decision.undone:
        _state["undone"].add(decision.id)
        eng.forget(str(decision.photo_id))
        return
    if decision.action == "skip":
        photo = Photo.get_or_none(Photo.id == decision.photo_id)
        eng.note_skip(features_for_photo(photo) if photo is not None else None)
        return
    if decision.action == "undo" or decision.chosen_folder is None:
        return
    photo = Photo.get_or_none(Photo.id == decision.photo_id)
    if photo is None:
        return
    top = (decision.suggested or [{}])[0].get("folder") if decision.suggested else None
    corrected = decision.action == "fix" or (top is not None and top != decision.chosen_folder)
    eng.forget(str(photo.id))  # re-filing a photo moves its lesson rather than doubling it
    eng.learn(features_for_photo(photo), decision.chosen_folder, corrected=corrected)


def learn_decision(decision: Decision) -> None:
    """`library.on_decision` hook: learn a filing in a few milliseconds; an undo unlearns it."""
    settings = _state["settings"]
    if settings is None:
        return
    with _lock:
        _fresh(settings)  # learns this decision, and any made elsewhere before it
        if decision.undone and decision.id not in _state["undone"]:
            _apply(decision)
            _state["dirty"] += 1
        due = _state["dirty"] >= SAVE_EVERY or time.monotonic() - _state["saved_at"] > SAVE_SECONDS
        saver = _state.get("saver")
        if due and (saver is None or not saver.is_alive()):
            # pickling a long history takes a moment: not on the phone's request
            _state["saver"] = threading.Thread(target=save_now, name="suggest-snapshot", daemon=True)
            _state["saver"].start()


def rename_folder(old: str, new: str, settings: Settings | None = None) -> int:
    """A folder (and its subfolders) was renamed: its history follows. Returns folders renamed."""
    with _lock:
        n = engine(settings).rename_folder(old, new)
        _state["dirty"] += 1
        return n


# --- suggesting ----------------------------------------------------------------------------------
def suggest_for_photo(photo: Photo, settings: Settings, k: int | None = None) -> list[dict]:
    """Top-k folders for a photo as [{"folder", "score" (calibrated 0-1), "reason"}], best first."""
    k = settings.suggest_top_k if k is None else k
    rec = features_for_photo(photo)
    with _lock:
        return [s.as_dict() for s in _fresh(settings).predict(rec, k)]


def suggest_after_analysis(photo: Photo, settings: Settings) -> list[dict]:
    """Called by the ML worker once a photo is analysed: store its suggestions, mark an inbox photo
    "suggested" and tell the phones (`suggestion.ready`)."""
    sugg = suggest_for_photo(photo, settings)
    photo.suggestions = sugg
    fields = [Photo.suggestions]
    if photo.status == "inbox":
        photo.status = "suggested"
        fields.append(Photo.status)
    photo.save(only=fields)
    events.publish("suggestion.ready", photo_id=photo.id, suggestions=sugg,
                   thumb_url=f"/api/photos/{photo.id}/thumb?size=256")
    return sugg


# --- maintenance ---------------------------------------------------------------------------------
def reset_learning(settings: Settings | None = None) -> None:
    """Forget everything learned (imported seed logs too); the folder tree stays suggestible by its
    names and dates. Survives restarts: a rebuild learns only from photos filed after the reset."""
    settings = settings or _state["settings"]
    with _lock:
        engine(settings)
        last = Decision.select(Decision.id).order_by(Decision.id.desc()).scalar() or 0
        set_meta(RESET_KEY, str(last))
        shutil.rmtree(_dir(settings) / "seed-logs", ignore_errors=True)
        _rebuild(settings, respect_reset=True)


def import_seed_log(path: str | os.PathLike, settings: Settings | None = None) -> int:
    """Learn the seed app's tag_learning_log.json (shapes: see seedlog.py); returns entries learned.
    The file is kept under <data_dir>/suggest/seed-logs so a rebuild learns it again."""
    settings = settings or _state["settings"]
    rows = load_seed_log(path, settings.library)
    with _lock:
        eng = engine(settings)
        for rec, folder, weight in rows:
            eng.learn(rec, folder, weight=weight)
        seeds = _dir(settings) / "seed-logs"
        seeds.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, seeds / f"{int(time.time() * 1000)}-{Path(path).name}")
        _save(settings)
    return len(rows)


def learn_library(settings: Settings, progress=None) -> int:
    """Relearn from the whole library: every catalogued filed photo (a reset no longer applies) and
    every folder of the tree, plus library files not yet catalogued, from their EXIF. Returns photos
    learned."""
    with _lock:
        Meta.delete().where(Meta.key == RESET_KEY).execute()
        n = _rebuild(settings, respect_reset=False, progress=progress)
        n += _learn_uncatalogued(settings)
        _save(settings)
        return n


def _learn_uncatalogued(settings: Settings) -> int:
    from ..photos import imaging
    from ..photos.ingest import PHOTO_EXTENSIONS

    root = settings.library
    if not root.is_dir():
        return 0
    known = {p for (p,) in Photo.select(Photo.path).where(Photo.root == "library").tuples()}
    eng = _state["engine"]
    found = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        if rel_dir == ".":
            continue  # files at the library root are not filed anywhere
        for name in sorted(files):
            rel = f"{rel_dir}/{name}"
            if rel in known or Path(name).suffix.lower() not in PHOTO_EXTENSIONS:
                continue
            try:
                with imaging.open_image(Path(dirpath) / name, settings.max_pixels) as im:
                    facts = imaging.read_facts(im)
            except Exception:
                continue  # not readable as a photo: not history
            camera = " ".join(x for x in (facts.camera_make, facts.camera_model) if x) or None
            gps = (facts.gps_lat, facts.gps_lon) if facts.gps_lat is not None else None
            found.append((facts.taken_at, rel, rel_dir, camera, gps))
    found.sort(key=lambda x: (x[0] is None, x[0] or 0, x[1]))
    for taken, rel, folder, camera, gps in found:
        eng.learn(PhotoFeatures.build("file:" + rel, taken, None, None, None, camera, gps), folder)
    return len(found)
