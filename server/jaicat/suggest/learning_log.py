"""Import of the desktop scripts' `tag_learning_log.json` (their learning history) into the engine.

Accepted shapes (liberal; unknown fields are ignored):
  1. a list of entries, or {"entries"|"log"|"history"|"decisions"|"items": [entries]}
  2. a dict keyed by filename: {"IMG_1.jpg": entry-without-filename, ...}
  3. a dict keyed by folder of tag counts: {"Family/Amy": {"beach": 3, "person": 5}, ...}
An entry is an object with
  file name:  "filename" | "image" | "file" | "name" | "path"            (optional)
  tags:       "tags" | "labels" | "keywords": [tag, ...] or {tag: score} or "a, b, c"
  folder:     "folder" | "destination" | "dest" | "target" | "chosen_folder" | "category" | "moved_to"
  people:     "people" | "persons" | "faces"                             (optional)
  caption, camera, gps, taken_at|date_taken|datetime_original           (optional)
  order:      "timestamp" | "time" | "date" (the decision time: orders entries, not a capture time)
A destination that is a file path (has an extension) counts by its folder; absolute destinations are made
relative to the library when under it, otherwise to the longest directory all of them share.
Entries without tags, people or caption, or without a folder, are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from ..errors import InvalidInput
from .features import PhotoFeatures, normalise_folder

_LIST_KEYS = ("entries", "log", "history", "decisions", "items", "records")
_FILE_KEYS = ("filename", "image", "file", "name", "path", "photo")
_TAG_KEYS = ("tags", "labels", "keywords", "tag_scores")
_FOLDER_KEYS = ("folder", "destination", "dest", "target", "chosen_folder", "category", "moved_to", "target_folder")
_ORDER_KEYS = ("timestamp", "time", "date", "created_at", "ts")
_IMAGE_EXT = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".dng"}


def _first(d: dict, keys):
    for k in keys:
        if k in d and d[k] not in (None, "", [], {}):
            return d[k]
    return None


def _entries(doc) -> list[dict]:
    if isinstance(doc, list):
        return [e for e in doc if isinstance(e, dict)]
    if not isinstance(doc, dict):
        raise InvalidInput("the log must be a JSON list or object")
    for k in _LIST_KEYS:
        if isinstance(doc.get(k), list):
            return [e for e in doc[k] if isinstance(e, dict)]
    out = []
    for key, val in doc.items():
        if isinstance(val, dict) and (_first(val, _TAG_KEYS + _FOLDER_KEYS) is not None):
            e = dict(val)
            e.setdefault("filename", key)
            out.append(e)
        elif isinstance(val, dict) and val and all(isinstance(v, (int, float)) for v in val.values()):
            out.append({"folder": key, "tags": val, "_counts": True})  # shape 3: tag counts per folder
        elif isinstance(val, (str, list)) and Path(key).suffix.lower() in _IMAGE_EXT:
            out.append({"filename": key, "folder" if isinstance(val, str) else "tags": val})
    return out


def _folder_of(dest, library: Path | None) -> str | None:
    if not isinstance(dest, str) or not dest.strip():
        return None
    d = dest.strip().replace("\\", "/")
    if PurePosixPath(d).suffix.lower() in _IMAGE_EXT:
        d = str(PurePosixPath(d).parent)
    return d


def load_learning_log(path: str | Path, library: Path | None = None) -> list[tuple[PhotoFeatures, str, float]]:
    """Parse the desktop scripts' tag_learning_log.json into (features, folder, weight) in decision order."""
    rows = [row for n, e in enumerate(_entries(_read_json(Path(path)))) if (row := _row(n, e, library))]
    rows.sort(key=lambda r: (r[0], r[1]))
    base = _absolute_base([r[3] for r in rows], library)
    out = []
    for _, _, rec, folder, weight in rows:
        if base and folder.startswith(base):
            folder = folder[len(base):]
        folder = normalise_folder(folder)
        if folder:
            out.append((rec, folder, weight))
    return out


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"log file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"{path}: not a JSON learning log ({e})") from None


def _row(n: int, e: dict, library: Path | None) -> tuple[str, int, PhotoFeatures, str, float] | None:
    """(decision order, n, features, folder as written, weight) of the n-th entry, or None for an entry
    without a folder, without tags, people or caption, or that cannot be read (liberal: skipped)."""
    folder = _folder_of(_first(e, _FOLDER_KEYS), library)
    if folder is None:
        return None
    tags = _first(e, _TAG_KEYS)
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    weight = 1.0
    if e.get("_counts") and isinstance(tags, dict):
        weight = float(min(max(tags.values(), default=1), 10))
    order = _first(e, _ORDER_KEYS)
    try:
        rec = PhotoFeatures.build(
            _first(e, _FILE_KEYS) or f"log-{n}", _first(e, ("taken_at", "date_taken", "datetime_original")),
            tags, _first(e, ("people", "persons", "faces")), e.get("caption"), e.get("camera"),
            e.get("gps"), None,
        )
    except ValueError:
        return None
    if not (rec.tags or rec.people or rec.caption):
        return None
    return (str(order) if order is not None else "", n, rec, folder, weight)


def _absolute_base(folders: list[str], library: Path | None) -> str | None:
    """What absolute destinations are made relative to: the library if all are under it, else their
    common directory; None without absolute destinations."""
    absolute = [f for f in folders if f.startswith("/") or (len(f) > 2 and f[1] == ":")]
    if not absolute:
        return None
    lib = str(library).replace("\\", "/").rstrip("/") if library else None
    if lib and all(a == lib or a.startswith(lib + "/") for a in absolute):
        return lib
    return os.path.commonpath(absolute) if len(set(absolute)) > 1 else str(PurePosixPath(absolute[0]).parent)
