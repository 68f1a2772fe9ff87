"""Reconciliation: the catalogue and the files agree again after a crash, a power cut or a move made by
hand. Run at every server start (with repair) and on demand by `jaicat check [--repair]`.

What it looks at, in order:
1. filings a crash interrupted (photos/journal.py): finished or rolled back;
2. every photo row points at a real file with the right size; a photo whose file is gone is looked
   for by size and sha256 in the library and the inbox and its row follows it (it moved);
3. the inbox holds no orphans: a photo file there that no row claims (a crash between the file's
   rename and its row) is catalogued again through ingest;
4. unfinished uploads resume from their true offset: a part file shorter than the stored offset
   (or gone) brings the offset back to what is really on disk; a file renamed for ingest when the
   crash came is put back;
5. temp files left by interrupted copies (`.jaicat-*.part`) are removed.
Without `repair` nothing is changed: the report says what would be.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import Settings
from ..db import Photo, Upload
from ..photos import journal, trash
from ..photos.hashing import sha256_file
from ..photos.ingest import PHOTO_EXTENSIONS, ingest_file
from ..photos.uploads import data_path

log = logging.getLogger(__name__)
TEMP_PREFIX = ".jaicat-"


@dataclass
class CheckReport:
    photos: int = 0  # rows looked at
    filings_rolled_back: int = 0
    filings_rolled_forward: int = 0
    filings_unresolved: int = 0
    relinked: list = field(default_factory=list)  # [photo id] whose row now follows its moved file
    missing: list = field(default_factory=list)  # [photo id] whose file is nowhere to be found
    orphans: list = field(default_factory=list)  # inbox files no row claims
    orphans_catalogued: int = 0
    uploads_fixed: list = field(default_factory=list)  # [upload id] whose offset was corrected
    temp_files: list = field(default_factory=list)
    trash_unsettled: list = field(default_factory=list)  # trash moves start-up could not settle
    repaired: bool = False

    @property
    def clean(self) -> bool:
        """Nothing found that needs (or needed) repair."""
        return not (self.filings_rolled_back or self.filings_rolled_forward or self.filings_unresolved
                    or self.relinked or self.missing or self.orphans or self.uploads_fixed or self.temp_files
                    or self.trash_unsettled)

    def as_dict(self) -> dict:
        return {**asdict(self), "clean": self.clean}

    def lines(self) -> list[str]:
        verb = "" if self.repaired else " (would be)"
        return [
            f"photos checked: {self.photos}",
            f"interrupted filings: {self.filings_rolled_forward} finished, {self.filings_rolled_back} rolled back"
            f"{verb}, {self.filings_unresolved} unresolved",
            f"photos found moved and relinked{verb}: {len(self.relinked)}",
            f"photos whose file is missing: {len(self.missing)}" + (f" (ids {self.missing[:20]})" if self.missing else ""),
            f"orphan files in the inbox: {len(self.orphans)}" + (f", catalogued {self.orphans_catalogued}" if self.repaired else ""),
            # an unfinished upload whose saved offset did not match the bytes on disk (a crash between
            # writing a chunk and recording it): set to what is there, the phone sends the rest
            f"unfinished uploads set to the bytes really received{verb}, the phone sends the rest: "
            f"{len(self.uploads_fixed)}",
            f"temp files removed{verb}: {len(self.temp_files)}",
            f"trash moves that could not be settled: {len(self.trash_unsettled)}"
            + "".join(f"\n  {line}" for line in self.trash_unsettled[:20]),
        ]


def _walk_files(root: Path):
    if not root.is_dir():
        return
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            yield Path(dirpath) / name


def check(settings: Settings, repair: bool = False) -> CheckReport:
    """Reconcile the catalogue with the files (see the module doc). With `repair`, fix what it finds;
    call it only while no filing or upload runs (start-up, or a command alone on the data dir)."""
    report = CheckReport(repaired=repair, trash_unsettled=trash.unsettled())
    _settle_filings(settings, report, repair)
    claimed = _relink_moved(settings, report, repair)
    _catalogue_orphans(settings, report, repair, claimed)
    spare = _resume_uploads(settings, report, repair)
    _remove_temp_files(settings, report, repair, spare)
    return report


def _settle_filings(settings: Settings, report: CheckReport, repair: bool) -> None:
    """1. Filings a crash interrupted: finished or rolled back (with repair), else counted."""
    if repair:
        settled = journal.settle(settings)
        report.filings_rolled_back = settled["rolled_back"]
        report.filings_rolled_forward = settled["rolled_forward"]
        report.filings_unresolved = settled["unresolved"]
    else:
        report.filings_unresolved = len(journal.pending())


def _relink_moved(settings: Settings, report: CheckReport, repair: bool) -> set[tuple[str, str]]:
    """2. Rows -> files: a row whose file is gone follows the unclaimed file of the same size and
    sha256 (it moved), else it is missing. Returns the (root, path) the rows claim."""
    roots = {"library": settings.library, "inbox": settings.inbox}
    rows = list(Photo.select(Photo.id, Photo.root, Photo.path, Photo.size, Photo.sha256, Photo.status)
                .where(Photo.root.in_(list(roots))))
    report.photos = len(rows)
    claimed = {(p.root, p.path) for p in rows}
    lost = [p for p in rows if not (roots[p.root] / p.path).is_file()]
    if not lost:
        return claimed
    by_size = _unclaimed_by_size(roots, claimed)
    for p in lost:
        found = next(((root, f) for root, f in by_size.get(p.size, []) if sha256_file(f) == p.sha256), None)
        if found is None:
            report.missing.append(p.id)
            continue
        root, f = found
        by_size[p.size].remove(found)
        report.relinked.append(p.id)
        if repair:
            rel = f.relative_to(roots[root]).as_posix()
            status = "filed" if root == "library" else (p.status if p.status != "filed" else "inbox")
            Photo.update(root=root, path=rel, status=status).where(Photo.id == p.id).execute()
            claimed.add((root, rel))
            log.warning("photo %s: file found at %s/%s; catalogue updated", p.id, root, rel)
    return claimed


def _unclaimed_by_size(roots: dict[str, Path], claimed: set) -> dict[int, list[tuple[str, Path]]]:
    """The files under the roots that no row claims (temp files aside), by size: where a lost photo
    may have moved."""
    by_size: dict[int, list[tuple[str, Path]]] = {}
    for root, base in roots.items():
        for f in _walk_files(base):
            rel = f.relative_to(base).as_posix()
            if (root, rel) not in claimed and not f.name.startswith(TEMP_PREFIX):
                by_size.setdefault(f.stat().st_size, []).append((root, f))
    return by_size


def _catalogue_orphans(settings: Settings, report: CheckReport, repair: bool, claimed: set) -> None:
    """3. Inbox orphans: a photo file there that no row claims is catalogued again through ingest."""
    for f in list(_walk_files(settings.inbox)):
        rel = f.relative_to(settings.inbox).as_posix()
        if ("inbox", rel) in claimed or f.name.startswith(TEMP_PREFIX) or f.suffix.lower() not in PHOTO_EXTENSIONS:
            continue
        report.orphans.append(rel)
        if repair:
            try:
                result = ingest_file(f, settings, move=True)
                if result.duplicate and f.exists():
                    f.unlink()  # the same bytes are catalogued already
                report.orphans_catalogued += 1
            except Exception as e:  # noqa: BLE001 - report and go on; the file stays where it is
                log.warning("orphan %s could not be catalogued: %s", rel, e)


def _resume_uploads(settings: Settings, report: CheckReport, repair: bool) -> list[Path]:
    """4. Unfinished uploads: the bytes back where the upload expects them, the offset what is on disk.
    Returns the ingest temp files no upload took back (step 5 removes them)."""
    spare = sorted(settings.tmp.glob("ingest-*.part")) if settings.tmp.is_dir() else []
    for up in Upload.select().where(Upload.photo.is_null() & Upload.error.is_null()):
        if _resume_upload(settings, up, spare, repair):
            report.uploads_fixed.append(up.id)
    return spare


def _resume_upload(settings: Settings, up: Upload, spare: list[Path], repair: bool) -> bool:
    """Reconcile one unfinished upload; True when it needed (or got) a fix. Takes the temp file it
    recovers its bytes from out of `spare`."""
    data = data_path(settings, up.id)
    if not data.exists():
        source = _upload_source(data, up, spare)
        if source is not None:
            if repair:
                data.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, data)
            return True
        if up.sha256 and (done := Photo.get_or_none(Photo.sha256 == up.sha256)):
            if repair:  # catalogued just before the crash: link it
                Upload.update(photo=done).where(Upload.id == up.id).execute()
            return True
    on_disk = data.stat().st_size if data.exists() else 0
    if on_disk < up.offset:
        if repair:
            Upload.update(offset=on_disk).where(Upload.id == up.id).execute()
        return True
    return False


def _upload_source(data: Path, up: Upload, spare: list[Path]) -> Path | None:
    """Where the bytes of an upload whose part file is gone are: the file renamed for ingest when the
    crash came, else (the crash came inside ingest) the ingest temp file of its size and sha256."""
    named = data.parent / "upload" / "data" if up.filename == "data" else data.with_name(up.filename)
    if named.is_file():
        return named
    source = next((f for f in spare if f.stat().st_size == up.size
                   and (not up.sha256 or sha256_file(f) == up.sha256)), None)
    if source is not None:
        spare.remove(source)
    return source


def _remove_temp_files(settings: Settings, report: CheckReport, repair: bool, spare: list[Path]) -> None:
    """5. Temp files of interrupted copies and ingests (what an upload needed went back to it above)."""
    temps = [(settings.tmp, f) for f in spare]
    for base in (settings.library, settings.inbox):
        if base.is_dir():
            for dirpath, _dirs, files in os.walk(base):
                temps += [(base, Path(dirpath) / n) for n in files if n.startswith(TEMP_PREFIX) and n.endswith(".part")]
    for base, f in temps:
        report.temp_files.append(f.relative_to(base).as_posix())
        if repair:
            f.unlink(missing_ok=True)
