"""Known face encodings in and out: enrol folders of photos, import and export .npy files.

The .npy format is the predecessor desktop scripts': one 128-float vector per file, named `<Person Name>_<id>.npy` with
spaces written as `_` (`Amy_H_6414490178700226302.npy` is "Amy H"; `Becky (1)_607353430504991520.npy`
is "Becky (1)"); the id is the trailing `_<digits>`. Ids are stable: an imported file keeps its id on
export, anything else gets one derived from the encoding's bytes.

Each FaceEncoding remembers where it came from (origin), so enrolling or importing again adds nothing
twice.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..db import FaceEncoding, Person, database
from ..errors import InvalidInput, JaicatError
from . import faces as faces_ml
from .persons import encodings_changed, find_person, person_named
from ..photos.ingest import PHOTO_EXTENSIONS
from ..photos.imaging import open_upright

NPY_NAME = re.compile(r"^(?P<name>.+)_(?P<id>\d{1,20})\.npy$")
# enrolment: of several faces in a person's photo the largest is taken only if it is this much larger
# (area; 3x = 1.7x the width), so a bystander is never enrolled as the person
DOMINANT_FACE_AREA = 3.0


@dataclass
class EnrollSummary:
    people: list = field(default_factory=list)  # person names seen
    added: int = 0
    already: int = 0  # photos enrolled before (same origin)
    rejected: list = field(default_factory=list)  # (path, reason)

    def line(self) -> str:
        return (f"{len(self.people)} people: added {self.added} encodings, already known {self.already}, "
                f"rejected {len(self.rejected)}")


@dataclass
class NpyImportSummary:
    imported: int = 0
    duplicates: int = 0  # same id or identical vector already known
    new_people: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (file name, reason)

    def line(self) -> str:
        return (f"imported {self.imported}, duplicates {self.duplicates}, new people {len(self.new_people)}, "
                f"rejected {len(self.rejected)}")


def name_from_file(stem: str) -> str:
    """Folder / file name -> person name: `_` stands for a space ("Amy_H" -> "Amy H")."""
    return " ".join(stem.replace("_", " ").split())


def parse_npy_name(filename: str) -> tuple[str, int]:
    """`Amy_H_6414490178700226302.npy` -> ("Amy H", 6414490178700226302); ValueError if not that form."""
    m = NPY_NAME.match(filename)
    if not m or not name_from_file(m["name"]):
        raise ValueError("name is not <Person_Name>_<id>.npy")
    return name_from_file(m["name"]), int(m["id"])


def npy_filename(person_name: str, stable_id: int) -> str:
    return f"{person_name.replace(' ', '_')}_{stable_id}.npy"


def stable_id(encoding_row: FaceEncoding) -> int:
    """The id an encoding is exported under: its imported id, else 63 bits of a hash of its bytes."""
    origin = encoding_row.origin or ""
    if origin.startswith("npy:"):
        try:
            return parse_npy_name(origin[4:])[1]
        except ValueError:
            pass
    return int.from_bytes(hashlib.sha256(b"jaicat-face:" + bytes(encoding_row.encoding)).digest()[:8], "big") >> 1


def load_npy(path: Path) -> np.ndarray:
    """One encoding from a .npy file as float32; ValueError with the reason if it is not a valid one."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"not a readable .npy array ({reason})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive under a .npy name
        raise ValueError("not a single array")
    return faces_ml.validate_encoding(arr)


def _known_npy_keys() -> set[tuple[str, int]]:
    """(person name lower-cased, file id) of every imported encoding, under its current person."""
    out = set()
    q = (FaceEncoding.select(FaceEncoding.origin, Person.name).join(Person)
         .where(FaceEncoding.origin.startswith("npy:")))
    for origin, person in q.tuples():
        try:
            file_person, file_id = parse_npy_name(origin[4:])
        except ValueError:
            continue
        out.add((person.lower(), file_id))  # exported again after a rename
        out.add((file_person.lower(), file_id))  # the original file, imported again after a rename
    return out


def import_npy_dir(path, progress=None) -> NpyImportSummary:
    """Import every `*.npy` in a folder (not recursive) as known encodings.

    Bad files are skipped with a reason; a file whose person and id, or whose vector, is already known
    counts as a duplicate (ids are only unique per person: two exports may both hold `..._2.npy`).
    `progress(done, total, path, outcome)` after each file.
    """

    folder = Path(path)
    if not folder.is_dir():
        raise InvalidInput(f"not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".npy" and not p.name.startswith("."))
    summary = NpyImportSummary()
    with database.atomic():
        known_keys = _known_npy_keys()
        known_vectors = {bytes(b) for (b,) in FaceEncoding.select(FaceEncoding.encoding).tuples()}
        for done, f in enumerate(files, 1):
            outcome = "imported"
            try:
                name, file_id = parse_npy_name(f.name)
                vector = load_npy(f)
                blob = vector.astype("<f4").tobytes()
                if (name.lower(), file_id) in known_keys or blob in known_vectors:
                    summary.duplicates += 1
                    outcome = "duplicate"
                else:
                    existed = find_person(name) is not None
                    person = person_named(name)
                    if not existed:
                        summary.new_people.append(person.name)
                    FaceEncoding.create(person=person, encoding=blob, origin=f"npy:{f.name}")
                    known_keys.add((name.lower(), file_id))
                    known_vectors.add(blob)
                    summary.imported += 1
            except (ValueError, JaicatError) as e:
                summary.rejected.append((f.name, getattr(e, "message", None) or str(e)))
                outcome = "rejected"
            if progress:
                progress(done, len(files), f, outcome)
        if summary.imported:
            encodings_changed()
    return summary


def _write_atomic(target: Path, vector: np.ndarray) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, vector)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def export_npy_dir(path, progress=None) -> int:
    """Write every known encoding as `<Person_Name>_<id>.npy` (float64, as face_recognition makes them).

    Each file is written to a temp name and renamed, so a reader never sees half a file. A file with an
    id written now but under another name (the person was renamed or merged since the last export) is
    removed.
    Returns the number of files written.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"not a folder: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(FaceEncoding.select(FaceEncoding, Person).join(Person).order_by(Person.name, FaceEncoding.id))
    written: set[str] = set()
    for done, row in enumerate(rows, 1):
        sid = stable_id(row)
        name = npy_filename(row.person.name, sid)
        if name in written:  # two identical vectors of one person: a distinct id, still stable
            sid = int.from_bytes(hashlib.sha256(f"{sid}:{row.origin}".encode()).digest()[:8], "big") >> 1
            name = npy_filename(row.person.name, sid)
        written.add(name)
        _write_atomic(folder / name, np.frombuffer(row.encoding, dtype="<f4").astype(np.float64))
        if progress:
            progress(done, len(rows), folder / name, "exported")
    # a file of an exported id under another name is this encoding before a rename or merge
    written_ids = {parse_npy_name(n)[1] for n in written}
    for f in folder.glob("*.npy"):
        try:
            stale = f.name not in written and parse_npy_name(f.name)[1] in written_ids
        except ValueError:
            stale = False
        if stale:
            f.unlink(missing_ok=True)
    return len(rows)


def _image_files(folder: Path) -> list[Path]:

    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS and not p.name.startswith("."))


def _enrol_encoding(image_path: Path, settings, models: faces_ml.FaceModels) -> np.ndarray:
    """The encoding of the one face (or one clearly largest face) in a photo; ValueError otherwise."""

    image = open_upright(image_path, max_side=faces_ml.ENCODE_MAX_SIDE, max_pixels=settings.max_pixels)
    found = faces_ml.detect_faces(np.asarray(image), model=settings.face_model, max_side=settings.face_max_side,
                                  models=models)
    if not found:
        raise ValueError("no face found")
    found.sort(key=lambda d: d.w * d.h, reverse=True)
    if len(found) > 1 and found[0].w * found[0].h < DOMINANT_FACE_AREA * found[1].w * found[1].h:
        raise ValueError(f"{len(found)} faces of similar size; cannot tell which one is the person")
    return found[0].encoding


def enroll_folder(path, settings, progress=None, *, models: faces_ml.FaceModels) -> EnrollSummary:
    """Learn people from a folder with one subfolder of photos per person (`Amy_H/` -> "Amy H").

    Each photo should show that person alone (or clearly largest). Origins are
    "enroll:<subfolder>/<file>", so enrolling the same tree again adds only new photos.
    `progress(done, total, path, outcome)` after each photo. `models`: the FaceModels to run on
    (the runtime's, or the CLI's own when no server runs).
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInput(f"not a folder: {root}")
    summary = EnrollSummary()
    work = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = name_from_file(sub.name)
        if name:
            work.extend((name, sub, f) for f in _image_files(sub))
    if not work:
        raise InvalidInput(f"no photos in person subfolders of {root} (expected {root}/<Person_Name>/*.jpg)")
    known = {o for (o,) in FaceEncoding.select(FaceEncoding.origin)
             .where(FaceEncoding.origin.startswith("enroll:")).tuples()}
    for done, (name, sub, f) in enumerate(work, 1):
        origin = f"enroll:{sub.name}/{f.name}"
        outcome = "added"
        if name not in summary.people:
            summary.people.append(name)
        if origin in known:
            summary.already += 1
            outcome = "already"
        else:
            try:
                encoding = _enrol_encoding(f, settings, models)
                with database.atomic():
                    FaceEncoding.create(person=person_named(name), encoding=encoding.astype("<f4").tobytes(),
                                        origin=origin)
                    encodings_changed()
                summary.added += 1
            except (ValueError, JaicatError) as e:
                summary.rejected.append((str(f), getattr(e, "message", None) or str(e)))
                outcome = "rejected"
        if progress:
            progress(done, len(work), f, outcome)
    return summary
