"""XMP sidecars: interoperate with digiKam, Lightroom, darktable, PhotoPrism and Immich.

Jaicat writes `<name>.<ext>.xmp` next to a filed photo (digiKam/darktable naming) and reads both that
and Lightroom's `<name>.xmp`, plus XMP embedded in JPEG/HEIC files. It writes keywords (dc:subject,
lr:hierarchicalSubject, digiKam:TagsList), the caption (dc:description) and people/regions as MWG
regions and Microsoft MP regions, in stored-image coordinates (before EXIF Orientation, or the
irot/imir of a HEIC: docs/REGIONS.md). Everything else in a sidecar is kept.

Entry points: `SidecarWriter(settings).connect()` (serve and the CLI hold one: new photos get their
XMP imported, sidecars follow each filing decision), `write_sidecars(settings, ...)`
(`jaicat xmp write`), `apply_xmp_to_photo(photo, settings, source)`, `read_sidecar(path)`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

from ..errors import FileMissing
from .catalogue import apply_content, has_content, photo_content
from .packet import Packet, XMPError, write_atomic
from .sidecar import read_packet, update_packet
from ..photos.imaging import register_formats
from ..db import Photo
from ..photos.imaging import stored_orientation
from ..photos import ingest, library
from .. import events
from .follow import SidecarFollower

__all__ = [
    "XMPError", "read_sidecar", "read_xmp_bytes", "read_embedded", "sidecar_path", "find_sidecar",
    "write_photo_sidecar", "write_sidecars", "apply_xmp_to_photo", "follow_decision", "SidecarWriter",
]

log = logging.getLogger(__name__)
# One read-modify-write of a sidecar file at a time in this process. Module-level on purpose: the
# files are shared by every writer (a SidecarWriter, `jaicat xmp write`), not owned by one of them.
_write_lock = threading.Lock()
_EMBED_SCAN_BYTES = 256 * 1024
_HEIF_SUFFIXES = {".heic", ".heif", ".avif", ".hif"}


def sidecar_path(photo_file: str | os.PathLike) -> Path:
    """Where Jaicat writes the sidecar of a photo: `IMG_1.jpg` -> `IMG_1.jpg.xmp`."""
    p = Path(photo_file)
    return p.with_name(p.name + ".xmp")


def find_sidecar(photo_file: str | os.PathLike) -> Path | None:
    """An existing sidecar for a photo: `IMG_1.jpg.xmp` (digiKam, darktable) or `IMG_1.xmp` (Lightroom)."""
    p = Path(photo_file)
    for name in (p.name + ".xmp", p.name + ".XMP", p.stem + ".xmp", p.stem + ".XMP"):
        cand = p.with_name(name)
        if cand.is_file():
            return cand
    return None


def read_xmp_bytes(data: bytes) -> dict:
    """Read an XMP packet: dict(keywords, hierarchical, tagslist, description, dims, regions).

    regions: [{name, type, x, y, w, h}] with x/y the top-left corner, all normalised (0-1) on the
    *stored* image (before EXIF orientation); dims: the stored (w, h) in pixels, or None.
    Raises XMPError for bytes that are not XMP.
    """
    return read_packet(Packet.parse(data))


def read_sidecar(path: str | os.PathLike) -> dict:
    """Read an `.xmp` sidecar file (see read_xmp_bytes for the shape)."""
    return read_xmp_bytes(Path(path).read_bytes())


def read_embedded(photo_file: str | os.PathLike) -> dict | None:
    """XMP embedded in a JPEG/HEIC/PNG/TIFF file, or None. Cheap when there is none: a JPEG's XMP
    sits in an APP1 segment at the start, so only the head of the file is scanned before Pillow."""
    p = Path(photo_file)
    if p.suffix.lower() not in _HEIF_SUFFIXES:
        with open(p, "rb") as f:
            if b"http://ns.adobe.com/xap/1.0/" not in f.read(_EMBED_SCAN_BYTES):
                return None
    from PIL import Image


    register_formats()  # HEIC, and Jaicat's own pixel limit instead of Pillow's
    try:
        with Image.open(p) as im:
            raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    except (OSError, ValueError):
        return None
    if not raw:
        return None
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    try:
        return read_xmp_bytes(raw)
    except XMPError:
        return None


def _photo_file(photo, settings) -> Path:
    return settings.root_path(photo.root) / photo.path


def apply_xmp_to_photo(photo, settings, source: str | os.PathLike | None = None) -> dict | None:
    """Import keywords, caption and regions from a new photo's sidecar and embedded XMP.

    `source` is the file the photo was ingested from (its sidecar sits next to it, not next to the
    inbox copy); without it, the photo's own file is used. A sidecar found next to `source` is
    copied beside the stored photo so other tools' fields travel with it when it is filed.
    Returns counts of what was added, or None when the photo has no XMP at all.
    """
    stored = _photo_file(photo, settings)
    sidecar = find_sidecar(source) if source else None
    sidecar = sidecar or find_sidecar(stored)
    found = []
    if sidecar is not None:
        try:
            found.append(read_sidecar(sidecar))
        except (OSError, XMPError) as e:
            log.warning("ignoring unreadable sidecar %s: %s", sidecar, e)
            sidecar = None
    embedded = read_embedded(stored) if stored.is_file() else None
    if embedded:
        found.append(embedded)
    if not found:
        return None
    totals = {"tags": 0, "regions": 0, "caption": False}
    for data in found:  # the sidecar first: it holds the latest edits, and the caption is set once
        added = apply_content(photo, data)
        totals = {"tags": totals["tags"] + added["tags"], "regions": totals["regions"] + added["regions"],
                  "caption": totals["caption"] or added["caption"]}
    if sidecar is not None and not sidecar_path(stored).exists() and sidecar.parent != stored.parent:
        write_atomic(sidecar_path(stored), sidecar.read_bytes())
    return totals


_HEIF_MIMES = ("image/heic", "image/heif")


def _settle_heif_orientation(photo, photo_file: Path) -> None:
    """HEIC photos catalogued before Jaicat recorded the irot/imir libheif applies have orientation 1;
    read it from the file (headers only) before their boxes are turned for a sidecar. Upright HEICs
    are read again each time, which costs a header parse on a filing decision."""
    if photo.mime not in _HEIF_MIMES or photo.orientation not in (None, 1):
        return

    try:
        from PIL import Image


        register_formats()
        with Image.open(photo_file) as im:
            orientation = stored_orientation(im)
    except (OSError, ValueError) as e:
        log.warning("cannot read the orientation of %s: %s", photo_file, e)
        return
    if orientation != 1:
        Photo.update(orientation=orientation).where(
            (Photo.id == photo.id) & (Photo.orientation == photo.orientation)).execute()
        photo.orientation = orientation


def write_photo_sidecar(photo, settings) -> Path | None:
    """Write or update the sidecar of one photo from the catalogue; returns its path, or None when
    there is nothing to write and no sidecar exists. Unchanged sidecars are not rewritten.
    Raises XMPError (and leaves the file alone) if the existing sidecar is not XMP, FileMissing if
    the photo is not where the catalogue says (no sidecar is left next to nothing)."""
    photo_file = _photo_file(photo, settings)
    if not photo_file.is_file():
        raise FileMissing(f"photo {photo.id}: {photo_file} is missing; no sidecar written")
    path = sidecar_path(photo_file)
    _settle_heif_orientation(photo, photo_file)
    content = photo_content(photo)
    with _write_lock:
        old = path.read_bytes() if path.exists() else None
        if old is None and not has_content(content):
            return None
        packet = Packet.parse(old) if old is not None else Packet.new()
        data = update_packet(packet, content).to_bytes()
        if data != old:
            write_atomic(path, data)
    return path


def write_sidecars(settings, photo_ids=None, all: bool = False, progress=None) -> dict:  # noqa: A002
    """Write sidecars for library photos: those given by id, else every library photo without one
    (or every library photo with `all`). Returns {"written", "unchanged", "failed": [(id, reason)]}.
    `progress(done, total)` after each photo."""

    query = Photo.select().order_by(Photo.id)
    query = query.where(Photo.id.in_(list(photo_ids))) if photo_ids else query.where(Photo.root == "library")
    result = {"written": 0, "unchanged": 0, "failed": []}
    total = query.count()
    for done, photo in enumerate(query, 1):
        target = sidecar_path(_photo_file(photo, settings))
        if not (all or photo_ids) and target.exists():
            result["unchanged"] += 1
        else:
            before = target.read_bytes() if target.exists() else None
            try:
                written = write_photo_sidecar(photo, settings)
                changed = written is not None and written.read_bytes() != before
                result["written" if changed else "unchanged"] += 1
            except (OSError, XMPError, FileMissing) as e:
                result["failed"].append((photo.id, getattr(e, "message", None) or str(e)))
        if progress:
            progress(done, total)
    return result


def _move_sidecar(old_file: Path, new_file: Path) -> None:
    # only `name.ext.xmp`: a Lightroom `name.xmp` beside it may belong to the RAW of a RAW+JPEG pair
    old, new = sidecar_path(old_file), sidecar_path(new_file)
    if not old.is_file() or new.exists() or old == new:
        return
    new.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(old, new)
    except OSError:  # another filesystem: copy, then drop the original
        shutil.copy2(old, new)
        old.unlink()


def follow_decision(decision, settings) -> Path | None:
    """After a filing decision (or its undo): move the photo's sidecar to where the photo now is, then,
    if the photo is in the library, write the catalogue's keywords/people/regions into it."""

    photo = Photo.get_by_id(decision.photo_id)
    here = _photo_file(photo, settings)
    # library.undo notifies with the original decision marked undone: the photo came from to_*
    was_root, was_path = ((decision.to_root, decision.to_path) if decision.undone
                          else (decision.from_root, decision.from_path))
    if was_root and was_path:
        _move_sidecar(settings.root_path(was_root) / was_path, here)
    if photo.root == "library":
        return write_photo_sidecar(photo, settings)
    return None


class SidecarWriter:
    """Keeps XMP and the catalogue in step for one library (`settings`).

    `connect()` imports the keywords, caption and regions of each new photo from its sidecar or
    embedded XMP (before the photo is analysed), and after each filing decision moves the photo's
    sidecar with it and writes the catalogue's keywords/people/regions into it. With `follow=True`
    (the server) one thread also rewrites library sidecars when faces are confirmed or rejected,
    people renamed or merged, or photos re-analysed. `close()` undoes all of it.
    Connect one writer per library at a time: two would import each photo's XMP twice.
    """

    def __init__(self, settings, follow: bool = False, hub=None):
        self.settings = settings
        self.follow = follow
        self.hub = hub  # the events.Hub the follower listens on (its own one if None)
        self._follower = None

    def connect(self) -> SidecarWriter:

        ingest.photo_catalogued.connect(self.import_new_photo)
        library.decision_made.connect(self.update_after_decision)
        if self.follow and self._follower is None:

            hub = self.hub if self.hub is not None else events.Hub()
            # late-bound, so the follower writes with whatever write_photo_sidecar is at the time
            self._follower = SidecarFollower(self.settings, lambda p, s: write_photo_sidecar(p, s), hub).start()
        return self

    def close(self) -> None:

        ingest.photo_catalogued.disconnect(self.import_new_photo)
        library.decision_made.disconnect(self.update_after_decision)
        if self._follower is not None:
            self._follower.stop()
            self._follower = None

    def __enter__(self) -> SidecarWriter:
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    # A receiver that raises is logged by the signal: the photo stays catalogued without its XMP,
    # a filing stays committed with its sidecar as it was.
    def import_new_photo(self, photo, settings, source: Path | None) -> None:
        """`ingest.photo_catalogued` receiver: XMP beside the source file or embedded in it.
        `settings` are the ingest's: they say where the new photo's file was stored."""
        apply_xmp_to_photo(photo, settings, source=source)

    def update_after_decision(self, decision) -> None:
        """`library.decision_made` receiver: the sidecar follows its photo (see follow_decision)."""
        follow_decision(decision, self.settings)
