"""The filing journal: a filing is crash-safe in three steps, so a kill at any instant leaves either the
old state or the new one, never a row pointing at a moved file.

1. intent: a Meta row `file-intent:<photo id>` holds everything the Decision will record (written and
   committed before any file moves);
2. act: the file is hard-linked (or copied and verified) into the folder, the source unlinked;
3. commit: the Decision, the photo row and the intent's removal in one transaction.

`settle(settings)` (start-up and `jaicat check --repair`) finishes or rolls back each intent left by a
crash, by looking where the file is: still at its source -> roll back (remove the link or copy made in
the folder); only in the folder -> roll forward (commit the Decision as filing would have).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..config import Settings
from ..db import Decision, Folder, Meta, Photo, database
from ..errors import Conflict
from .hashing import sha256_file

log = logging.getLogger(__name__)
INTENT = "file-intent:"


def write_intent(photo: Photo, plan: dict) -> None:
    """Step 1: record what is about to happen (committed before the file moves)."""
    Meta.insert(key=f"{INTENT}{photo.id}", value=json.dumps(plan)).on_conflict_replace().execute()


def drop_intent(photo_id: int) -> None:
    Meta.delete().where(Meta.key == f"{INTENT}{photo_id}").execute()


def commit(photo: Photo, plan: dict, to_path: str) -> Decision:
    """Step 3 (inside the caller's transaction): the Decision, the photo row, the intent gone."""
    if plan["folder"]:
        Folder.get_or_create(path=plan["folder"])
    filed_by = plan.get("filed_by") or "user"  # an intent written before v11 was the user's
    decision = Decision.create(
        photo=photo, action=plan["action"], suggested=plan["suggested"], chosen_folder=plan["folder"],
        from_root=plan["from_root"], from_path=plan["from_path"], to_root="library", to_path=to_path,
        tags=plan["tags"], people=plan["people"], device=plan["device"], filed_by=filed_by,
    )
    # compare-and-set, and only what filing owns (the worker may have stored analysis results meanwhile):
    # a photo that left the place the plan read (trashed, filed by another) is not overwritten
    moved = (Photo.update(root="library", path=to_path, status="filed", filed_by=filed_by)
             .where((Photo.id == photo.id) & (Photo.root == plan["from_root"]) & (Photo.path == plan["from_path"]))
             .execute())
    if not moved:
        raise Conflict(f"photo {photo.id} moved while it was being filed; nothing was changed")
    photo.root, photo.path, photo.status, photo.filed_by = "library", to_path, "filed", filed_by
    drop_intent(photo.id)
    return decision


def _copies_in(folder: Path, name: str, photo: Photo, claimed: set[str], library: Path) -> list[Path]:
    """Files in `folder` named like `name` (or `name (n)`), of the photo's size and sha256, that no
    catalogue row claims: what step 2 made before the crash."""
    if not folder.is_dir():
        return []
    stem, suffix = Path(name).stem, Path(name).suffix
    out = []
    for f in folder.iterdir():
        if not (f.name == name or (f.name.startswith(stem + " (") and f.name.endswith(")" + suffix))):
            continue
        rel = f.relative_to(library).as_posix()
        if rel in claimed or not f.is_file() or f.stat().st_size != photo.size:
            continue
        if sha256_file(f) == photo.sha256:
            out.append(f)
    return out


def pending() -> list[tuple[int, dict]]:
    return [(int(m.key[len(INTENT):]), json.loads(m.value))
            for m in Meta.select().where(Meta.key.startswith(INTENT))]


def settle(settings: Settings) -> dict:
    """Finish or roll back filings a crash interrupted. Returns {"rolled_back", "rolled_forward",
    "unresolved"} counts. Call only while no filing runs (start-up, or a command holding the data
    directory alone)."""
    out = {"rolled_back": 0, "rolled_forward": 0, "unresolved": 0}
    library = settings.library
    for photo_id, plan in pending():
        photo = Photo.get_or_none(Photo.id == photo_id)
        if photo is None:
            drop_intent(photo_id)
            continue
        claimed = {p for (p,) in Photo.select(Photo.path).where(Photo.root == "library").tuples()}
        src = settings.root_path(plan["from_root"]) / plan["from_path"]
        folder = library / plan["folder"] if plan["folder"] else library
        made = _copies_in(folder, plan["name"], photo, claimed, library)
        if (photo.root, photo.path) != (plan["from_root"], plan["from_path"]):
            drop_intent(photo_id)  # the row moved on since (it cannot have: the commit drops the intent)
            continue
        if src.is_file():
            for f in made:  # the link or copy made before the crash
                f.unlink()
            drop_intent(photo_id)
            out["rolled_back"] += 1
        elif made:
            with database.atomic():
                commit(photo, plan, made[0].relative_to(library).as_posix())
            out["rolled_forward"] += 1
        else:
            log.error("photo %s: file neither at %s nor in %s; its filing intent is kept", photo_id, src, folder)
            out["unresolved"] += 1
    return out
