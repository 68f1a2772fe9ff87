"""Command kinds of the photos: import, file, rename a folder, undo, tags, the trash; sidecars and
region annotations."""

from __future__ import annotations

import datetime as dt
import os

from .. import xmp
from ..db import Photo
from ..errors import InvalidInput, Stopped
from ..photos import library, tags, trash
from ..photos.ingest import ingest_paths
from ..search.regions import import_annotations
from .base import BOOL, INT, PATH, REF, STR, Kind, Progress, flag, names, number, only, path, schema, text

MAX_PATHS = 10_000  # paths one import names
MAX_IDS = 100_000  # photo ids one `xmp write` names
LISTED = 1000  # entries of each list an import's answer names (its counts hold them all)
REFS = {"type": "array", "items": REF, "minItems": 1}


# --- import ---------------------------------------------------------------------------------------
def check_paths(p: dict, least: int = 1) -> list[str]:
    paths = p.get("paths", [])
    if not isinstance(paths, list) or not least <= len(paths) <= MAX_PATHS:
        raise InvalidInput(f"'paths' must be a list of {least} to {MAX_PATHS} absolute paths")
    for one in paths:
        if not isinstance(one, str) or not one or "\0" in one or not os.path.isabs(one):
            raise InvalidInput(f"every path must be absolute (the server does not run in your folder): {one!r}")
    return list(paths)


def _check_import(p: dict) -> dict:
    only(p, "paths", "device")
    paths = check_paths(p)
    device = p.get("device")
    if device is not None and (not isinstance(device, str) or not device.strip() or len(device) > 200):
        raise InvalidInput("'device' must be a name of 1 to 200 characters")
    return {"paths": paths, "device": device}


def import_photos(rt, p: dict, progress: Progress) -> dict:
    """Import files and folder trees into the inbox (photos.ingest): each new photo is announced and
    wakes the analysis worker of the process that imports it."""
    s = ingest_paths(p["paths"], rt.settings, progress=lambda d, t, *_: progress(d, t, "importing"),
                     source_device=p["device"], should_stop=rt.commands.stopping)
    if s.stopped:
        raise Stopped(f"stopped: the server stopped after {s.line()}; run the command again for the "
                      "rest (what was imported is kept, the rest are found as new)")
    # Re-importing a large folder makes a duplicate of every file: the answer lists at most LISTED of each
    # kind (a 200k-file folder would otherwise answer tens of MB), and `counts` holds every one.
    return {"imported": s.imported, "duplicates": [list(d) for d in s.duplicates[:LISTED]],
            "rejected": [{"path": one, "reason": reason} for one, reason in s.rejected[:LISTED]],
            "skipped": s.skipped[:LISTED], "line": s.line(),
            "counts": {"imported": len(s.imported), "duplicates": len(s.duplicates), "rejected": len(s.rejected),
                       "skipped": len(s.skipped)}}


# --- filing ---------------------------------------------------------------------------------------
def _check_file(p: dict) -> dict:
    only(p, "photo", "folder")
    return {"photo": text(p, "photo"), "folder": text(p, "folder")}


def file_one(rt, p: dict, progress: Progress) -> dict:
    """File one photo into a library folder (created if new), as the command line's decision."""
    photo = Photo.lookup(p["photo"])
    d = library.file_photo(photo, p["folder"], rt.settings, action="file", device="cli")
    return {"photo_id": photo.id, "decision_id": d.id, "path": d.to_path}


def _check_rename(p: dict) -> dict:
    only(p, "from", "to")
    return {"from": text(p, "from"), "to": text(p, "to")}


def rename_folder(rt, p: dict, progress: Progress) -> dict:
    """Rename or move a library folder with its photos; the suggester follows the new name."""
    return {"from": p["from"], "to": p["to"], "moved": library.rename_folder(rt.settings, p["from"], p["to"])}


def _check_undo(p: dict) -> dict:
    only(p, "decision")
    return {"decision": number(p, "decision", required=False)}


def undo(rt, p: dict, progress: Progress) -> dict:
    """Undo a filing decision (the latest by default)."""
    d = rt.review.undo(p["decision"])
    photo = Photo.get_by_id(d.photo_id)
    return {"decision_id": d.id, "action": d.action, "photo_id": photo.id, "root": photo.root, "path": photo.path}


def _check_tags(p: dict) -> dict:
    only(p, "photo", "add", "remove")
    out = {"photo": text(p, "photo"), "add": names(p, "add", 1000), "remove": names(p, "remove", 1000)}
    if not out["add"] and not out["remove"]:
        raise InvalidInput("nothing to change: give tags to 'add' or 'remove'")
    return out


def change_tags(rt, p: dict, progress: Progress) -> dict:
    """Add and remove some of a photo's tags (removed ones are not added back by auto-taggers)."""
    photo = Photo.lookup(p["photo"])
    now = tags.change_tags(photo, add=p["add"], remove=p["remove"])
    return {"photo_id": photo.id, "tags": [t["name"] for t in now]}


# --- the trash ------------------------------------------------------------------------------------
def _check_refs(p: dict) -> dict:
    only(p, "photos")
    refs = names(p, "photos")
    if not refs:
        raise InvalidInput("'photos' must name at least one photo")
    return {"photos": refs}


def put_in_trash(rt, p: dict, progress: Progress) -> dict:
    """Move photos to the trash; every reference is looked up before anything moves."""
    photos = [Photo.lookup(ref) for ref in p["photos"]]
    return {"trashed": [{"id": ph.id, "filename": ph.original_filename}
                        for ph in (trash.trash_photo(ph, rt.settings) for ph in photos)]}


def restore_from_trash(rt, p: dict, progress: Progress) -> dict:
    """Put photos back where they were."""
    photos = [Photo.lookup(ref) for ref in p["photos"]]
    return {"restored": [{"id": ph.id, "root": ph.root, "path": ph.path}
                         for ph in (trash.restore_photo(ph, rt.settings) for ph in photos)]}


def _check_empty(p: dict) -> dict:
    only(p, "older_than_days")
    days = number(p, "older_than_days", minimum=0, required=False)
    if days is not None and days > 100_000:
        raise InvalidInput("'older_than_days' must be 0 to 100000")
    return {"older_than_days": days}


def empty_trash(rt, p: dict, progress: Progress) -> dict:
    """Delete for good what is in the trash (what was trashed at least `older_than_days` ago)."""
    days = p["older_than_days"]
    return {"deleted": trash.empty_trash(rt.settings, older_than=dt.timedelta(days=days) if days is not None else None)}


# --- sidecars and annotations ---------------------------------------------------------------------
def _check_xmp(p: dict) -> dict:
    only(p, "photo_ids", "all")
    ids = p.get("photo_ids") or []
    if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids):
        raise InvalidInput(f"'photo_ids' must be a list of at most {MAX_IDS} photo ids")
    return {"photo_ids": ids, "all": flag(p, "all")}


def write_sidecars(rt, p: dict, progress: Progress) -> dict:
    """XMP sidecars for library photos (xmp.write_sidecars)."""
    r = xmp.write_sidecars(rt.settings, photo_ids=p["photo_ids"] or None, all=p["all"],
                           progress=lambda d, t: progress(d, t, "writing sidecars"))
    return {"written": r["written"], "unchanged": r["unchanged"], "failed": [list(f) for f in r["failed"]],
            "line": f"{r['written']} written, {r['unchanged']} unchanged, {len(r['failed'])} failed"}


def check_file(p: dict) -> dict:
    only(p, "file")
    return {"file": path(p, "file", "file")}


def import_regions(rt, p: dict, progress: Progress) -> dict:
    """Regions from an annotation file, embedded with the process's models into its search indexes."""
    r = import_annotations(rt.settings, p["file"], models=rt.models, indexes=rt.indexes,
                           progress=lambda d, t: progress(d, t, "importing regions"))
    return {"created": r.created, "images": r.images, "unmatched": r.unmatched,
            "rejected": [list(x) for x in r.rejected], "line": r.line()}


KINDS = [
    Kind("import", "import", "Import files and folder trees into the inbox", _check_import, import_photos,
         schema({"paths": {"type": "array", "items": PATH, "minItems": 1, "maxItems": MAX_PATHS}, "device": STR},
                "paths"), job=True, learns=True),
    Kind("file", "file", "File a photo into a library folder", _check_file, file_one,
         schema({"photo": REF, "folder": STR}, "photo", "folder")),
    Kind("rename-folder", "folders/rename", "Rename or move a library folder with its photos", _check_rename,
         rename_folder, schema({"from": STR, "to": STR}, "from", "to"), learns=True),
    Kind("undo", "undo", "Undo the last filing decision (or `decision`)", _check_undo, undo,
         schema({"decision": INT})),
    Kind("tags", "tags", "Add or remove some of a photo's tags", _check_tags, change_tags,
         schema({"photo": REF, "add": {"type": "array", "items": STR}, "remove": {"type": "array", "items": STR}},
                "photo")),
    Kind("trash-put", "trash/put", "Move photos to the trash", _check_refs, put_in_trash,
         schema({"photos": REFS}, "photos")),
    Kind("trash-restore", "trash/restore", "Put trashed photos back", _check_refs, restore_from_trash,
         schema({"photos": REFS}, "photos")),
    Kind("trash-empty", "trash/empty", "Delete what is in the trash for good", _check_empty, empty_trash,
         schema({"older_than_days": INT})),
    Kind("xmp-write", "xmp/write", "Write XMP sidecars", _check_xmp, write_sidecars,
         schema({"photo_ids": {"type": "array", "items": INT}, "all": BOOL}), job=True, learns=True),
    Kind("regions-import", "regions/import", "Create regions from an annotation file", check_file, import_regions,
         schema({"file": PATH}, "file"), job=True, learns=True),
]
