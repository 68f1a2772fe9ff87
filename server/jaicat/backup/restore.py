"""Restore a backup written by backup.py into a data directory. Stop the server first.

Every file is verified against the manifest before anything in the data directory is touched, and
nothing is ever deleted: data already there is moved aside into `<data_dir>/pre-restore-<time>/`
(and a catalogue or inbox that holds data needs --force). Files are staged inside the data directory
and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from .snapshot import (
    CATALOGUE,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    USER_TABLES,
    fsync_dir,
    fsync_tree,
    sha256_of,
    utc_stamp,
)
from ..errors import Conflict, InvalidInput


@dataclass
class RestoreReport:
    manifest: dict
    moved_aside: Path | None = None
    library_restored: int = 0
    library_conflicts: list[str] = field(default_factory=list)
    library_missing: int = 0

    def summary(self) -> list[str]:
        c = self.manifest["counts"]
        lines = [f"{c.get('photo', 0)} photos, {c.get('person', 0)} people, "
                 f"{c.get('faceencoding', 0)} known face encodings"]
        if self.moved_aside:
            lines.append(f"the previous data was kept in {self.moved_aside}")
        if self.library_restored:
            lines.append(f"{self.library_restored} library files restored")
        lines += [f"kept your existing file, backup copy not restored: {p}" for p in self.library_conflicts]
        if self.library_missing:
            lines.append(f"warning: {self.library_missing} filed photos are not in the library folder "
                         "(restore or mount the library, or back up --with-library)")
        return lines


def read_manifest(src: Path) -> dict:
    path = Path(src) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidInput(f"{src} is not a Jaicat backup (no readable {MANIFEST})") from None
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{src} is not a Jaicat backup")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise InvalidInput(f"{src} was written by a newer Jaicat (backup format {manifest['format_version']})")
    return manifest


def verify_backup(src: Path, manifest: dict) -> None:
    """Every file the manifest lists is present with its size and sha256; raises InvalidInput if not."""
    bad = []
    for rel, facts in manifest["files"].items():
        p = Path(src) / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            bad.append(f"{rel}: unsafe path")
        elif not p.is_file():
            bad.append(f"{rel}: missing")
        elif p.stat().st_size != facts["size"] or sha256_of(p) != facts["sha256"]:
            bad.append(f"{rel}: damaged (checksum differs)")
    if bad:
        raise InvalidInput(f"backup {src} is incomplete or damaged; nothing was restored: " + "; ".join(bad[:5])
                           + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""))


def catalogue_rows(db_path: Path) -> int:
    """Rows in the tables that hold a user's data (photos, people, decisions, devices, folders)."""
    if not Path(db_path).is_file():
        return 0
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return sum(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in USER_TABLES if t in tables)


def refuse_if_in_use(db_path: Path) -> None:
    """Raise Conflict if another connection has the catalogue open (a running server would go on
    writing into the catalogue we move aside). In WAL mode, leaving WAL needs the only connection."""
    if not Path(db_path).is_file():
        return
    with closing(sqlite3.connect(db_path, timeout=0.5)) as conn:
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.OperationalError:
            mode = "locked"
    if mode.lower() != "delete":
        raise Conflict(f"the catalogue {db_path} is open in another process; stop `jaicat serve` "
                       "(systemctl stop jaicat) and try again")


def _has_files(d: Path) -> bool:
    return d.is_dir() and any(p.is_file() for p in d.rglob("*"))


def restore(settings, src, force: bool = False, progress=None) -> RestoreReport:
    """Bring a backup back into the data directory (stop the server first).

    Refuses a data directory whose catalogue holds data, or whose inbox holds photos, unless `force`;
    even then nothing is deleted: what is there is moved into `<data_dir>/pre-restore-<time>/`.
    Library files (backups made --with-library) are restored only where the library lacks them;
    an existing different file is kept and reported, never overwritten.
    """
    src = Path(src).expanduser()
    manifest = read_manifest(src)
    if progress:
        progress(f"verifying {len(manifest['files'])} files")
    verify_backup(src, manifest)
    data = settings.data_dir
    rows = catalogue_rows(settings.db_path)
    if (rows or _has_files(settings.inbox)) and not force:
        raise Conflict(f"{data} already holds a catalogue ({rows} rows) or inbox photos; "
                       "restore into an empty data directory, or use --force (the old data is moved aside)")
    refuse_if_in_use(settings.db_path)
    data.mkdir(parents=True, exist_ok=True)
    report = RestoreReport(manifest)
    # stage everything inside the data directory first, so the final moves are renames
    stage = Path(tempfile.mkdtemp(prefix=".restore-", dir=data))
    try:
        for rel in manifest["files"]:
            if not rel.startswith(("library/", "faces/")):  # faces/ is a portable copy of catalogue rows
                dst = stage / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / rel, dst)
        if (stage / "config").is_dir():
            os.replace(stage / "config" / "jaicat.toml", stage / "jaicat.toml")
            (stage / "config").rmdir()
        fsync_tree(stage)
        names = [n for n in (CATALOGUE, "inbox", "thumbs", "faces", "certs", "jaicat.toml") if (stage / n).exists()]
        report.moved_aside = _move_aside(data, [*names, CATALOGUE + "-wal", CATALOGUE + "-shm"])
        for name in names:
            os.replace(stage / name, data / name)
        fsync_dir(data)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    settings.ensure_dirs()
    _restore_library(settings, src, manifest, report)
    with closing(sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True)) as conn:
        for (rel,) in conn.execute("SELECT path FROM photo WHERE root='library'"):
            if not (settings.library / rel).is_file():
                report.library_missing += 1
    return report


def _move_aside(data: Path, names: list[str]) -> Path | None:
    """Move existing items out of the way (empty directories are simply removed); returns the
    folder they went to, or None if there was nothing to keep."""
    aside = data / f"pre-restore-{utc_stamp()}"
    moved = False
    for name in names:
        p = data / name
        if not p.exists():
            continue
        if p.is_dir() and not _has_files(p):
            shutil.rmtree(p)
            continue
        aside.mkdir(exist_ok=True)
        os.replace(p, aside / name)
        moved = True
    return aside if moved else None


def _restore_library(settings, src: Path, manifest: dict, report: RestoreReport) -> None:
    for rel, facts in manifest["files"].items():
        if not rel.startswith("library/"):
            continue
        dst = settings.library / rel[len("library/"):]
        if dst.exists():
            if not dst.is_file() or sha256_of(dst) != facts["sha256"]:
                report.library_conflicts.append(str(dst))
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.restoring")
        shutil.copy2(src / rel, tmp)
        os.replace(tmp, dst)
        report.library_restored += 1
