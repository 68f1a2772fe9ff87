"""Backup and restore of the data directory: a consistent snapshot, safe to take while the server runs.

A backup is a directory:
  jaicat.db        the catalogue, copied with SQLite's online backup API (one consistent moment)
  inbox/           every inbox photo (and its sidecar) the snapshot refers to: they exist nowhere else
  thumbs/          thumbnails of the snapshot's photos (unless --no-thumbs; they can be regenerated)
  library/         filed photos and their sidecars, only with --with-library (the library is the
                   user's own folder tree, normally backed up with the rest of their files)
  faces/           known face encodings in the desktop scripts' .npy format (portable; the catalogue has them too)
  config/jaicat.toml, certs/   the config file and the HTTPS CA/server certificates, if present
  manifest.json    versions, row counts, what is and is not included, sha256 and size of every file
Not included: downloaded models (`jaicat models pull` fetches them again), unfinished resumable
uploads (the phone resends them) and tmp/.

Photos are copied by what the snapshot says, not by listing folders, and each copy is checked
against the photo's sha256. A photo filed between the snapshot and its copy is found where it now is.
The backup is written under a temporary name and renamed into place: a directory with the final
name is always complete. Bringing one back is restore.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import Conflict, InvalidInput
from ..photos.library import fsync_dir
from ..xmp import sidecar_path
from ..photos.ingest import thumb_path
from ..db import database, open_db

FORMAT, FORMAT_VERSION = "jaicat-backup", 1
CATALOGUE, MANIFEST = "jaicat.db", "manifest.json"
LOCATE_TRIES = 50  # x 0.1 s: how long to wait for a filing caught mid-move to commit
USER_TABLES = ("photo", "person", "faceencoding", "decision", "device", "folder")  # what "non-empty" means
NOT_INCLUDED = [
    "models (run `jaicat models pull` after restoring)",
    "unfinished resumable uploads (phones resend them)",
    "tmp/",
]


@dataclass
class BackupReport:
    path: Path
    manifest: dict

    def summary(self) -> list[str]:
        m = self.manifest
        c = m["counts"]
        lines = [f"{c.get('photo', 0)} photos ({m['photos']['inbox']} in the inbox, "
                 f"{m['photos']['library_in_catalogue']} filed), "
                 f"{c.get('person', 0)} people, {c.get('faceencoding', 0)} known face encodings",
                 f"{len(m['files'])} files, {sum(f['size'] for f in m['files'].values()) / 1e6:.1f} MB"]
        if not m["included"]["library"]:
            lines.append("filed photos are not included (they live in your library folder; --with-library copies them)")
        lines += [f"problem: {p}" for p in m["problems"]]
        return lines


def utc_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_hashing(src: Path, dst: Path) -> str:
    dst.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
    shutil.copystat(src, dst)
    return h.hexdigest()


def snapshot_catalogue(db_path: Path, dest: Path) -> None:
    """Copy the live catalogue with SQLite's online backup API: one consistent moment, even while
    the server writes (WAL readers never block writers). The copy is a single self-contained file."""
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, so one moment in time
        dst.execute("PRAGMA journal_mode=DELETE")
        ok = dst.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise InvalidInput(f"catalogue snapshot failed its check: {ok}")
    finally:
        dst.close()
        src.close()


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


class _Writer:
    """Files going into the backup, with their hashes for the manifest."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, dict] = {}

    def add(self, src: Path, rel: str) -> str:
        digest = _copy_hashing(src, self.root / rel)
        self.files[rel] = {"sha256": digest, "size": (self.root / rel).stat().st_size}
        return digest

    def record(self, rel: str) -> None:
        p = self.root / rel
        self.files[rel] = {"sha256": sha256_of(p), "size": p.stat().st_size}


def _locate(settings, live: sqlite3.Connection, sha: str, expected: Path) -> Path | None:
    """Where a photo's file is now. Filing moves the file first and commits the new path after, so a
    photo caught between the two is found by waiting briefly for the commit (or the rollback)."""
    for _ in range(LOCATE_TRIES):
        if expected.is_file():
            return expected
        row = live.execute("SELECT root, path FROM photo WHERE sha256 = ?", (sha,)).fetchone()
        if row is None:
            return None  # deleted from the catalogue since the snapshot
        now = settings.root_path(row[0]) / row[1]
        if now.is_file():
            return now
        time.sleep(0.1)
    return None


def _copy_photos(settings, snap, live, out: _Writer, root: str, problems: list[str], progress) -> int:
    """Copy the photos the snapshot files under `root`, each checked against its sha256."""

    copied = 0
    rows = snap.execute("SELECT id, sha256, path FROM photo WHERE root = ? ORDER BY id", (root,)).fetchall()
    for n, (pid, sha, rel) in enumerate(rows, 1):
        digest = None
        for _ in range(3):  # moved (filed, undone) after the snapshot: copy it from where it is now
            src = _locate(settings, live, sha, settings.root_path(root) / rel)
            if src is None:
                break
            try:
                digest = out.add(src, f"{root}/{rel}")
                break
            except FileNotFoundError:  # moved between finding and opening it
                continue
        if digest is None:
            problems.append(f"photo {pid} ({root}/{rel}): file not found")
            continue
        if digest != sha:
            problems.append(f"photo {pid} ({root}/{rel}): content does not match its sha256")
            continue
        for sidecar, name in ((sidecar_path(src), f"{rel}.xmp"),  # digiKam/darktable/Jaicat
                              (src.with_name(src.stem + ".xmp"), f"{Path(rel).with_suffix('.xmp').as_posix()}")):
            if sidecar.is_file():  # Lightroom's name.xmp
                out.add(sidecar, f"{root}/{name}")
        copied += 1
        if progress and n % 500 == 0:
            progress(f"{root}: {n}/{len(rows)} photos")
    return copied


def _copy_thumbs(settings, snap, out: _Writer) -> int:

    n = 0
    for (sha,) in snap.execute("SELECT sha256 FROM photo ORDER BY id"):
        for size in settings.thumb_sizes:
            p = thumb_path(settings, sha, size)
            if p.is_file():
                out.add(p, "thumbs/" + p.relative_to(settings.thumbs).as_posix())
                n += 1
    return n


def _export_faces(settings, dest: Path, problems: list[str]) -> int:
    """Known encodings in the desktop scripts' .npy format. Read from the live catalogue just after the
    snapshot: a portable extra, since the snapshot holds the same encodings."""

    try:
        from ..people.known import export_npy_dir
    except ImportError as e:  # e.g. a broken dlib: the catalogue still holds every encoding
        problems.append(f"face encodings not exported as .npy ({e}); they are in the catalogue")
        return 0
    if database.is_closed() or database.database is None:
        open_db(settings.db_path)
    return export_npy_dir(dest)


def _copy_tree(src: Path, out: _Writer, prefix: str) -> int:
    n = 0
    for p in sorted(src.rglob("*")):
        if p.is_file():
            out.add(p, f"{prefix}/{p.relative_to(src).as_posix()}")
            n += 1
    return n


def backup(settings, dest, config_file=None, thumbs: bool = True, library: bool = False,
           progress=None) -> BackupReport:
    """Write a consistent snapshot of the data directory to `dest` (a new directory, or a
    timestamped one inside an existing directory). Safe while the server runs."""
    if not settings.db_path.is_file():
        raise InvalidInput(f"no catalogue at {settings.db_path}")
    dest = Path(dest).expanduser()
    final = dest / f"jaicat-backup-{utc_stamp()}" if dest.is_dir() else dest
    n = 1
    while dest.is_dir() and final.exists():  # two backups in one second
        n += 1
        final = dest / f"jaicat-backup-{utc_stamp()}-{n}"
    if final.exists():
        raise Conflict(f"{final} already exists")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        out = _Writer(tmp)
        problems: list[str] = []
        snapshot_catalogue(settings.db_path, tmp / CATALOGUE)
        out.record(CATALOGUE)
        snap = sqlite3.connect(f"file:{tmp / CATALOGUE}?mode=ro", uri=True)
        live = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True, timeout=30)
        try:
            counts = _counts(snap)
            schema = snap.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            photos = {"inbox": _copy_photos(settings, snap, live, out, "inbox", problems, progress),
                      "library": _copy_photos(settings, snap, live, out, "library", problems, progress)
                      if library else 0}
            n_thumbs = _copy_thumbs(settings, snap, out) if thumbs else 0
        finally:
            snap.close()
            live.close()
        n_faces = _export_faces(settings, tmp / "faces", problems)
        for f in sorted((tmp / "faces").glob("*.npy")):
            out.record(f"faces/{f.name}")
        config = Path(config_file) if config_file else settings.data_dir / "jaicat.toml"
        if config.is_file():
            out.add(config, "config/jaicat.toml")
        certs = settings.data_dir / "certs"
        n_certs = _copy_tree(certs, out, "certs") if certs.is_dir() else 0
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "jaicat_version": __version__, "schema_version": int(schema[0]) if schema else None,
            "sqlite_version": sqlite3.sqlite_version, "python_version": platform.python_version(),
            "source": {"data_dir": str(settings.data_dir), "library": str(settings.library),
                       "config_file": str(config) if config.is_file() else None},
            "counts": counts,
            "photos": {"inbox": photos["inbox"], "library": photos["library"],
                       "library_in_catalogue": 0},
            "included": {"catalogue": True, "inbox": True, "thumbs": thumbs, "library": library,
                         "faces_npy": n_faces, "config": config.is_file(), "certs": n_certs},
            "not_included": NOT_INCLUDED + ([] if library else ["filed photos in the library folder"])
            + ([] if thumbs else ["thumbnails"]),
            "thumbs": n_thumbs,
            "problems": problems,
            "files": dict(sorted(out.files.items())),
        }
        with closing(sqlite3.connect(f"file:{tmp / CATALOGUE}?mode=ro", uri=True)) as c:
            manifest["photos"]["library_in_catalogue"] = c.execute(
                "SELECT COUNT(*) FROM photo WHERE root='library'").fetchone()[0]
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        fsync_tree(tmp)
        os.rename(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BackupReport(final, manifest)


def prune_backups(folder, keep: int) -> list[Path]:
    """Delete all but the newest `keep` complete backups that `backup` made inside `folder`
    (timestamped `jaicat-backup-*` directories with a Jaicat manifest); nothing else is touched."""
    if keep < 1:
        raise InvalidInput("--keep must be at least 1")
    found = []
    for d in Path(folder).iterdir():
        if d.is_dir() and not d.is_symlink() and re.fullmatch(r"jaicat-backup-\d{8}T\d{6}Z(-\d+)?", d.name):
            try:
                if json.loads((d / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT:
                    found.append(d)
            except (OSError, ValueError):
                continue  # incomplete or foreign: not ours to delete
    found.sort(key=lambda d: (d.name[:30], int(d.name[31:] or 1)))
    doomed = found[:-keep]
    for d in doomed:
        shutil.rmtree(d)
    return doomed


def fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(Path(dirpath))
