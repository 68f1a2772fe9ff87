"""Names of library folders and files that every filesystem a household syncs to can hold.

`normalise_folder` is the one check of a library-relative folder name (API, CLI, importers, filing):
canonical POSIX form, NFC, and a clear refusal of what would escape the
library, hide itself or not survive a copy to Windows. `fit_name` cuts a file name to the bytes one
path component may hold.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from ..errors import InvalidFolderName, PathOutsideLibrary

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\]')
_MAX_COMPONENT = 120
NAME_MAX_BYTES = 255  # one path component on ext4, btrfs, XFS, APFS and NTFS (UTF-8 bytes, not characters)
FOLDER_MAX_BYTES = 1024  # a library-relative folder: the photo's name and the library path still fit PATH_MAX
FOLDER_MAX_DEPTH = 32
# Bidirectional controls make a name display as something else ("gpj.exe" shown as "exe.jpg").
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def normalise_folder(rel: str) -> str:
    """Validate a library-relative folder name and return it in canonical POSIX form ("" = root).

    Refuses absolute paths, `..`, NUL and control characters, Windows-reserved names and characters,
    and components that end in a dot or space (they cannot be synced to every filesystem).
    """
    if rel is None:
        raise InvalidFolderName("folder name is missing")
    if not isinstance(rel, str):
        raise InvalidFolderName("folder name must be a string")
    if "\x00" in rel:
        raise InvalidFolderName("folder name contains a NUL character")
    rel = unicodedata.normalize("NFC", rel)  # a Mac's "e" + U+0301 and a phone's "é" are one folder
    if "\\" in rel:
        raise InvalidFolderName("use / to separate folders, not \\")
    raw = rel.strip()
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise PathOutsideLibrary(f"folder {rel!r} is absolute; give a folder inside the library")
    parts = [p for p in raw.split("/") if p not in ("",)]
    clean = []
    for p in parts:
        if p == "..":
            raise PathOutsideLibrary(f"folder {rel!r} leaves the library")
        if p != ".":
            _check_component(p)
            clean.append(p)
    if len(clean) > FOLDER_MAX_DEPTH:
        raise InvalidFolderName(f"folder {clean[0]!r}/… is {len(clean)} levels deep; at most {FOLDER_MAX_DEPTH}")
    out = str(PurePosixPath(*clean)) if clean else ""
    if len(out.encode("utf-8")) > FOLDER_MAX_BYTES:
        raise InvalidFolderName(f"folder {clean[0]!r}/… is longer than {FOLDER_MAX_BYTES} bytes")
    return out


def _check_component(p: str) -> None:
    """One folder name of a path: refused (InvalidFolderName) where it cannot live on every filesystem."""
    if _BAD_CHARS.search(p):
        raise InvalidFolderName(f"folder name {p!r} contains a character that is not allowed")
    if p != p.strip() or p.endswith("."):
        raise InvalidFolderName(f"folder name {p!r} must not start/end with a space or end with a dot")
    if p.split(".")[0].lower() in _RESERVED:
        raise InvalidFolderName(f"folder name {p!r} is reserved on Windows")
    if p.startswith("."):
        raise InvalidFolderName(f"folder name {p!r} would be hidden")
    if _BIDI.search(p):
        raise InvalidFolderName(f"folder name {p!r} contains a text-direction control character")
    if len(p) > _MAX_COMPONENT or len(p.encode("utf-8")) > NAME_MAX_BYTES:
        raise InvalidFolderName(f"folder name {p[:20]!r}… is longer than {_MAX_COMPONENT} characters "
                                f"or {NAME_MAX_BYTES} bytes")


def fit_name(stem: str, suffix: str, limit: int = NAME_MAX_BYTES) -> str:
    """`stem + suffix`, the stem cut (at a character boundary) so the whole fits `limit` UTF-8 bytes."""
    room = limit - len(suffix.encode("utf-8"))
    if room < 1:  # an absurd extension: keep what fits of the name as a whole
        return (stem + suffix).encode("utf-8")[:limit].decode("utf-8", "ignore")
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip() + suffix
