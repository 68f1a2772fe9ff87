"""Bytes -> validated, deduplicated, thumbnailed Photo in the inbox. The one way photos come in:
HTTP uploads, `jaicat import`, `jaicat scan` and folder imports all call these functions.

A file is streamed to a temp file in the data dir while it is hashed (never held in memory), rejected
if its sha256 is already catalogued (the existing photo is returned), validated by really decoding it,
and only then renamed into the inbox: the inbox never holds a half-written or undecodable file.

Each new photo is announced to phones (UPLOAD_RECEIVED), then sent on two signals, in order:
`photo_catalogued(photo, settings, source)` for receivers that add what came with the file (the XMP
sidecar writer imports keywords and regions), then `photo_ready(photo)` once it is complete (the
worker wakes to analyse it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from peewee import IntegrityError

from .. import events
from ..config import Settings
from ..db import ImportedFile, Photo, database
from ..errors import EmptyFile, FileTooLarge, IngestError, JaicatError, UnsupportedImage
from . import imaging, live, metadata, video
from .hashing import sha256_file
from .media_pool import Describe, MediaPool

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
PHOTO_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".heic", ".heif", ".hif", ".avif", ".avifs",
    ".webp", ".gif", ".tif", ".tiff", ".bmp",
}
# (photo, settings, source: the file it came from, or None for a stream); before analysis
photo_catalogued = events.Signal("photo_catalogued")
# (photo, settings): bytes already catalogued came in again; the trash gives such a photo back
known_again = events.Signal("known_again")


@dataclass
class IngestResult:
    photo: Photo
    duplicate: bool


@dataclass
class ImportSummary:
    imported: list = field(default_factory=list)  # Photo ids
    duplicates: list = field(default_factory=list)  # (path, existing photo id)
    rejected: list = field(default_factory=list)  # (path, reason)
    skipped: list = field(default_factory=list)  # paths that are not photo files (walked folders only)
    stopped: bool = False  # should_stop() ended the import before every file was tried

    def line(self) -> str:
        return (
            f"imported {len(self.imported)}, duplicates {len(self.duplicates)}, "
            f"rejected {len(self.rejected)}, skipped {len(self.skipped)} (not photos)"
        )


def thumb_path(settings: Settings, photo: Photo | str, size: int) -> Path:
    sha = photo if isinstance(photo, str) else photo.sha256
    return settings.thumbs / str(size) / sha[:2] / f"{sha}.jpg"


def _temp_path(settings: Settings) -> Path:
    settings.tmp.mkdir(parents=True, exist_ok=True)
    return settings.tmp / f"ingest-{uuid.uuid4().hex}.part"


def _copy_hashing(src: BinaryIO, dst: Path, limit: int) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(dst, "xb") as out:
        while True:
            buf = src.read(CHUNK)
            if not buf:
                break
            size += len(buf)
            if size > limit:
                raise FileTooLarge(f"file is larger than the limit of {limit} bytes (max_upload_bytes)")
            h.update(buf)
            out.write(buf)
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest(), size


def _safe_name(filename: str) -> str:
    name = Path(str(filename).replace("\\", "/")).name.replace("\x00", "")
    return name.strip() or "photo"


def _write_thumbs(settings: Settings, sha: str, upright):
    """Save oriented JPEG thumbnails, largest first (each derived from the previous: cheap).
    Returns the smallest one."""
    img = upright
    for size in sorted(settings.thumb_sizes, reverse=True):
        if max(img.size) > size:
            img = img.copy()
            img.thumbnail((size, size), imaging.Image.Resampling.BICUBIC, reducing_gap=2.0)
        dst = thumb_path(settings, sha, size)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(f".{uuid.uuid4().hex}.tmp")
        img.save(tmp, "JPEG", quality=85)
        os.replace(tmp, dst)
    return img


def _photo_fields(tmp: Path, filename: str, settings: Settings) -> tuple[dict, object]:
    """Catalogue fields and the upright image (thumbnail size) of a photo file."""
    try:
        im = imaging.open_image(tmp, max_pixels=settings.max_pixels)
    except UnsupportedImage:
        if Path(filename).suffix.lower() in video.VIDEO_EXTENSIONS:
            raise UnsupportedImage(
                f"{filename} is not a video Jaicat can read: it has no MP4, QuickTime, Matroska or AVI "
                "header (a renamed or damaged file?)") from None
        raise
    facts = imaging.read_facts(im)
    upright = imaging.decode_upright(im, max(settings.thumb_sizes))
    fields = dict(
        media="photo", ext=facts.ext, mime=facts.mime, width=facts.width, height=facts.height,
        orientation=facts.orientation, taken_at=facts.taken_at, taken_offset=facts.taken_offset,
        date_source=facts.date_source, description=facts.description, camera_make=facts.camera_make,
        camera_model=facts.camera_model, gps_lat=facts.gps_lat, gps_lon=facts.gps_lon,
        live_id=facts.content_id,
    )
    return fields, upright


def _video_fields(tmp: Path, settings: Settings) -> tuple[dict, object]:
    """Catalogue fields and the upright poster frame of a video file."""
    facts, poster = video.inspect(tmp, max(settings.thumb_sizes))
    fields = dict(
        media="video", ext=facts.ext, mime=facts.mime, width=facts.width, height=facts.height,
        orientation=1, duration=facts.duration, taken_at=facts.taken_at, taken_offset=facts.taken_offset,
        date_source=facts.date_source, camera_make=facts.camera_make, camera_model=facts.camera_model,
        gps_lat=facts.gps_lat, gps_lon=facts.gps_lon, live_id=facts.content_id,
    )
    return fields, poster


def describe_file(tmp: Path, filename: str, settings: Settings, sha: str) -> tuple[dict, str]:
    """The CPU-heavy part of cataloguing a file: decode it (validating it), read its facts, write its
    thumbnails; returns (catalogue fields, pHash). Touches no catalogue, so a MediaPool runs it in
    another process."""
    if video.sniff(tmp) is not None:
        fields, upright = _video_fields(tmp, settings)
    else:
        fields, upright = _photo_fields(tmp, filename, settings)
    smallest = _write_thumbs(settings, sha, upright)
    return fields, imaging.phash(smallest)


def _catalogue_temp(
    tmp: Path, sha: str, size: int, filename: str, settings: Settings, source_device: str | None,
    mtime: float | None = None, describe: Describe | None = None,
) -> IngestResult:
    """Validate a complete temp file and turn it into an inbox Photo. Removes `tmp` on any outcome.

    `mtime`: the source file's modification time, the capture date of last resort. `describe`: what
    decodes it (a MediaPool's, to run in another process; default `describe_file` here)."""
    try:
        if size == 0:
            raise EmptyFile("file is empty")
        existing = Photo.by_sha(sha)
        if existing is not None:
            known_again.send(existing, settings)
            return IngestResult(Photo.get_by_id(existing.id), True)
        fields, ph = (describe or describe_file)(tmp, filename, settings, sha)
        if fields["taken_at"] is None and mtime is not None:
            when = metadata.file_time(mtime)
            fields.update(taken_at=when.taken_at, taken_offset=when.offset, date_source=when.source)
        ext = fields.pop("ext")
        # Keep the user's name, but give it the extension of what the bytes really are
        # (a JPEG saved as "x.png" is filed as "x.jpg").
        if Path(filename).suffix.lower() in _same_format_exts(ext):
            original = filename
        else:
            original = f"{Path(filename).stem or 'photo'}{ext}"
        rel = Path(sha[:2]) / f"{sha[:16]}{ext}"
        dst = settings.inbox / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            with database.atomic():
                photo = Photo.create(
                    sha256=sha, phash=ph, original_filename=original, size=size, status="inbox",
                    root="inbox", path=rel.as_posix(), source_device=source_device, **fields,
                )
                live.pair(photo)
                os.replace(tmp, dst)  # inside the transaction: the row commits only if the file is there
        except IntegrityError:
            # Another thread catalogued the same bytes a moment ago.
            existing = Photo.by_sha(sha)
            if existing is None:
                raise
            return IngestResult(existing, True)
        return IngestResult(photo, False)
    finally:
        if tmp.exists():
            tmp.unlink()


def _same_format_exts(ext: str) -> set[str]:
    groups = [{".jpg", ".jpeg", ".jpe", ".jfif"}, {".heic", ".heif", ".hif"}, {".tif", ".tiff"},
              {".avif", ".avifs"}, {".mp4", ".m4v"}, {".mov", ".qt"}, {".mkv", ".mk3d"}, {".3gp", ".3g2"}]
    for g in groups:
        if ext in g:
            return g
    return {ext}


def _announce(result: IngestResult, filename: str, settings: Settings, source: Path | None) -> None:
    if result.duplicate:
        return
    p = result.photo
    events.publish(events.UPLOAD_RECEIVED, photo_id=p.id, filename=filename, sha256=p.sha256,
                   thumb_url=f"/api/photos/{p.id}/thumb?size=256")
    # a receiver that fails is logged by the signal: it never loses the photo just stored
    photo_catalogued.send(p, settings, source)
    events.photo_ready.send(p)


def _stream_to_temp(fileobj: BinaryIO, settings: Settings) -> tuple[Path, str, int]:
    tmp = _temp_path(settings)
    try:
        sha, size = _copy_hashing(fileobj, tmp, settings.max_upload_bytes)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return tmp, sha, size


def _finish(tmp: Path, sha: str, size: int, filename: str, settings: Settings,
            source_device: str | None, source: Path | None, mtime: float | None = None,
            describe: Describe | None = None) -> IngestResult:
    result = _catalogue_temp(tmp, sha, size, filename, settings, source_device, mtime, describe)
    _announce(result, filename, settings, source)
    return result


def ingest_stream(
    fileobj: BinaryIO, filename: str, settings: Settings, source_device: str | None = None
) -> IngestResult:
    """Catalogue a photo read from a binary stream (bounded memory)."""
    filename = _safe_name(filename)
    tmp, sha, size = _stream_to_temp(fileobj, settings)
    return _finish(tmp, sha, size, filename, settings, source_device, None)


def ingest_file(
    path: str | Path, settings: Settings, source_device: str | None = None, move: bool = False,
    sha256: str | None = None, media: MediaPool | None = None,
) -> IngestResult:
    """Catalogue the photo at `path`.

    move=False copies it (the user's file stays untouched); move=True takes ownership of a file that
    Jaicat itself wrote (a finished upload) and renames it, so it must be on the data dir's filesystem.
    `media`: the worker processes that decode it (default: this thread).
    """
    path = Path(path)
    filename = _safe_name(path.name)
    if not path.is_file():
        raise IngestError(f"{path}: not a file")
    mtime = None if move else path.stat().st_mtime  # a finished upload's mtime is only its arrival
    if move:
        sha = sha256 or sha256_file(path)
        size = path.stat().st_size
        if size > settings.max_upload_bytes:
            path.unlink()
            raise FileTooLarge(f"larger than the limit of {settings.max_upload_bytes} bytes")
        tmp = _temp_path(settings)
        os.replace(path, tmp)
    else:
        with open(path, "rb") as f:
            tmp, sha, size = _stream_to_temp(f, settings)
    return _finish(tmp, sha, size, filename, settings, source_device, path, mtime,
                   media.describe if media is not None else None)


def iter_candidates(paths: Iterable[str | Path], summary: ImportSummary) -> list[Path]:
    """Expand files and folder trees. Files named explicitly are always tried; inside folders only
    photo/video extensions are, the rest is listed as skipped. Hidden files and folders are ignored."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    f = Path(root) / name
                    ext = f.suffix.lower()
                    if ext in PHOTO_EXTENSIONS or ext in imaging.VIDEO_EXTENSIONS:
                        out.append(f)
                    else:
                        summary.skipped.append(str(f))
        elif p.exists():
            out.append(p)
        else:
            summary.rejected.append((str(p), "no such file or folder"))
    return out


def already_imported(path: Path, st: os.stat_result) -> int | None:
    """The photo an earlier import made of `path`, if the file is unchanged since (same size and
    modification time as `st`) and its photo is still catalogued; None means: read it."""
    row = ImportedFile.get_or_none(ImportedFile.path == os.path.abspath(path))
    if row is None or row.size != st.st_size or row.mtime_ns != st.st_mtime_ns:
        return None
    photo = Photo.by_sha(row.sha256)
    return photo.id if photo is not None else None


def remember_import(path: Path, st: os.stat_result, sha: str) -> None:
    """Note that `path`, as `st` found it, holds the photo with this sha256 (see ImportedFile)."""
    ImportedFile.insert(path=os.path.abspath(path), size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha) \
        .on_conflict(conflict_target=[ImportedFile.path],
                     update={ImportedFile.size: st.st_size, ImportedFile.mtime_ns: st.st_mtime_ns,
                             ImportedFile.sha256: sha}).execute()


def ingest_paths(
    paths: Iterable[str | Path], settings: Settings, progress: Callable | None = None,
    source_device: str | None = None, workers: int | None = None, should_stop: Callable[[], bool] | None = None,
) -> ImportSummary:
    """Import files and folder trees, `workers` at once (default: one per core; each file's decoding
    and thumbnails in a MediaPool process); `progress(done, total, path, outcome)` after each file. Once
    `should_stop()` is true no further file is begun (each file is imported whole or not at all) and
    the summary says `stopped`."""
    summary = ImportSummary()
    files = iter_candidates(paths, summary)
    total = len(files)
    lock = threading.Lock()
    done = 0

    def one(f: Path):
        nonlocal done
        if should_stop is not None and should_stop():
            summary.stopped = True
            return
        try:
            st = f.stat()  # before reading: a file changed while it is read is read again next time
            seen = already_imported(f, st)
            if seen is not None:
                outcome = ("duplicate", seen)
            else:
                r = ingest_file(f, settings, source_device=source_device, media=media)
                remember_import(f, st, r.photo.sha256)
                outcome = ("duplicate", r.photo.id) if r.duplicate else ("imported", r.photo.id)
        except JaicatError as e:
            outcome = ("rejected", e.message)
        except OSError as e:
            outcome = ("rejected", f"cannot read: {e.strerror or e}")
        with lock:
            kind, val = outcome
            if kind == "imported":
                summary.imported.append(val)
            elif kind == "duplicate":
                summary.duplicates.append((str(f), val))
            else:
                summary.rejected.append((str(f), val))
            done += 1
            if progress:
                progress(done, total, f, kind)

    def pooled(f: Path):
        try:
            one(f)
        finally:  # the pool's threads end with the import: their connections with them
            if not database.is_closed():
                database.close()

    n = workers or (os.cpu_count() or 2)
    if n <= 1 or total <= 1:
        media = None
        for f in files:  # in the caller's thread, on the caller's connection (kept open)
            one(f)
        return summary
    # Decoding in n processes; copying, hashing and the catalogue in n threads (one more keeps a
    # file copied and hashed while the processes decode).
    with MediaPool(describe_file, n) as media, \
            ThreadPoolExecutor(max_workers=n + 1, thread_name_prefix="ingest") as pool:
        list(pool.map(pooled, files))
    return summary


def remove_thumbs(settings: Settings, sha: str) -> None:
    for size in settings.thumb_sizes:
        t = thumb_path(settings, sha, size)
        if t.exists():
            t.unlink()


__all__ = [
    "IngestResult", "ImportSummary", "ingest_stream", "ingest_file", "ingest_paths", "thumb_path", "describe_file",
    "photo_catalogued", "remove_thumbs",
]
