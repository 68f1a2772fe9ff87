"""Feature records of catalogued photos: EXIF facts, tags (not removed), named people, caption and CLIP
embedding, read from the catalogue in chunks so a rebuild over a whole library stays a few queries."""

from __future__ import annotations

from ..db import Face, Person, Photo, PhotoTag, Tag, blob_to_vec
from .features import PhotoFeatures, camera_label

CHUNK = 500  # SQLite's variable limit, with room to spare


def record(photo: Photo, tags: dict, people: dict) -> PhotoFeatures:
    """The engine's record of `photo`, given its tag scores and named people ({person id: name})."""
    gps = (photo.gps_lat, photo.gps_lon) if photo.gps_lat is not None and photo.gps_lon is not None else None
    emb = blob_to_vec(photo.embedding) if photo.embedding else None
    # a date from the file's modification time is no evidence of when (db.CAPTURED_SQL)
    return PhotoFeatures.build(photo.id, photo.captured_at, tags, list(people.values()), photo.caption,
                               camera_label(photo.camera_make, photo.camera_model), gps, emb,
                               person_ids=list(people))


def tags_and_people(ids: list[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    """({photo id: {tag: score}}, {photo id: {person id: name}}) for the given photos (people the
    user sees: hidden strangers are not)."""
    tags: dict[int, dict] = {}
    people: dict[int, dict] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        q = PhotoTag.visible(PhotoTag.photo, PhotoTag.score, Tag.name).where(PhotoTag.photo.in_(chunk)).tuples()
        for pid, score, name in q:
            tags.setdefault(pid, {})[name] = score
        q = (Face.select(Face.photo, Person.id, Person.name).join(Person)
             .where(Face.photo.in_(chunk), Person.hidden == False)  # noqa: E712
             .order_by(Face.photo, Face.id).tuples())
        for pid, person_id, name in q:
            people.setdefault(pid, {})[person_id] = name
    return tags, people


def features_for_photo(photo: Photo) -> PhotoFeatures:
    """The engine's view of a catalogued photo: EXIF facts, tags (not removed), named people, caption,
    CLIP embedding."""
    tags, people = tags_and_people([photo.id])
    return record(photo, tags.get(photo.id, {}), people.get(photo.id, {}))
