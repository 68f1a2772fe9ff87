"""Resumable uploads: create, send chunks at offsets, resume after a drop, finish through ingest.

The bytes of a pending upload live in `<uploads>/<id>/data` (allocated chunk by chunk as each one
arrives; bytes past the stored offset mean nothing); its state (size, offset, expected
sha256) in db.Upload, so a restart of the server loses nothing that reached the disk. A chunk is
streamed to the file with a bounded buffer (never the whole file in memory); whatever arrived
before a connection dropped is kept and the stored offset says where to continue. While chunks
arrive, a second thread hashes them (from the page cache) and the disk is asked to start writing
them, so finishing reads nothing again and its fsync finds little left to write. The last chunk
fsyncs the file, checks the sha256 the client announced and hands the file to the one ingest
function (`jaicat.photos.ingest.ingest_file(..., move=True, sha256=...)`).

An Upload row's `device` is the Device id (as text). `error` holds "duplicate" when the finished
upload turned out to be a photo already in the catalogue (status stays "done"), or
"<code>: <message>" when ingest rejected it (status "failed").
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

from . import decode_budget, ingest
from .paths import fit_name
from ..config import Settings
from ..db import Photo, Upload, database, utcnow
from ..errors import (
    ChecksumMismatch,
    Conflict,
    EmptyFile,
    FileTooLarge,
    IngestError,
    InsufficientStorage,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    TooManyUploads,
    UploadBusy,
)
from .hashing import RunningHash, sha256_file, start_writeback

CHUNK_BUFFER = 1024 * 1024  # bytes read from the socket per write
PUSH_STEP = 8 * CHUNK_BUFFER  # bytes received between two pushes to the disk and the hasher
MAX_CHECK = 5000
FILENAME_MAX_BYTES = 200  # room left in NAME_MAX_BYTES for " (12)" when filed next to a namesake
DISK_MARGIN = 64 * 1024 * 1024  # free space left for the catalogue, thumbnails and the log
UNKNOWN_LENGTH_ALLOCATION = 64 * 1024 * 1024  # allocated ahead for a chunk without Content-Length
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
# Chunk bodies arriving at once: each holds a request thread for up to the stall timeout while its
# client trickles or stops, so a device (or all of them) may not hold more than these.
CHUNKS_PER_DEVICE = 4
CHUNKS_IN_ALL = 24  # of the server's 32 request threads: a phone's next request always finds one

log = logging.getLogger(__name__)


def upload_status(upload: Upload) -> str:
    if upload.photo_id is not None:
        return "done"
    if upload.error:
        return "failed"
    return "pending"


def is_duplicate(upload: Upload) -> bool:
    return upload.photo_id is not None and upload.error == "duplicate"


def expires_at(upload: Upload, settings: Settings) -> dt.datetime:
    return upload.updated_at + dt.timedelta(hours=settings.upload_expire_hours)


PHOTO_DELETED = "deleted: the photo was deleted from the trash; it is not sent again"


def photo_deleted(photo_id: int) -> int:
    """The photo of these finished uploads is being deleted for good: they end as failed, with the
    reason, so the phone neither counts them as in progress nor sends the photo again. Returns how many."""
    return Upload.update(photo=None, error=PHOTO_DELETED, updated_at=utcnow()).where(
        Upload.photo == photo_id).execute()


def settle_orphaned(settings: Settings) -> int:
    """Uploads whose photo was deleted before photo_deleted existed: complete (offset at size), no
    photo, no error and no bytes left on disk. They end as photo_deleted's do. Returns how many."""
    n = 0
    for up in Upload.select().where(Upload.photo.is_null() & Upload.error.is_null()
                                    & (Upload.offset >= Upload.size)):
        if not _dir(settings, up.id).exists():
            n += Upload.update(error=PHOTO_DELETED, updated_at=utcnow()).where(Upload.id == up.id).execute()
    return n


def _dir(settings: Settings, upload_id: str) -> Path:
    return settings.uploads / upload_id


def data_path(settings: Settings, upload_id: str) -> Path:
    """Where the bytes of an unfinished upload are kept (backup/check.py checks them against its offset)."""
    return _dir(settings, upload_id) / "data"


def _safe_filename(name: str) -> str:
    name = str(name or "").replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    if not name:
        raise InvalidInput("filename is empty")
    if len(name.encode("utf-8")) > FILENAME_MAX_BYTES:  # shortened, as phones' own galleries do
        stem, dot, ext = name.rpartition(".")
        name = fit_name(stem, dot + ext[:9], FILENAME_MAX_BYTES) if dot else fit_name(name, "", FILENAME_MAX_BYTES)
    return name


def _check_sha(value, field: str = "sha256") -> str:
    if not isinstance(value, str) or not _SHA_RE.match(value.lower()):
        raise InvalidInput(f"{field} must be a 64-character hex sha256")
    return value.lower()


def check_known(digests: list) -> tuple[list[str], list[str]]:
    """Split sha256 digests into (known in the catalogue, missing), each in the order given; a photo in
    the trash counts as missing, so a phone sends it again and that brings it back."""
    if not isinstance(digests, list):
        raise InvalidInput("sha256 must be a list of hex digests")
    if len(digests) > MAX_CHECK:
        raise InvalidInput(f"at most {MAX_CHECK} digests per call")
    shas = [_check_sha(d, "sha256[]") for d in digests]
    known: set[str] = set()
    for i in range(0, len(shas), 500):
        part = shas[i:i + 500]
        # a photo in the trash is not "known": the phone sends it again, and that brings it back
        known.update(p.sha256 for p in Photo.select(Photo.sha256).where(Photo.sha256.in_(part),
                                                                         Photo.trashed_at.is_null()))
    return [s for s in shas if s in known], [s for s in shas if s not in known]


def create_upload(settings: Settings, device_id: int | str | None, filename: str, size,
                  sha256: str | None = None, mime: str | None = None) -> Upload:
    """Register a new upload. A sha256 already in the catalogue gives a finished duplicate upload."""
    filename = _safe_filename(filename)
    if isinstance(size, bool) or not isinstance(size, int):
        raise InvalidInput("size must be an integer number of bytes")
    if size <= 0:
        raise EmptyFile("the file is empty")
    if size > settings.max_upload_bytes:
        raise FileTooLarge(f"file of {size} bytes is over the limit of {settings.max_upload_bytes}")
    if sha256 is not None:
        sha256 = _check_sha(sha256)
    if mime is not None and (not isinstance(mime, str) or len(mime) > 100):
        raise InvalidInput("mime must be a short string")
    device = None if device_id is None else str(device_id)
    now = utcnow()
    with database.atomic():
        if sha256 is not None:
            existing = Photo.by_sha(sha256)
            if existing is not None:
                ingest.known_again.send(existing, settings)  # a photo in the trash comes back
                return Upload.create(id="u_" + secrets.token_hex(16), device=device, filename=filename,
                                     size=size, sha256=sha256, offset=size, mime=mime, photo=existing,
                                     error="duplicate", created_at=now, updated_at=now)
        if device is not None:
            pending = pending_uploads(settings, device)
            if len(pending) >= settings.max_concurrent_uploads:
                raise TooManyUploads(
                    f"this device already has {len(pending)} uploads in progress "
                    f"(limit {settings.max_concurrent_uploads}); finish or delete one")
        check_room(settings, device, size)
        upload = Upload.create(id="u_" + secrets.token_hex(16), device=device, filename=filename,
                               size=size, sha256=sha256, offset=0, mime=mime, created_at=now,
                               updated_at=now)
    d = _dir(settings, upload.id)
    d.mkdir(parents=True, exist_ok=True)
    data_path(settings, upload.id).touch()
    return upload


def pending_limits(settings: Settings) -> tuple[int, int]:
    """(per device, in total): how many announced bytes may be waiting to arrive. Two of the largest
    files per device, eight in all, so a device (or the devices it paired) cannot announce what the
    disk will never hold."""
    return 2 * settings.max_upload_bytes, 8 * settings.max_upload_bytes


def check_room(settings: Settings, device: str | None, size: int) -> None:
    """Refuse a new upload of `size` bytes when the bytes still to arrive for pending uploads (of this
    device; of all devices) would pass the limits, or the free disk space minus them cannot hold it.
    Only what is still to arrive counts: chunks are allocated on disk as they come (see _receive)."""
    per_device, total = pending_limits(settings)
    waiting_all = waiting_mine = 0
    for up in pending_uploads(settings, None):
        left = max(0, up.size - up.offset)
        waiting_all += left
        if device is not None and up.device == device:
            waiting_mine += left
    if device is not None and waiting_mine + size > per_device:
        raise TooManyUploads(f"this device's unfinished uploads already announce {waiting_mine} bytes still to "
                             f"come (limit {per_device}); finish or delete some")
    if waiting_all + size > total:
        raise TooManyUploads(f"unfinished uploads already announce {waiting_all} bytes still to come "
                             f"(limit {total}); try again when they finished")
    free = shutil.disk_usage(settings.uploads).free
    if free - waiting_all < size + DISK_MARGIN:
        raise InsufficientStorage(f"not enough free disk space on the server for {size} more bytes "
                                  f"({free} free, {waiting_all} promised to unfinished uploads)")


def pending_uploads(settings: Settings, device_id: int | str | None) -> list[Upload]:
    """This device's unfinished, unexpired uploads, oldest first."""
    cutoff = utcnow() - dt.timedelta(hours=settings.upload_expire_hours)
    q = (Upload.select()
         .where(Upload.photo.is_null() & Upload.error.is_null() & (Upload.updated_at > cutoff))
         .order_by(Upload.created_at))
    if device_id is not None:
        q = q.where(Upload.device == str(device_id))
    return list(q)


def get_upload(upload_id: str, device_id: int | str | None = None) -> Upload:
    """The upload `upload_id`; another device's uploads are reported as not found."""
    upload = Upload.get_or_none(Upload.id == str(upload_id))
    if upload is None or (device_id is not None and upload.device not in (None, str(device_id))):
        raise NotFound(f"no upload {upload_id}")
    return upload


def _reserve(fd: int, size: int) -> None:
    """Allocate the file up to `size` before writing: a full disk fails at once rather than mid-chunk,
    and writes into allocated blocks run several times faster (ext4 measured 0.3 -> 2 GB/s)."""
    if os.fstat(fd).st_size >= size or not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise InsufficientStorage(f"not enough free disk space on the server for {size} bytes") from None
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise


def _chunk_room(upload: Upload, offset, length: int | None) -> int:
    """The bytes the upload still needs, once a chunk at `offset` of `length` bytes may be written."""
    if upload_status(upload) != "pending":
        raise Conflict(f"upload {upload.id} is already {upload_status(upload)}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput("offset must be a non-negative integer")
    if offset != upload.offset:
        raise OffsetMismatch(f"upload is at offset {upload.offset}, not {offset}", offset=upload.offset)
    remaining = upload.size - offset
    if length is not None and length > remaining:
        raise FileTooLarge(f"chunk of {length} bytes goes past the announced size ({remaining} left)")
    return remaining


class Receiver:
    """The uploads this process is receiving, of one data directory: one writer per upload at a time,
    and a running sha256 while chunks arrive in order (so finishing a big upload needs no second read
    of the file). The Runtime holds one (`runtime.uploads`); tests make their own."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._arriving: dict[str, int] = {}  # device id -> chunk bodies being received for it
        self._hashers: dict[str, tuple[int, RunningHash]] = {}  # upload id -> (offset hashed to, hasher)

    def delete(self, upload_id: str, device_id: int | str | None = None) -> None:
        upload = get_upload(upload_id, device_id)
        with self._lock:
            if upload.id in self._busy:
                raise UploadBusy("a chunk of this upload is being received")
            self._drop_hasher(upload.id)
        shutil.rmtree(_dir(self.settings, upload.id), ignore_errors=True)
        upload.delete_instance()

    def write_chunk(self, upload_id: str, offset: int, stream, length: int | None = None,
                    device_id: int | str | None = None, device_name: str | None = None) -> tuple[Upload, object]:
        """Append bytes read from `stream` (anything with .read(n)) at `offset`.

        `length` is the announced chunk size if known (Content-Length). Returns (upload, ingest result
        or None). Bytes received before the stream broke are kept and the offset saved, then the
        stream's error propagates. When the upload is complete it is finished (see `_finish`).
        """
        upload_id = str(upload_id)
        upload = get_upload(upload_id, device_id)  # unknown or foreign: answered before any byte is read
        with self._claim(upload_id, None if device_id is None else str(device_id)):
            upload = get_upload(upload_id, device_id)  # read under our claim: the offset cannot move
            remaining = _chunk_room(upload, offset, length)
            side = self._receive(upload, stream, remaining, length)
            if upload.offset == upload.size:
                return self._finish(upload, side, device_name)
            return upload, None

    @contextmanager
    def _claim(self, upload_id: str, device: str | None):
        """Hold the upload (one chunk at a time) and a place among the chunks arriving at once: at
        most CHUNKS_PER_DEVICE for one device, CHUNKS_IN_ALL for the server."""
        with self._lock:
            if upload_id in self._busy:
                raise UploadBusy("another chunk of this upload is being received")
            if device is not None and self._arriving.get(device, 0) >= CHUNKS_PER_DEVICE:
                raise TooManyUploads(f"this device is already sending {CHUNKS_PER_DEVICE} chunks; "
                                     "send the next when one has finished")
            if sum(self._arriving.values()) >= CHUNKS_IN_ALL:
                raise TooManyUploads(f"the server is already receiving {CHUNKS_IN_ALL} chunks; try again shortly")
            self._busy.add(upload_id)
            key = device or ""
            self._arriving[key] = self._arriving.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(upload_id)
                left = self._arriving.get(key, 1) - 1
                if left > 0:
                    self._arriving[key] = left
                else:
                    self._arriving.pop(key, None)

    def _receive(self, upload: Upload, stream, remaining: int, length: int | None = None):
        """Stream into the data file; save the new offset whatever happens. Returns the running hasher.
        Disk space is allocated for this chunk only (its announced length), never for bytes a client
        merely promised."""
        path = data_path(self.settings, upload.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            start, side = self._hashers.pop(upload.id, (None, None))
        if start != upload.offset:
            if side is not None:
                side.close()
            # a hash can only start at byte 0; a resumed upload that lost it is hashed when finished
            side = RunningHash(hashlib.sha256(), path) if upload.offset == 0 else None
        received = pushed = 0
        too_much = False
        spliced = False
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)

        def push() -> None:
            """Hand what arrived since the last push to the disk, and (spliced bytes) to the hasher, in
            steps of PUSH_STEP: 1 MB splices queued one by one would leave the hasher a few ms of work
            when a request ends, and starve it through the next request's overhead."""
            nonlocal pushed
            if received > pushed:
                start_writeback(fd, upload.offset + pushed, received - pushed)
                if spliced and side is not None:
                    side.update_range(upload.offset + pushed, received - pushed)
                pushed = received

        try:
            _reserve(fd, upload.offset + min(remaining, length if length is not None else UNKNOWN_LENGTH_ALLOCATION))
            os.lseek(fd, upload.offset, os.SEEK_SET)  # bytes past the saved offset are overwritten
            copy_to = getattr(stream, "copy_to", None)
            spliced = copy_to is not None
            while copy_to is not None and received < remaining:
                # the source writes into the file itself (kernel splice); the hasher reads it back
                n = copy_to(fd, upload.offset + received, min(PUSH_STEP, remaining - received))
                if not n:
                    break
                received += n
                if received - pushed >= PUSH_STEP:
                    push()
            while copy_to is None:
                want = min(CHUNK_BUFFER, remaining - received + 1)  # +1 notices a body that is too long
                buf = stream.read(want)
                if not buf:
                    break
                if received + len(buf) > remaining:
                    buf = buf[: remaining - received]
                    too_much = True
                view = memoryview(buf)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                if side is not None:
                    side.update(buf)
                received += len(buf)
                if received - pushed >= PUSH_STEP:
                    push()
                if too_much:
                    break
        finally:
            try:
                push()  # whatever arrived before an error too: the hasher must stay at the offset
            finally:
                os.close(fd)
                upload.offset += received
                upload.updated_at = utcnow()
                Upload.update(offset=upload.offset, updated_at=upload.updated_at).where(
                    Upload.id == upload.id).execute()
                if side is not None:  # hashing goes on behind the next chunk; _finish waits for it
                    with self._lock:
                        self._hashers[upload.id] = (upload.offset, side)
        if too_much:
            raise FileTooLarge("the body goes past the announced size; the extra bytes were dropped")
        return side

    def _drop_hasher(self, upload_id: str) -> None:
        """Stop the upload's background hasher, if any (with the lock held)."""
        _, side = self._hashers.pop(upload_id, (None, None))
        if side is not None:
            side.close()

    def _finish(self, upload: Upload, side: RunningHash | None, device_name: str | None):
        """fsync, verify, ingest. Returns (upload, IngestResult); ingest errors mark it failed."""
        with self._lock:
            self._hashers.pop(upload.id, None)
        path = data_path(self.settings, upload.id)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        digest = side.hexdigest() if side is not None else None
        if upload.sha256:
            digest = digest or sha256_file(path)
            if digest != upload.sha256:
                upload.offset = 0
                upload.updated_at = utcnow()
                upload.save()
                raise ChecksumMismatch(
                    f"received file has sha256 {digest}, not {upload.sha256}; send it again from offset 0",
                    offset=0)
        named = path.with_name(upload.filename)
        if named.name == "data":  # a file really called "data" must not clash with the part file
            named = path.parent / "upload" / "data"
            named.parent.mkdir(exist_ok=True)
        os.replace(path, named)
        try:
            # a phone is waiting: beyond a short wait for decode memory it is told 503 decode_busy and
            # sends the (empty) last chunk again later; the bytes stay (except below)
            with decode_budget.wait_at_most(decode_budget.UPLOAD_WAIT_SECONDS):
                result = ingest.ingest_file(named, self.settings, source_device=device_name, move=True,
                                            sha256=digest)
        except IngestError as e:
            # the access log says only "PATCH ... 415": say which file was refused, and why, here
            log.warning("refused upload %s %r from %s: %s (%s)", upload.id, upload.filename,
                        device_name or "unknown device", e.message, e.code)
            upload.error = f"{e.code}: {e.message}"
            upload.updated_at = utcnow()
            upload.save()
            shutil.rmtree(_dir(self.settings, upload.id), ignore_errors=True)
            raise
        except Exception:
            os.replace(named, path)  # keep the bytes so the client can retry finishing later
            raise
        upload.photo = result.photo
        upload.error = "duplicate" if result.duplicate else None
        upload.updated_at = utcnow()
        upload.save()
        shutil.rmtree(_dir(self.settings, upload.id), ignore_errors=True)
        return upload, result

    def expire(self, now: dt.datetime | None = None) -> int:
        """Delete uploads untouched for `upload_expire_hours` (their bytes and rows); returns how many."""
        now = now or utcnow()
        cutoff = now - dt.timedelta(hours=self.settings.upload_expire_hours)
        n = 0
        for upload in Upload.select().where(Upload.updated_at <= cutoff):
            with self._lock:
                if upload.id in self._busy:
                    continue
                self._drop_hasher(upload.id)
            shutil.rmtree(_dir(self.settings, upload.id), ignore_errors=True)
            upload.delete_instance()
            n += 1
        # directories left behind without a row (a crash between steps)
        if self.settings.uploads.is_dir():
            ids = {u.id for u in Upload.select(Upload.id)}
            for d in self.settings.uploads.iterdir():
                if d.is_dir() and d.name.startswith("u_") and d.name not in ids:
                    age = now.timestamp() - d.stat().st_mtime
                    if age > self.settings.upload_expire_hours * 3600:
                        shutil.rmtree(d, ignore_errors=True)
        return n
