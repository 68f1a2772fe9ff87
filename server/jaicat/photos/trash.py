"""The trash: a deleted photo waits in `<data dir>/trash/<sha256>/` until the user empties the trash,
and restore puts it back where it was (inbox or library folder, under a free name if that one was taken
meanwhile). Nothing in the user's tree is ever deleted outright.

Each move is crash-safe in three steps: the intent is written to the catalogue (Meta key
`trash-intent:<photo id>`), the file moves (a hard link + unlink, or a verified copy: library.transfer),
then the photo row and the intent's removal commit together. `reconcile()` at start-up finishes or
rolls back an intent a crash interrupted, by looking where the file is. A photo's XMP sidecar
(`<name>.<ext>.xmp`, library.SIDECAR_SUFFIX) travels with it.

Emptying deletes the rows first (faces, tags, regions and decisions go with them), then the files; a
crash in between leaves only a folder in the trash that no photo claims, which reconcile removes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from pathlib import Path

from .. import events
from ..config import Settings
from ..db import Meta, Photo, database, utcnow
from ..errors import FileMissing, InvalidInput, NotFound, PathOutsideLibrary
from . import ingest, live, preview, uploads
from .hashing import sha256_file
from .library import _move_lock, _relative, fsync_dir, photo_file, transfer

log = logging.getLogger(__name__)
_INTENT = "trash-intent:"
SIDECAR_SUFFIX = ".xmp"  # Jaicat's sidecar naming (xmp.sidecar_path): IMG_1.jpg -> IMG_1.jpg.xmp


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _move_with_sidecar(src: Path, dst_dir: Path, name: str, sha: str) -> Path:
    final = transfer(src, dst_dir, name, sha, keep_source=False)
    side = _sidecar(src)
    if side.is_file() and not _sidecar(final).exists():
        try:
            os.replace(side, _sidecar(final))
        except OSError:  # another filesystem: copy, then drop the original
            shutil.copy2(side, _sidecar(final))
            side.unlink()
    return final


def _moved_copy(to_dir: Path, name: str, sha: str) -> Path | None:
    """The file a move into `to_dir` made for `name` ("name.ext" or a free "name (n).ext"), verified by
    its sha256, or None."""
    if not to_dir.is_dir():
        return None
    stem, suffix = Path(name).stem, Path(name).suffix
    for p in sorted(to_dir.iterdir()):
        if p.is_file() and (p.name == name or (p.name.startswith(f"{stem} (") and p.name.endswith(suffix))) \
                and sha256_file(p) == sha:
            return p
    return None


def _write_intent(photo: Photo, op: str, frm: tuple[str, str], to_dir: Path) -> None:
    Meta.insert(key=f"{_INTENT}{photo.id}", value=json.dumps(
        {"op": op, "root": frm[0], "path": frm[1], "to_dir": str(to_dir)})).on_conflict_replace().execute()


def _clear_intent(photo_id: int) -> None:
    Meta.delete().where(Meta.key == f"{_INTENT}{photo_id}").execute()


def _current(photo: Photo) -> Photo:
    """The photo's row as it is now: emptying the trash may have deleted it since it was loaded."""
    now = Photo.get_or_none(Photo.id == photo.id)
    if now is None:
        raise NotFound(f"no photo {photo.id} (the trash was emptied)")
    return now


def _inside(settings: Settings, root: str, folder: Path) -> Path:
    """`folder` resolved, after checking it is still inside `root`'s tree: a folder replaced by a link
    to another place since the photo was trashed must not take the photo out of the library."""
    base = settings.root_path(root).resolve()
    target = folder.resolve()
    if target != base and base not in target.parents:
        shown = folder.relative_to(settings.root_path(root)).as_posix() if folder.is_relative_to(
            settings.root_path(root)) else folder.name
        raise PathOutsideLibrary(f"folder {shown!r} now leads outside the {root} (a link to another place); "
                                 "the photo stays in the trash: remove the link or move the folder back, "
                                 "then restore it", folder=shown)
    return target


def trash_photo(photo: Photo, settings: Settings) -> Photo:
    """Move a photo's file (and sidecar) into the trash; it leaves every listing and search."""
    with _move_lock:
        photo = _current(photo)
        if photo.trashed_at is not None:
            return photo
        src = photo_file(photo, settings)
        if not src.is_file():
            raise FileMissing(f"photo {photo.id}: file {src} is missing; nothing was changed")
        to_dir = settings.trash / photo.sha256
        _write_intent(photo, "trash", (photo.root, photo.path), to_dir)
        final = _move_with_sidecar(src, to_dir, src.name, photo.sha256)
        with database.atomic():
            photo.trashed_from = {"root": photo.root, "path": photo.path, "status": photo.status}
            photo.trashed_at = utcnow()
            photo.root, photo.path = "trash", _relative(final, settings.trash)
            photo.save()
            _clear_intent(photo.id)
    events.publish(events.LIBRARY_CHANGED, photo_id=photo.id, change="trashed")
    for part in live.motion_parts(photo):  # a Live Photo goes to the trash whole
        trash_photo(part, settings)
    return photo


def restore_photo(photo: Photo, settings: Settings) -> Photo:
    """Put a trashed photo back where it was (a free name beside it if that name is taken now)."""
    with _move_lock:
        photo = _current(photo)
        if photo.trashed_at is None:
            raise InvalidInput(f"photo {photo.id} is not in the trash")
        src = photo_file(photo, settings)
        if not src.is_file():
            raise FileMissing(f"photo {photo.id}: file {src} is missing from the trash; nothing was changed")
        was = photo.trashed_from or {"root": "inbox", "path": src.name, "status": "inbox"}
        back_dir = _inside(settings, was["root"], (settings.root_path(was["root"]) / was["path"]).parent)
        _write_intent(photo, "restore", (photo.root, photo.path), back_dir)
        final = _move_with_sidecar(src, back_dir, Path(was["path"]).name, photo.sha256)
        with database.atomic():
            photo.root = was["root"]
            photo.path = _relative(final, settings.root_path(was["root"]))
            photo.status = was.get("status") or ("filed" if was["root"] == "library" else "inbox")
            photo.trashed_at, photo.trashed_from = None, None
            photo.save()
            _clear_intent(photo.id)
        _remove_empty(src.parent, settings.trash)
    events.publish(events.LIBRARY_CHANGED, photo_id=photo.id, change="restored",
                   folder=photo.folder)
    for part in live.motion_parts(photo):
        if part.trashed_at is not None:
            restore_photo(part, settings)
    return photo


@ingest.known_again.connect
def _back_from_trash(photo: Photo, settings: Settings) -> None:
    """The same bytes were sent or imported again: the user wants that photo, so it leaves the trash
    (otherwise emptying the trash would delete a photo they just "uploaded")."""
    if photo.trashed_at is not None:
        restore_photo(photo, settings)


def trashed(limit: int, before_id: int | None = None) -> tuple[list[Photo], int | None]:
    """Photos in the trash, most recently trashed first; returns (page, next before_id or None)."""
    q = Photo.select().where(Photo.trashed_at.is_null(False), Photo.live_of.is_null()).order_by(Photo.trashed_at.desc(), Photo.id.desc())
    if before_id is not None:
        q = q.where(Photo.id < before_id)  # paging by id: the trash is small and rarely changes mid-scroll
        q = q.order_by(Photo.id.desc())
    rows = list(q.limit(limit + 1))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def empty_trash(settings: Settings, photo_ids: list[int] | None = None,
                older_than: dt.timedelta | None = None) -> int:
    """Delete trashed photos for good (all, the given ids, or those trashed before `older_than` ago):
    rows first, then files and thumbnails. Returns how many were deleted."""
    q = Photo.select().where(Photo.trashed_at.is_null(False))
    if photo_ids is not None:
        ids = list(photo_ids)
        ids += [i for (i,) in Photo.select(Photo.id).where(Photo.live_of.in_(ids)).tuples()]  # motion parts
        q = q.where(Photo.id.in_(ids))
    if older_than is not None:
        q = q.where(Photo.trashed_at < utcnow() - older_than)
    gone = 0
    with _move_lock:
        for photo in list(q):
            folder = settings.trash / photo.sha256
            with database.atomic():
                uploads.photo_deleted(photo.id)  # else they read as pending and block the phone
                photo.delete_instance(recursive=True)
            shutil.rmtree(folder, ignore_errors=True)
            for size in settings.thumb_sizes:
                ingest.thumb_path(settings, photo, size).unlink(missing_ok=True)
            preview.remove_preview(settings, photo.sha256)
            gone += 1
    fsync_dir(settings.trash)
    if gone:
        events.publish(events.LIBRARY_CHANGED, change="trash_emptied", count=gone)
    return gone


def _remove_empty(folder: Path, stop: Path) -> None:
    try:
        if folder != stop and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    except OSError:
        pass


def reconcile(settings: Settings) -> int:
    """Finish or roll back trash moves a crash interrupted, settle the uploads of photos emptied from
    the trash, and drop trash folders no photo claims. Returns how many intents were settled.

    Runs at every start: a move it cannot settle (its file outside the library, say) is logged and its
    intent kept for `jaicat check` to report (`unsettled`); it never stops the server from starting."""
    settled = 0
    with _move_lock:
        for row in list(Meta.select().where(Meta.key.startswith(_INTENT))):
            try:
                settled += _settle(row, settings)
            except Exception as e:  # noqa: BLE001 - one move must not keep the server from starting
                log.error("trash: could not settle %s (%s: %s); the intent is kept, `jaicat check` reports it",
                          row.key, e.__class__.__name__, e)
        uploads.settle_orphaned(settings)
        if settings.trash.is_dir():
            claimed = {sha for (sha,) in Photo.select(Photo.sha256).where(Photo.root == "trash").tuples()}
            for d in settings.trash.iterdir():
                if d.is_dir() and len(d.name) == 64 and d.name not in claimed:
                    shutil.rmtree(d, ignore_errors=True)
    return settled


def unsettled() -> list[str]:
    """The trash moves still waiting to be settled (what reconcile could not settle), one line each."""
    out = []
    for row in Meta.select().where(Meta.key.startswith(_INTENT)):
        try:
            intent = json.loads(row.value)
            out.append(f"photo {row.key[len(_INTENT):]}: {intent.get('op')} of {intent.get('path')}")
        except (ValueError, AttributeError):
            out.append(f"photo {row.key[len(_INTENT):]}: unreadable intent")
    return out


def _settle(row: Meta, settings: Settings) -> int:
    """Settle one intent (see reconcile); 1 if settled, 0 if it was kept. Raises what it cannot handle."""
    photo = Photo.get_or_none(Photo.id == int(row.key[len(_INTENT):]))
    intent = json.loads(row.value)
    if photo is None:
        row.delete_instance()
        return 0
    src = settings.root_path(intent["root"]) / intent["path"]
    name = Path(intent["path"]).name if intent["op"] == "trash" else \
        Path((photo.trashed_from or {}).get("path") or intent["path"]).name
    to_dir = Path(intent["to_dir"])
    if intent["op"] == "restore":
        to_dir = _inside(settings, (photo.trashed_from or {}).get("root") or "inbox", to_dir)
    final = _moved_copy(to_dir, name, photo.sha256)
    if src.is_file():  # the move never finished: the photo is still where the row says
        if final is not None and final.stat().st_ino == src.stat().st_ino:
            final.unlink()  # the hard link made just before the crash
        row.delete_instance()
    elif final is not None:
        with database.atomic():
            if intent["op"] == "trash":
                photo.trashed_from = {"root": photo.root, "path": photo.path, "status": photo.status}
                photo.trashed_at = utcnow()
                photo.root, photo.path = "trash", _relative(final, settings.trash)
            else:
                was = photo.trashed_from or {"root": "inbox", "status": "inbox"}
                photo.root = was["root"]
                photo.path = _relative(final, settings.root_path(was["root"]))
                photo.status = was.get("status") or "inbox"
                photo.trashed_at, photo.trashed_from = None, None
            photo.save()
            row.delete_instance()
    else:
        log.error("photo %s: file not found at %s nor in %s; its trash intent is kept",
                  photo.id, src, intent["to_dir"])
        return 0
    return 1
