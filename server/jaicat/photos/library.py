"""Filing photos into the user's library tree: safe moves, never overwriting, undo, folders.

A move on one filesystem is a hard link + unlink (atomic, and unlike rename() it can never replace an
existing file). Across filesystems the bytes are copied to a temp file beside the destination,
fsynced, verified by sha256 against the catalogue, linked into place, and only then is the source
removed. Every filing action is a Decision row, which is both the undo history and the learning log.

After each committed decision `decision_made(decision)` is sent (the suggester learns, sidecars follow
their photo); an undo sends the original decision with `undone=True`. A renamed folder sends
`folder_renamed(old, new)`.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import unicodedata
import uuid
from pathlib import Path, PurePosixPath

from peewee import SQL, NodeList, Value, fn

from .. import events
from ..config import Settings
from ..db import Decision, Folder, FolderRename, Photo, database
from ..errors import (
    Conflict,
    FileMissing,
    InvalidInput,
    InvalidFolderName,
    JaicatError,
    NothingToUndo,
    NotFound,
    PathOutsideLibrary,
    VerifyFailed,
)
from . import journal, live
from .hashing import sha256_file
from .paths import fit_name, normalise_folder
from ..db import Face, Person, PhotoTag

log = logging.getLogger(__name__)

decision_made = events.Signal("decision_made")  # (decision), after it is committed
folder_renamed = events.Signal("folder_renamed")  # (old, new) library-relative folder names
_move_lock = threading.RLock()  # one filing at a time: collision suffixes and undo stay consistent


# --- paths ---------------------------------------------------------------------------------------
def _on_disk(root: Path, rel: str) -> Path:
    """`root/rel`, each folder of it spelled as it already is on disk when only its Unicode form
    differs (a folder made on a Mac is NFD): the photo goes into the user's folder, not a twin."""
    here = root
    for part in PurePosixPath(rel).parts:
        nxt = here / part
        if not (nxt.exists() or nxt.is_symlink()) and here.is_dir():
            try:
                nxt = next((here / e.name for e in os.scandir(here)
                            if e.is_dir() and unicodedata.normalize("NFC", e.name) == part), nxt)
            except OSError:
                pass
        here = nxt
    return here


def resolve_in_library(settings: Settings, rel: str) -> Path:
    """Absolute path of a library folder, after checking it cannot escape the root (symlinks too).
    An existing folder whose name differs only in its Unicode form (NFC/NFD) is that folder."""
    rel = normalise_folder(rel)
    root = settings.library.resolve()
    target = _on_disk(root, rel).resolve() if rel else root
    if target != root and root not in target.parents:
        raise PathOutsideLibrary(f"folder {rel!r} resolves outside the library")
    return target


def photo_file(photo: Photo, settings: Settings) -> Path:
    return settings.root_path(photo.root) / photo.path


def _relative(path: Path, base: Path) -> str:
    return path.resolve().relative_to(base.resolve()).as_posix()


def _free_name(directory: Path, filename: str) -> Path:
    """`directory/filename`, or `name (1).ext`, `name (2).ext`… if taken; the name is shortened to
    fit NAME_MAX_BYTES with its number."""
    stem, suffix = Path(filename).stem, Path(filename).suffix
    candidate = directory / fit_name(stem, suffix)
    n = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = directory / fit_name(stem, f" ({n}){suffix}")
        n += 1
    return candidate


def fsync_dir(d: Path) -> None:
    """fsync a directory so a rename/link in it survives a power cut (best effort)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link_no_replace(src: Path, dst: Path) -> Path:
    """Hard-link src at dst, choosing a free name if dst was taken meanwhile; returns the final path."""
    while True:
        try:
            os.link(src, dst)
            return dst
        except FileExistsError:
            dst = _free_name(dst.parent, dst.name)


def transfer(src: Path, dst_dir: Path, filename: str, expect_sha: str, keep_source: bool) -> Path:
    """Move (or copy, if keep_source) a file into dst_dir under a free name; never overwrites.

    Returns the final path. Raises VerifyFailed (source untouched) if a copy does not hash back.
    """
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = _free_name(dst_dir, filename)
    if not keep_source:
        try:
            final = _link_no_replace(src, dst)
            os.unlink(src)
            fsync_dir(dst_dir)
            fsync_dir(src.parent)
            return final
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            # other filesystem (or one without hard links): copy + verify below
    tmp = dst_dir / f".jaicat-{uuid.uuid4().hex}.part"
    try:
        with open(src, "rb") as fi, open(tmp, "xb") as fo:
            shutil.copyfileobj(fi, fo, 1024 * 1024)
            fo.flush()
            os.fsync(fo.fileno())
        shutil.copystat(src, tmp)
        got = sha256_file(tmp)
        if got != expect_sha:
            raise VerifyFailed(f"copy of {src.name} did not verify (sha256 {got[:12]}… != {expect_sha[:12]}…)")
        try:
            final = _link_no_replace(tmp, dst)
        except OSError:
            final = _free_name(dst_dir, dst.name)
            os.rename(tmp, final)  # no hard links here; final was free a moment ago
        fsync_dir(dst_dir)
    finally:
        if tmp.exists():
            tmp.unlink()
    if not keep_source:
        os.unlink(src)
        fsync_dir(src.parent)
    return final


# --- folders -------------------------------------------------------------------------------------
def create_folder(settings: Settings, rel: str) -> Folder:
    rel = normalise_folder(rel)
    if not rel:
        raise InvalidFolderName("give a folder name")
    path = resolve_in_library(settings, rel)
    path.mkdir(parents=True, exist_ok=True)
    rel = _relative(path, settings.library)  # as it is spelled on disk
    folder, created = Folder.get_or_create(path=rel)
    if created:
        events.publish(events.LIBRARY_CHANGED, folder=rel, change="folder_created")
    return folder


def rename_folder(settings: Settings, old: str, new: str) -> int:
    """Rename (or move) a library folder with everything in it; returns how many photos moved.

    Refuses to merge into an existing folder or to move a folder into itself: nothing is overwritten.
    Photos, folder rows and sidecars follow (sidecars sit beside their photos); hooks are told.
    """
    old, new = normalise_folder(old), normalise_folder(new)
    if not old or not new:
        raise InvalidFolderName("give the folder to rename and its new name")
    if new == old or new.startswith(old + "/"):
        raise InvalidFolderName(f"cannot move {old!r} into itself")
    src, dst = resolve_in_library(settings, old), resolve_in_library(settings, new)
    if not src.is_dir():
        raise NotFound(f"no folder {old!r} in the library")
    with _move_lock:
        if dst.exists() or dst.is_symlink():
            raise Conflict(f"{new!r} already exists; nothing was changed")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        fsync_dir(dst.parent)
        try:
            with database.atomic():
                moved = _catalogue_follows(old, new)
        except Exception:
            os.rename(dst, src)  # the catalogue still describes the old place: put the folder back
            raise
    events.publish(events.LIBRARY_CHANGED, change="folder_renamed", folder=new, old=old)
    folder_renamed.send(old, new)
    return moved


def _under(column, old: str):
    """`column` names `old` or something inside it."""
    return (column == old) | (fn.substr(column, 1, len(old) + 1) == old + "/")


def _catalogue_follows(old: str, new: str) -> int:
    """Inside the caller's transaction: photos, folder rows and the decision log follow the rename of
    library folder `old` to `new`; returns how many photos moved."""
    moved = (Photo.update(path=Value(new).concat(fn.substr(Photo.path, len(old) + 1)))
             .where((Photo.root == "library") & (fn.substr(Photo.path, 1, len(old) + 1) == old + "/"))
             .execute())
    FolderRename.create(old=old, new=new, after_decision=Decision.select(fn.MAX(Decision.id)).scalar() or 0)
    Folder.update(path=Value(new).concat(fn.substr(Folder.path, len(old) + 1))).where(_under(Folder.path, old)).execute()
    # the log follows too, so undo still finds files and history keeps one name
    for d in Decision.select().where(
            ((Decision.to_root == "library") & _under(Decision.to_path, old))
            | ((Decision.from_root == "library") & _under(Decision.from_path, old))
            | _under(Decision.chosen_folder, old)):
        for attr, root in (("to_path", d.to_root), ("from_path", d.from_root)):
            v = getattr(d, attr)
            if root == "library" and v and v.startswith(old + "/"):
                setattr(d, attr, new + v[len(old):])
        if d.chosen_folder and (d.chosen_folder == old or d.chosen_folder.startswith(old + "/")):
            d.chosen_folder = new + d.chosen_folder[len(old):]
        d.save()
    return moved


def list_folders(settings: Settings) -> list[str]:
    """Every folder known: on disk under the library (not hidden) and in the catalogue."""
    out = {f.path for f in Folder.select(Folder.path)}
    root = settings.library
    if root.is_dir():
        todo = [(root, "")]
        while todo:
            folder, rel = todo.pop()
            # a directory with a link count of 2 has no subdirectories (POSIX filesystems count "." and
            # each child's ".."): a folder of a thousand photos is not listed to find none
            if rel and folder.stat().st_nlink == 2:
                continue
            with os.scandir(folder) as entries:
                for e in entries:
                    if not e.name.startswith(".") and e.is_dir(follow_symlinks=True):
                        sub = f"{rel}/{e.name}" if rel else e.name
                        out.add(sub)
                        todo.append((Path(e.path), sub))
    return sorted(out)


def folder_tree(settings: Settings) -> dict:
    """Nested {name, path, count, children} of the library, with catalogued photo counts per folder."""
    # the counts triggers keep (migrations.py PHOTO_FOLDER_SQL): a row a folder, not a row a photo
    counts: dict[str, int] = dict(database.execute_sql("SELECT folder, n FROM photofolder WHERE n > 0").fetchall())
    tree = {"name": "", "path": "", "count": counts.get("", 0), "children": []}
    index = {"": tree}
    for rel in list_folders(settings):
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in index:
                node = {"name": parts[i - 1], "path": sub, "count": counts.get(sub, 0), "children": []}
                index["/".join(parts[: i - 1])]["children"].append(node)
                index[sub] = node
    for node in index.values():
        node["children"].sort(key=lambda n: n["name"].lower())
        node["total"] = node["count"]
    for rel in sorted(index, key=lambda r: -r.count("/") if r else 1):
        if rel:
            parent = "/".join(rel.split("/")[:-1])
            index[parent]["total"] += index[rel]["total"]
    return tree


def format_tree(tree: dict, indent: str = "") -> list[str]:
    """Plain-text lines of a folder tree (what the desktop scripts' dirlist printed)."""
    lines = []
    kids = tree["children"]
    for i, node in enumerate(kids):
        last = i == len(kids) - 1
        lines.append(f"{indent}{'└── ' if last else '├── '}{node['name']}/  ({node['total']})")
        lines.extend(format_tree(node, indent + ("    " if last else "│   ")))
    return lines


# --- filing --------------------------------------------------------------------------------------
def _facts_for_log(photo: Photo) -> tuple[list, list]:

    tags = [t.tag.name for t in PhotoTag.visible().where(PhotoTag.photo == photo)]
    people = sorted({
        f.person.name for f in Face.select(Face, Person).join(Person)
        .where(Face.photo == photo, Person.hidden == False)  # noqa: E712 - hidden strangers stay unnamed
    })
    return tags, people


def file_photo(
    photo: Photo, folder: str, settings: Settings, action: str = "file", suggested=None,
    tags: list | None = None, people: list | None = None, device: str | None = None,
    filed_by: str = "user", waiting: bool = False,
) -> Decision:
    """Move (or copy, in copy mode) a photo into a library folder and log the Decision. `filed_by`:
    "user", or "auto" for the auto-filer, which also passes `waiting`: only a photo still waiting for
    review is filed (Conflict otherwise), read again under the filing lock."""
    rel = normalise_folder(folder)
    target_dir = resolve_in_library(settings, rel)
    with _move_lock:
        photo = Photo.get_by_id(photo.id)  # fresh row: another thread may have filed it
        if photo.trashed_at is not None:
            raise InvalidInput(f"photo {photo.id} is in the trash; restore it first")
        if waiting and photo.status not in REVIEW_STATUSES:
            raise Conflict(f"photo {photo.id} is {photo.status}, no longer waiting for review")
        src = photo_file(photo, settings)
        if not src.is_file():
            raise FileMissing(f"photo {photo.id}: file {photo.root}/{photo.path} is missing; nothing was changed")
        log_tags, log_people = _facts_for_log(photo)
        name = Path(photo.original_filename).name or src.name
        plan = {"action": action, "suggested": suggested, "folder": rel, "from_root": photo.root,
                "from_path": photo.path, "name": name, "tags": tags if tags is not None else log_tags,
                "people": people if people is not None else log_people, "device": device, "filed_by": filed_by}
        if photo.root == "library" and photo.folder == rel:
            final = src  # already there: log the decision (it is still a learning signal)
        else:
            keep = settings.copy_mode and photo.root == "inbox"
            journal.write_intent(photo, plan)  # a crash from here on is settled at start-up
            try:
                final = transfer(src, target_dir, name, photo.sha256, keep_source=keep)
            except Exception:
                journal.drop_intent(photo.id)  # transfer leaves the source in place when it fails
                raise
        try:
            with database.atomic():
                decision = journal.commit(photo, plan, _relative(final, settings.library))
        except Exception:
            if final != src and not src.exists():  # put the file back where the catalogue says it is
                transfer(final, src.parent, src.name, photo.sha256, keep_source=False)
            elif final != src:
                final.unlink(missing_ok=True)  # copy mode: the copy the catalogue never recorded
            journal.drop_intent(photo.id)
            raise
    events.publish(events.LIBRARY_CHANGED, photo_id=photo.id, folder=rel, change="filed",
                   decision_id=decision.id)
    decision_made.send(decision)
    for part in live.motion_parts(photo):  # a Live Photo's motion part goes where its still went
        try:
            file_photo(part, rel, settings, action=action, device=device, filed_by=filed_by)
        except JaicatError as e:  # the still is filed; the part stays where it was, and says why in the log
            log.warning("motion part %s of photo %s not filed: %s", part.id, photo.id, e.message)
    return decision


def move_photos(photos: list[Photo], folder: str, settings: Settings, create: bool = False,
                device: str | None = None) -> list[Decision]:
    """Move photos (filed or still in the inbox) into a library folder: one filing decision each, so
    undo and the suggester treat a move like any other filing; moving an auto-filed photo elsewhere
    corrects the auto-filer (a "fix"). The folder must exist unless `create`."""
    rel = normalise_folder(folder)
    if not create and rel and not resolve_in_library(settings, rel).is_dir():
        raise NotFound(f"no folder {rel!r} in the library; create it first")
    return [file_photo(p, rel, settings, action="fix" if p.filed_by == "auto" and p.folder != rel else "file",
                       device=device) for p in photos]


def skip_photo(photo: Photo, settings: Settings, suggested=None, device: str | None = None) -> Decision:
    """Leave the photo where it is, marked skipped; logged so the suggester learns from it too."""
    with _move_lock, database.atomic():
        photo = Photo.get_by_id(photo.id)
        if photo.status not in WAITING_STATUSES:
            raise Conflict(f"photo {photo.id} is {photo.status}; only a photo waiting for review can be skipped")
        tags, people = _facts_for_log(photo)
        decision = Decision.create(
            photo=photo, action="skip", suggested=suggested if suggested is not None else photo.suggestions,
            chosen_folder=None, from_root=photo.root, from_path=photo.path, to_root=photo.root,
            to_path=photo.path, tags=tags, people=people, device=device,
        )
        photo.status = "skipped"
        photo.save(only=[Photo.status])
    events.publish(events.LIBRARY_CHANGED, photo_id=photo.id, change="skipped", decision_id=decision.id)
    decision_made.send(decision)
    for part in live.motion_parts(photo):
        if part.status != "skipped":
            skip_photo(part, settings, device=device)
    return decision


def _filed_by_now(photo: Photo) -> str | None:
    """Who filed the photo where it is, by its latest filing not undone (None: no decision put it there)."""
    latest = (Decision.select(Decision.filed_by)
              .where((Decision.photo == photo.id) & (Decision.undone == False)  # noqa: E712
                     & Decision.action.in_(("accept", "fix", "file")))
              .order_by(Decision.id.desc()).first())
    return None if latest is None else (latest.filed_by or "user")


def _undoable(decision: Decision | int | None) -> Decision:
    """The decision to undo, read afresh (the latest one not undone by default); NothingToUndo or
    NotFound when there is none."""
    if decision is None:
        decision = (Decision.select().where((Decision.undone == False)  # noqa: E712
                                            & Decision.action.not_in(("undo", "confirm")))
                    .order_by(Decision.id.desc()).first())
        if decision is None:
            raise NothingToUndo("there is nothing to undo")
    elif isinstance(decision, int):
        decision = Decision.get_or_none(Decision.id == decision)
        if decision is None:
            raise NotFound("no such decision")
    else:
        decision = Decision.get_by_id(decision.id)
    if decision.undone or decision.action == "undo":
        raise NothingToUndo(f"decision {decision.id} is already undone")
    if decision.action == "confirm":
        raise NothingToUndo(f"decision {decision.id} kept an automatic filing; undo that filing instead")
    return decision


def _put_back(decision: Decision, photo: Photo, settings: Settings) -> tuple[str, str]:
    """Move the photo's file back to where the decision took it from; returns its (root, path) then."""
    if decision.action == "skip" or (decision.from_root, decision.from_path) == (decision.to_root, decision.to_path):
        return photo.root, photo.path
    here = photo_file(photo, settings)
    back_dir = (settings.root_path(decision.from_root) / decision.from_path).parent
    original = back_dir / Path(decision.from_path).name
    if settings.copy_mode and decision.from_root == "inbox" and original.is_file() \
            and sha256_file(original) == photo.sha256:
        os.unlink(here)  # the library copy of a photo still held in the inbox
        final = original
    else:
        if not here.is_file():
            raise FileMissing(f"photo {photo.id}: {here} is missing; nothing was changed")
        final = transfer(here, back_dir, Path(decision.from_path).name, photo.sha256, keep_source=False)
    return decision.from_root, _relative(final, settings.root_path(decision.from_root))


def undo(settings: Settings, decision: Decision | int | None = None) -> Decision:
    """Reverse a decision (the latest one not yet undone by default): the file goes back."""
    with _move_lock:
        decision = _undoable(decision)
        photo = Photo.get_by_id(decision.photo_id)
        if photo.root != decision.to_root or photo.path != decision.to_path:
            raise NothingToUndo(f"photo {photo.id} has moved since decision {decision.id}; undo later decisions first")
        root, path = _put_back(decision, photo, settings)
        with database.atomic():
            decision.undone = True
            decision.save()
            # the automatic filing's confirmation goes with it
            Decision.update(undone=True).where((Decision.photo == photo.id) & (Decision.action == "confirm")
                                               & (Decision.id > decision.id)).execute()
            photo.root, photo.path = root, path
            photo.status = "filed" if root == "library" else ("suggested" if photo.suggestions else "inbox")
            photo.filed_by = _filed_by_now(photo) if root == "library" else None
            photo.save(only=[Photo.root, Photo.path, Photo.status, Photo.filed_by])
    events.publish(events.LIBRARY_CHANGED, photo_id=photo.id, change="undone", decision_id=decision.id)
    decision_made.send(decision)  # undone=True: the suggester unlearns it
    for part in live.motion_parts(photo):  # the motion part's own decision made with this one
        latest = (Decision.select().where((Decision.photo == part) & (Decision.undone == False)  # noqa: E712
                                          & (Decision.action != "undo")).order_by(Decision.id.desc()).first())
        if latest is not None and latest.created_at >= decision.created_at:
            undo(settings, latest)
    return decision


# --- reading the queue and the log ---------------------------------------------------------------
REVIEW_STATUSES = ("suggested", "inbox")
WAITING_STATUSES = ("suggested", "inbox", "skipped")  # not filed yet: Library > Inbox lists them all


def _unindexed(column):
    """`+column`: a term SQLite will not search this column's index for."""
    return NodeList((SQL("+"), column), glue="")


def review_queue(limit: int, cursor: str | None = None,
                 status: str | None = None) -> tuple[list[Photo], str | None, int]:
    """Photos waiting for a decision: suggested ones first, oldest first within each; with
    `status="skipped"` the skipped ones (Review's Skipped section), with `status="waiting"` every
    photo not filed yet.

    Returns (photos, next cursor or None, total of that list). The cursor is "<rank>:<id>" (rank 0:
    suggested, 1: the others). Each status is read through its index in id order, so a page and the
    total cost the waiting photos read, not the whole catalogue (the trash and Live Photo terms are
    kept off their own indexes, which match nearly every photo).
    """
    statuses = {None: REVIEW_STATUSES, "skipped": ("skipped",), "waiting": WAITING_STATUSES}.get(status)
    if statuses is None:
        raise InvalidInput("status must be skipped or waiting")
    start, last = None, None
    if cursor is not None:
        try:
            start, last = (int(x) for x in cursor.split(":"))
        except ValueError:
            raise InvalidInput("invalid cursor") from None
    # a Live Photo is its still: the motion part waits, and is filed, with it
    waiting = _unindexed(Photo.trashed_at).is_null() & _unindexed(Photo.live_of).is_null()
    ranks = ((0, [s for s in statuses if s == "suggested"]), (1, [s for s in statuses if s != "suggested"]))
    rows: list[Photo] = []
    for rank, group in ranks:
        if len(rows) > limit or (start is not None and rank < start):
            continue
        found: list[Photo] = []
        for s in group:
            q = Photo.select().where((Photo.status == s) & waiting)
            if rank == start:
                q = q.where(Photo.id > last)
            found.extend(q.order_by(Photo.id).limit(limit + 1 - len(rows)))
        for p in sorted(found, key=lambda p: p.id)[: limit + 1 - len(rows)]:
            p.rank = rank
            rows.append(p)
    more = len(rows) > limit
    rows = rows[:limit]
    count = sum(Photo.select().where((Photo.status == s) & waiting).count() for s in statuses)
    return rows, (f"{rows[-1].rank}:{rows[-1].id}" if more and rows else None), count


def decision_log(limit: int, before_id: int | None = None) -> tuple[list[Decision], int | None]:
    """Decisions newest first; returns (page, id to pass as before_id for the next page, or None)."""
    q = Decision.select().order_by(Decision.id.desc())
    if before_id is not None:
        q = q.where(Decision.id < before_id)
    rows = list(q.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
