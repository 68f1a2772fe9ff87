"""People and their faces: recognition results in the catalogue, naming, merging, forgetting.

The worker calls `detect_photo_faces` and `record_faces` for each new photo; the CLI and the web layer call the rest.
Recognised people become photo tags (PhotoTag source "face", tag name = person name), kept in step
with every rename, merge, forget, confirm and reject here.

Every change publishes a "people.changed" event {action, person, photo_ids, ...} (xmp sidecars and
phones follow it). A rename, merge or forget is also logged (PersonChange, in its transaction) and
sent on `person_changed` once committed: the suggester keys its lessons by person id and replays the
log, so they follow the person in every process.

Known encodings (FaceEncoding) come from enrolled photos and imported .npy files (people/known.py)
and from confirmed faces (origin "face:<id>"). A catalogue-wide revision (Meta
"faces_rev") changes whenever they do, so every process rebuilds its FaceMatcher when it is stale.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterable

import numpy as np
from peewee import fn
from PIL import Image

from .. import events
from ..db import (
    Decision, Face, FaceEncoding, FaceRejection, Person, PersonChange, Photo, PhotoTag, Tag, database, get_meta,
    set_meta,
)
from ..errors import Conflict, FileMissing, InvalidInput, NotFound
from ..photos.tags import put_tag, tag_key, tag_named
from . import faces as faces_ml
from ..photos.imaging import open_upright
from ..photos.library import photo_file
from ..text import nfc, plain_text

MAX_NAME_LENGTH = 100
_REV_KEY = "faces_rev"
# A photo the one pass is unsure of gets the thorough pass only where that looks at faces at least this
# many times smaller than the one pass could find (a small photo the one pass saw whole is done).
LOOK_CLOSER = 1.5
_matcher_lock = threading.Lock()
_matcher_cache: tuple[str | None, faces_ml.FaceMatcher] | None = None

# Sent with the PersonChange row once a rename, merge or forget is committed (the suggester follows it).
person_changed = events.Signal("person_changed")


# --- names and lookups ----------------------------------------------------------------------------
def clean_name(name: str) -> str:
    """A person name as stored: NFC, whitespace collapsed; InvalidText for a control character,
    InvalidInput if empty, too long or path-like."""
    name = " ".join(plain_text("" if name is None else str(name), "person name").split())
    if not name:
        raise InvalidInput("a person needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"person name longer than {MAX_NAME_LENGTH} characters")
    if any(c in name for c in "/\\\0") or name in (".", ".."):
        raise InvalidInput(f"person name {name!r} must not contain / or \\")
    return name


def find_person(id_or_name) -> Person | None:
    """The person with this name (case-insensitive), or this id (an int, or digits no name matches)."""
    if isinstance(id_or_name, Person):
        return id_or_name
    if isinstance(id_or_name, int):
        return Person.get_or_none(Person.id == id_or_name)
    text = nfc(" ".join(str(id_or_name or "").split()))
    person = Person.get_or_none(fn.casefold(Person.name) == text.casefold())
    if person is None and text.isdigit():
        person = Person.get_or_none(Person.id == int(text))
    return person


def get_person(id_or_name) -> Person:
    person = find_person(id_or_name)
    if person is None:
        raise NotFound(f"no person {id_or_name!r}")
    return person


def person_named(name: str) -> Person:
    """The person called `name`, created if new."""
    name = clean_name(name)
    person = Person.get_or_none(fn.casefold(Person.name) == name.casefold())
    return person or Person.create(name=name)


def get_face(face_id) -> Face:
    try:
        face = Face.get_or_none(Face.id == int(face_id))
    except (TypeError, ValueError):
        raise InvalidInput(f"face id {face_id!r} is not a number") from None
    if face is None:
        raise NotFound(f"no face {face_id}")
    return face


# --- the matcher ------------------------------------------------------------------------------------
def encodings_changed() -> None:
    """Mark every process's FaceMatcher stale (call inside the transaction that changed encodings)."""
    set_meta(_REV_KEY, uuid.uuid4().hex)


def current_matcher() -> faces_ml.FaceMatcher:
    """The FaceMatcher over all known encodings, rebuilt only when the catalogue's revision changed."""
    global _matcher_cache
    rev = get_meta(_REV_KEY)
    with _matcher_lock:
        if _matcher_cache is not None and _matcher_cache[0] == rev and rev is not None:
            return _matcher_cache[1]
        rows = list(FaceEncoding.select(FaceEncoding.person, FaceEncoding.encoding).tuples())
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(-1, faces_ml.ENCODING_SIZE)
        matcher = faces_ml.FaceMatcher(matrix, [r[0] for r in rows])
        _matcher_cache = (rev, matcher)
        return matcher


def _rejections(face_ids: Iterable[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    ids = list(face_ids)
    for start in range(0, len(ids), 500):
        q = FaceRejection.select(FaceRejection.face, FaceRejection.person).where(
            FaceRejection.face.in_(ids[start:start + 500]))
        for face_id, person_id in q.tuples():
            out.setdefault(face_id, set()).add(person_id)
    return out


# --- analysing a photo ------------------------------------------------------------------------------
def analyse_faces(photo: Photo, image, settings, models: faces_ml.FaceModels) -> list[Face]:
    """The pipeline's one face pass for `photo` (image: upright PIL RGB) in one call; see people/passes.

    Returns every face of the photo afterwards (confirmed ones kept, the rest replaced).
    """
    found = detect_photo_faces(image, settings, models)
    return record_faces(photo, found.faces, tolerance=settings.face_tolerance,
                        faces_pass=pass_after(found, photo, settings))


def detect_photo_faces(image, settings, models: faces_ml.FaceModels) -> faces_ml.OnePass:
    """The one pass: detect and encode the faces in an upright PIL image with `face_model` at
    `face_max_side`; touches no catalogue (analysis workers on other machines run it), record_faces
    stores the result. `models`: the FaceModels to run on (one a thread: the worker's pool leases them)."""
    arr = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    return faces_ml.one_pass(arr, settings.face_model, settings.face_max_side, models=models,
                             onnx_model=settings.face_onnx_model)


def pass_after(found: faces_ml.OnePass, photo: Photo, settings) -> int:
    """The photo's faces_pass once the one pass is stored: 1 (the thorough pass takes a closer look)
    when the pass has a doubt and the thorough pass would see faces LOOK_CLOSER times smaller than it
    could on the full photo, else 2 (done)."""
    if not found.doubt:
        return 2
    smallest = found.min_face * max(photo.width, photo.height)
    return 1 if smallest >= LOOK_CLOSER * settings.face_min_px else 2


def _iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def record_faces(photo: Photo, detected: list[faces_ml.DetectedFace],
                 tolerance: float = faces_ml.DEFAULT_TOLERANCE, keep_unmatched: bool = False,
                 faces_pass: int = 1) -> list[Face]:
    """Store detections for `photo`, replacing its unconfirmed faces; the rest of analyse_faces.

    A detection on top of a confirmed face or of one the user said is not a face (IoU >= 0.5) is that
    face and is dropped; a detection on top of a replaced face inherits its rejections, so a re-analysis
    never re-suggests a rejected name. `keep_unmatched` (the thorough pass): an unconfirmed face no
    detection overlaps stays, so a second detector only ever adds faces. The photo's `faces_pass`
    becomes at least `faces_pass` (1 fast, 2 thorough) in the same transaction.
    """
    with database.atomic():
        Photo.update(faces_pass=fn.MAX(Photo.faces_pass, faces_pass)).where(Photo.id == photo.id).execute()
        existing = list(Face.select().where(Face.photo == photo))
        kept = [f for f in existing if f.confirmed or f.not_face]
        old = [f for f in existing if not (f.confirmed or f.not_face)]
        if keep_unmatched:
            boxes = [(d.x, d.y, d.w, d.h) for d in detected]
            kept += [f for f in old if not any(_iou(b, (f.x, f.y, f.w, f.h)) >= 0.5 for b in boxes)]
            old = [f for f in old if f not in kept]
        old_rejected = _rejections(f.id for f in old)
        if old:
            Face.delete().where(Face.id.in_([f.id for f in old])).execute()
        fresh, excludes = [], []
        for d in detected:
            box = (d.x, d.y, d.w, d.h)
            if any(_iou(box, (f.x, f.y, f.w, f.h)) >= 0.5 for f in kept):
                continue
            carried = set()
            for f in old:
                if _iou(box, (f.x, f.y, f.w, f.h)) >= 0.5:
                    carried |= old_rejected.get(f.id, set())
            fresh.append(d)
            excludes.append(carried)
        matches = current_matcher().match_many([d.encoding for d in fresh], tolerance, excludes) if fresh else []
        new_faces = []
        for d, m, carried in zip(fresh, matches, excludes, strict=True):
            face = Face.create(photo=photo, x=d.x, y=d.y, w=d.w, h=d.h, encoding=d.encoding.astype("<f4").tobytes(),
                               person=m.person_id if m else None, distance=m.distance if m else None)
            for person_id in carried:
                if Person.get_or_none(Person.id == person_id) is not None:
                    FaceRejection.create(face=face, person=person_id)
            new_faces.append(face)
        assign_clusters([f for f in new_faces if f.person_id is None])
        sync_face_tags([photo.id])
    return [f for f in kept if not f.not_face] + new_faces


# --- unknown-face clusters --------------------------------------------------------------------------
def _unknown_rows(exclude_ids: set[int]) -> tuple[list[int], list[int], np.ndarray]:
    rows = [r for r in Face.select(Face.id, Face.cluster, Face.encoding)
            .where(Face.person.is_null(), Face.cluster.is_null(False)).tuples() if r[0] not in exclude_ids]
    enc = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(-1, faces_ml.ENCODING_SIZE)
    return [r[0] for r in rows], [r[1] for r in rows], enc


def assign_clusters(faces: list[Face]) -> None:
    """Put each unknown face in the cluster of its nearest clustered unknown face, or a new cluster.

    Incremental and cheap (one matrix product per face); `recluster_unknown_faces` redoes the whole
    grouping with chinese whispers. Two faces of one photo are two people, so never one cluster here.
    """
    if not faces:
        return
    _, clusters, known = _unknown_rows({f.id for f in faces})
    existing = faces_ml.FaceMatcher(known, clusters, k=1)
    next_id = (Face.select(fn.MAX(Face.cluster)).scalar() or 0) + 1
    done: list[tuple[int, int, np.ndarray]] = []  # (photo id, cluster, encoding) of this batch
    for face in faces:
        v = np.frombuffer(face.encoding, dtype="<f4")
        m = existing.match(v, faces_ml.CLUSTER_THRESHOLD)
        best = (m.distance, m.person_id) if m else None
        others = [(c, e) for photo_id, c, e in done if photo_id != face.photo_id]
        if others:
            d = faces_ml.face_distances(np.array([e for _, e in others]), v)
            i = int(np.argmin(d))
            if d[i] <= faces_ml.CLUSTER_THRESHOLD and (best is None or d[i] < best[0]):
                best = (float(d[i]), others[i][0])
        if best is None:
            face.cluster, next_id = next_id, next_id + 1
        else:
            face.cluster = best[1]
        face.save(only=[Face.cluster])
        done.append((face.photo_id, face.cluster, v))


def recluster_unknown_faces() -> int:
    """Regroup all unknown faces with chinese whispers; returns the number of clusters.

    Cluster ids are fresh (above any used before) so a stale id held by a client names nothing.
    """
    with database.atomic():
        rows = list(Face.select(Face.id, Face.encoding).where(Face.person.is_null(), Face.not_face == False)  # noqa: E712
                    .order_by(Face.id).tuples())
        if not rows:
            return 0
        enc = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(-1, faces_ml.ENCODING_SIZE)
        labels = faces_ml.cluster_encodings(enc)
        base = (Face.select(fn.MAX(Face.cluster)).scalar() or 0) + 1
        for (face_id, _), label in zip(rows, labels, strict=True):
            Face.update(cluster=base + label).where(Face.id == face_id).execute()
    return len(set(labels))


def unknown_clusters(min_size: int = 1) -> list[dict]:
    """Groups of unknown faces, largest first: {"cluster", "size", "face_ids", "cover_face_id"}."""
    groups: dict[int, list[int]] = {}
    for face_id, cluster in (Face.select(Face.id, Face.cluster)
                             .where(Face.person.is_null(), Face.cluster.is_null(False))
                             .order_by(Face.id).tuples()):
        groups.setdefault(cluster, []).append(face_id)
    out = [{"cluster": c, "size": len(ids), "face_ids": ids, "cover_face_id": ids[0]}
           for c, ids in groups.items() if len(ids) >= min_size]
    out.sort(key=lambda g: (-g["size"], g["cluster"]))
    return out


def name_cluster(cluster_id: int, name) -> dict:
    """Give every unknown face of a cluster to the person `name` (created if new), as confirmed."""
    with database.atomic():
        faces = list(Face.select().where(Face.cluster == int(cluster_id), Face.person.is_null()))
        if not faces:
            raise NotFound(f"no unknown faces in cluster {cluster_id}")
        person = person_named(name)
        for face in faces:
            _confirm(face, person)
        sync_face_tags({f.photo_id for f in faces})
        encodings_changed()
    events.publish(events.PEOPLE_CHANGED, action="name_cluster", person=person.name, faces=len(faces),
                   photo_ids=sorted({f.photo_id for f in faces}))
    return {"person_id": person.id, "person": person.name, "faces": len(faces)}


# --- confirming and rejecting single faces ----------------------------------------------------------
def _confirm(face: Face, person: Person) -> None:
    FaceEncoding.delete().where(FaceEncoding.origin == f"face:{face.id}").execute()
    FaceEncoding.create(person=person, encoding=face.encoding, origin=f"face:{face.id}")
    FaceRejection.delete().where(FaceRejection.face == face, FaceRejection.person == person).execute()
    face.person, face.confirmed, face.cluster = person, True, None
    face.save()


def confirm_face(face_id, person_name_or_id) -> Face:
    """Say whose face this is (a new name creates the person); its encoding becomes a known one."""
    with database.atomic():
        face = get_face(face_id)
        person = find_person(person_name_or_id)
        if person is None:
            if isinstance(person_name_or_id, int):
                raise NotFound(f"no person {person_name_or_id}")
            person = person_named(person_name_or_id)
        _confirm(face, person)
        sync_face_tags([face.photo_id])
        encodings_changed()
    events.publish(events.PEOPLE_CHANGED, action="confirm", face=face.id, person=person.name, photo_ids=[face.photo_id])
    return face


def reject_face(face_id, settings=None) -> Face:
    """Say this face is not the person it was given; remembered, then matched again without them."""
    tolerance = settings.face_tolerance if settings is not None else faces_ml.DEFAULT_TOLERANCE
    with database.atomic():
        face = get_face(face_id)
        if face.person_id is None:
            raise InvalidInput(f"face {face.id} has no person to reject")
        FaceRejection.get_or_create(face=face, person=face.person_id)
        dropped = FaceEncoding.delete().where(FaceEncoding.origin == f"face:{face.id}").execute()
        if dropped:
            encodings_changed()
        excluded = _rejections([face.id]).get(face.id, set())
        m = current_matcher().match(np.frombuffer(face.encoding, dtype="<f4"), tolerance, excluded)
        face.person = m.person_id if m else None
        face.distance = m.distance if m else None
        face.confirmed = False
        face.save()
        if m is None:
            assign_clusters([face])
        sync_face_tags([face.photo_id])
    events.publish(events.PEOPLE_CHANGED, action="reject", face=face.id, photo_ids=[face.photo_id])
    return face


def rematch_faces(settings=None, progress=None) -> dict:
    """Match every unconfirmed face again against the current known encodings (after enroll/import).

    `progress(done, total, None, "rematch")` after each chunk. Returns {"faces", "changed"}.
    """
    tolerance = settings.face_tolerance if settings is not None else faces_ml.DEFAULT_TOLERANCE
    matcher = current_matcher()
    rows = list(Face.select(Face.id, Face.photo, Face.person, Face.encoding)
                .where(Face.confirmed == False, Face.not_face == False).order_by(Face.id).tuples())  # noqa: E712
    changed_photos: set[int] = set()
    became_unknown: list[int] = []
    changed = 0
    chunk = 1000
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        rejected = _rejections(r[0] for r in part)
        enc = np.frombuffer(b"".join(r[3] for r in part), dtype="<f4").reshape(-1, faces_ml.ENCODING_SIZE)
        matches = matcher.match_many(enc, tolerance, [rejected.get(r[0], set()) for r in part])
        with database.atomic():
            for (face_id, photo_id, old_person, _), m in zip(part, matches, strict=True):
                new_person = m.person_id if m else None
                Face.update(person=new_person, distance=m.distance if m else None,
                            cluster=None if m else Face.cluster).where(Face.id == face_id).execute()
                if new_person != old_person:
                    changed += 1
                    changed_photos.add(photo_id)
                    if new_person is None:
                        became_unknown.append(face_id)
        if progress:
            progress(min(start + chunk, len(rows)), len(rows), None, "rematch")
    with database.atomic():
        assign_clusters(list(Face.select().where(Face.id.in_(became_unknown))) if became_unknown else [])
        sync_face_tags(changed_photos)
    if changed:
        events.publish(events.PEOPLE_CHANGED, action="rematch", faces=changed, photo_ids=sorted(changed_photos))
    return {"faces": len(rows), "changed": changed}


# --- face tags --------------------------------------------------------------------------------------
def sync_face_tags(photo_ids: Iterable[int]) -> None:
    """Make each photo's "face" tags equal the names of the people on it.

    Names match tags in any case (photos.tags). A tag the user removed (PhotoTag.removed) is left
    removed; a same-named tag from another source (the user typed it) is left alone and not duplicated.
    """
    for photo_id in set(photo_ids):
        names = {tag_key(n): n for (n,) in
                 Person.select(Person.name).join(Face)
                 .where(Face.photo == photo_id, Person.hidden == False).tuples()}  # noqa: E712
        rows = {tag_key(pt.tag.name): pt for pt in
                PhotoTag.select(PhotoTag, Tag).join(Tag).where(PhotoTag.photo == photo_id)}
        for key in names.keys() - rows.keys():
            put_tag(photo_id, names[key], "face")
        for key, pt in rows.items():
            if pt.source == "face" and not pt.removed and key not in names:
                pt.delete_instance()


def _retag(old_name: str, new_name: str | None) -> None:
    """Move the "face" tags named old_name to new_name (None: delete them), keeping `removed` marks.

    A rename that changes only the case respells the tag itself (one tag per name in any case)."""
    old_tag = Tag.find(old_name)
    if old_tag is None:
        return
    new_tag = tag_named(new_name) if new_name else None
    if new_tag is not None and new_tag.id == old_tag.id:
        Tag.update(name=new_name).where(Tag.id == old_tag.id).execute()
        return
    rows = list(PhotoTag.select().where(PhotoTag.tag == old_tag, PhotoTag.source == "face"))
    for pt in rows:
        if new_tag is None or PhotoTag.select().where(PhotoTag.photo == pt.photo_id, PhotoTag.tag == new_tag).exists():
            pt.delete_instance()
        else:
            pt.tag = new_tag
            pt.save()
    if not PhotoTag.select().where(PhotoTag.tag == old_tag).exists():
        old_tag.delete_instance()


def _log_change(kind: str, person: Person, into: Person | None = None, old_name: str | None = None,
                new_name: str | None = None) -> PersonChange:
    """Log a rename, merge or forget in the caller's transaction, at its place among the decisions."""
    last = Decision.select(fn.MAX(Decision.id)).scalar() or 0
    return PersonChange.create(kind=kind, person=person.id, into=into.id if into is not None else None,
                               old_name=old_name, new_name=new_name, after_decision=last)


def _photos_of(person_id: int) -> list[int]:
    return [pid for (pid,) in Face.select(Face.photo).where(Face.person == person_id).distinct().tuples()]


# --- managing people ----------------------------------------------------------------------------------
def list_people() -> list[dict]:
    """Every person the user sees (hidden strangers are not), by name: {"id", "name", "photo_count",
    "face_count", "encoding_count", "cover_face_id"}.

    The cover is the face the user chose (curation.set_cover) while it is still theirs, else a
    confirmed face, else the closest match.
    """
    faces = dict(Face.select(Face.person, fn.COUNT(Face.id)).where(Face.person.is_null(False))
                 .group_by(Face.person).tuples())
    photos = dict(Face.select(Face.person, fn.COUNT(fn.DISTINCT(Face.photo))).where(Face.person.is_null(False))
                  .group_by(Face.person).tuples())
    encodings = dict(FaceEncoding.select(FaceEncoding.person, fn.COUNT(FaceEncoding.id))
                     .group_by(FaceEncoding.person).tuples())
    people = list(Person.select().where(Person.hidden == False).order_by(fn.casefold(Person.name)))  # noqa: E712
    # each person's best face: one seek of the face_cover index a person (a household has ~100k faces)
    covers = {}
    for p in people:
        row = database.execute_sql("SELECT id FROM face WHERE person_id = ? ORDER BY confirmed DESC, "
                                   "COALESCE(distance, 0.0), id LIMIT 1", (p.id,)).fetchone()
        if row:
            covers[p.id] = row[0]
    wanted = [p.cover_face for p in people if p.cover_face]
    chosen = set(Face.select(Face.person, Face.id).where(Face.id.in_(wanted)).tuples()) if wanted else set()
    return [
        {"id": p.id, "name": p.name, "photo_count": photos.get(p.id, 0), "face_count": faces.get(p.id, 0),
         "encoding_count": encodings.get(p.id, 0),
         "cover_face_id": p.cover_face if (p.id, p.cover_face) in chosen else covers.get(p.id)}
        for p in people
    ]


def rename_person(id_or_name, new_name: str) -> Person:
    """Rename a person and their face tags; Conflict if the name is taken (merge them instead)."""
    new_name = clean_name(new_name)
    with database.atomic():
        person = get_person(id_or_name)
        other = Person.get_or_none(fn.casefold(Person.name) == new_name.casefold())
        if other is not None and other.id != person.id:
            raise Conflict(f"there is already a person named {other.name!r}; merge them instead",
                           person_id=other.id)
        old_name = person.name
        if old_name == new_name and not person.hidden:
            return person
        person.name, person.hidden = new_name, False  # naming a hidden stranger shows them
        person.save()
        _retag(old_name, new_name)
        change = _log_change("rename", person, old_name=old_name, new_name=new_name)
    person_changed.send(change)
    events.publish(events.PEOPLE_CHANGED, action="rename", person=new_name, old=old_name,
                   photo_ids=_photos_of(person.id))
    return person


def merge_people(src, dst) -> Person:
    """Make `src` part of `dst`: its encodings, faces, rejections and face tags; src is deleted."""
    with database.atomic():
        source, target = get_person(src), get_person(dst)
        if source.id == target.id:
            raise InvalidInput("cannot merge a person into themselves")
        FaceEncoding.update(person=target).where(FaceEncoding.person == source).execute()
        moved = [f for (f,) in Face.select(Face.id).where(Face.person == source).tuples()]
        Face.update(person=target).where(Face.person == source).execute()
        # the user says they are one person, so a face now theirs is no longer "rejected" for them
        if moved:
            FaceRejection.delete().where(FaceRejection.person == target, FaceRejection.face.in_(moved)).execute()
        for rej in FaceRejection.select().where(FaceRejection.person == source):
            if FaceRejection.select().where(FaceRejection.face == rej.face_id, FaceRejection.person == target).exists():
                rej.delete_instance()
            else:
                rej.person = target
                rej.save()
        _retag(source.name, target.name)
        change = _log_change("merge", source, into=target, old_name=source.name, new_name=target.name)
        source.delete_instance()
        encodings_changed()
    person_changed.send(change)
    events.publish(events.PEOPLE_CHANGED, action="merge", person=target.name, old=source.name,
                   photo_ids=_photos_of(target.id))
    return target


def forget_person(p) -> dict:
    """Remove a person entirely: encodings, face links (faces become unknown) and face tags."""
    with database.atomic():
        person = get_person(p)
        encodings = FaceEncoding.delete().where(FaceEncoding.person == person).execute()
        faces = list(Face.select().where(Face.person == person))
        Face.update(person=None, confirmed=False, distance=None).where(Face.person == person).execute()
        _retag(person.name, None)
        name = person.name
        change = _log_change("forget", person, old_name=name)
        person.delete_instance()
        for face in faces:
            face.person, face.confirmed = None, False
        assign_clusters(faces)
        encodings_changed()
    person_changed.send(change)
    events.publish(events.PEOPLE_CHANGED, action="forget", person=name, photo_ids=sorted({f.photo_id for f in faces}))
    return {"person": name, "encodings": encodings, "faces": len(faces)}


def face_crop(face_id, settings, size: int = 160) -> bytes:
    """A square JPEG of the face with some margin, `size` pixels wide, for the people page."""
    face = get_face(face_id)
    photo = face.photo
    size = max(16, min(int(size), 1024))
    long_side = max(photo.width, photo.height)
    side_norm = 1.6 * max(face.w * photo.width, face.h * photo.height) / long_side  # crop side / long side
    # decode only as large as the crop needs (JPEG draft makes this several times faster)
    needed = int(np.ceil(size / max(side_norm, 1e-3)))
    path = photo_file(photo, settings)
    if not path.is_file():
        raise FileMissing(f"the file of photo {photo.id} is missing: {path}")
    image = open_upright(path, max_side=needed if needed < long_side else None)
    width, height = image.size
    cx, cy = (face.x + face.w / 2) * width, (face.y + face.h / 2) * height
    half = side_norm * max(width, height) / 2
    box = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    crop = image.crop(box).resize((size, size), Image.Resampling.LANCZOS)  # outside the image: black
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=88)
    return buf.getvalue()

