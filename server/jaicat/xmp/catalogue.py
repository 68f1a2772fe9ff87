"""Between catalogue rows and sidecar content: what Jaicat knows about a photo, as XMP, and back.

Catalogue boxes are top-left x/y/w/h normalised on the upright image; sidecar boxes are normalised
on the stored image (see geometry.py), so every conversion goes through the photo's orientation.
"""

from __future__ import annotations

from ..db import Face, Person, Photo, PhotoTag, Region, Tag, database
from ..photos.tags import put_tag
from .sidecar import FAVOURITE_RATING
from .geometry import stored_dims, stored_to_upright, swaps_axes, upright_to_stored

PEOPLE_ROOT = "People"  # hierarchical keyword root for people, as digiKam and Lightroom name it
FACE_SOURCES = ("xmp-face",)  # Region.source values that came from a face region of another tool


# dlib's face encodings match at distance <= 0.6 (99.38% on LFW at that threshold, face_recognition's
# default tolerance); at <= 0.5 a match is confident enough to be written to sidecars as a fact.
CONFIDENT_FACE_DISTANCE = 0.5


def photo_content(photo: Photo) -> dict:
    """Sidecar content (sidecar.py shape) for a photo, from its tags, people, faces and regions.

    Faces are written once their person is confirmed, or when the automatic match is confident
    (distance <= CONFIDENT_FACE_DISTANCE): other tools read a sidecar as fact, so a guess near the
    match tolerance stays out (the filing decision's `people` lists every match). The description is
    the photographer's own words when the file had them, else Jaicat's caption.
    """
    tags = _own_tags(photo)
    regions, people = _regions_and_people(photo)
    tags = [t for t in tags if t not in people]  # a person is written once, under People|

    keywords = list(dict.fromkeys([t.split("|")[-1] for t in tags] + people))
    hierarchical = list(dict.fromkeys(tags + [f"{PEOPLE_ROOT}|{p}" for p in people]))
    out_regions = []
    for rtype, name, row in regions:
        x, y, w, h = upright_to_stored((row.x, row.y, row.w, row.h), photo.orientation)
        out_regions.append({"name": name, "type": rtype, "x": x, "y": y, "w": w, "h": h})
    return {
        "keywords": keywords,
        "hierarchical": hierarchical,
        "tagslist": [h.replace("|", "/") for h in hierarchical],
        "description": photo.description or photo.caption or None,
        "dims": stored_dims(photo.width, photo.height, photo.orientation),
        "regions": out_regions,
        "rating": FAVOURITE_RATING if photo.favourite else None,
    }


def _own_tags(photo: Photo) -> list[str]:
    """The photo's visible tag names, sorted (stable: no sidecar churn when scores move). "face" tags
    mirror every face's person, guesses included (people.sync_face_tags): people are written from
    confirmed faces instead."""
    return [pt.tag.name for pt in PhotoTag.visible()
            .where((PhotoTag.photo == photo) & (PhotoTag.source != "face"))
            .order_by(Tag.name)]


def _sure_face(face: Face) -> bool:
    """Confirmed, or matched confidently; a hidden stranger stays out of sidecars."""
    sure = face.confirmed or (face.distance is not None and face.distance <= CONFIDENT_FACE_DISTANCE)
    return sure and not face.person.hidden


def _regions_and_people(photo: Photo) -> tuple[list[tuple[str, str, object]], list[str]]:
    """(XMP region type, name, row) for the photo's sure faces and its drawn regions, and the names
    of the people among them (once each, in order)."""
    regions, people = [], []
    for face in Face.select(Face, Person).join(Person).where(Face.photo == photo).order_by(Face.id):
        if _sure_face(face):
            regions.append(("Face", face.person.name, face))
            people.append(face.person.name)
    person_names = {p.name for p in Person.select(Person.name)}
    for reg in Region.select().where(Region.photo == photo).order_by(Region.id):
        is_face = reg.source in FACE_SOURCES or (reg.label and reg.label in person_names)
        regions.append(("Face" if is_face else "Focus", reg.label or "", reg))
        if is_face and reg.label:
            people.append(reg.label)
    return regions, list(dict.fromkeys(people))


def has_content(content: dict) -> bool:
    return bool(content["keywords"] or content["regions"] or content["description"] or content.get("rating"))


def _written_upright(photo: Photo, dims) -> bool:
    """Some tools put display-orientation boxes in sidecars; for a quarter-turned photo the
    AppliedToDimensions aspect tells which grid the boxes are on."""
    if not dims or not swaps_axes(photo.orientation) or photo.width == photo.height:
        return False
    return (dims[0] > dims[1]) == (photo.width > photo.height)


def apply_content(photo: Photo, data: dict) -> dict:
    """Add sidecar keywords (PhotoTag source "xmp"), caption and regions to a photo's catalogue rows.

    Idempotent: applying the same sidecar twice adds nothing. Regions become Region rows (label = the
    region name; source "xmp-face" for Face regions, "xmp" otherwise) because a Face row needs an
    encoding only the face pipeline can compute. Every keyword, the leaf of every hierarchical keyword
    and every face region's name becomes a tag (people on a photo are tags in Jaicat, see
    people.sync_face_tags). A tag the user removed stays removed.
    """
    added = {"tags": 0, "regions": 0, "caption": False}
    with database.atomic():
        for word in _sidecar_words(data):
            if put_tag(photo, word, "xmp") is not None:
                added["tags"] += 1
        # the photographer's words have their own field: analysis rewrites the caption, never these
        if data.get("description") and not photo.description:
            photo.description = data["description"]
            photo.save(only=[Photo.description])
            added["caption"] = True
        added["regions"] = _add_regions(photo, data)
    return added


def _sidecar_words(data: dict) -> list[str]:
    """Every keyword, the leaf of every hierarchical keyword and every face region's name, once each."""
    words = list(data.get("keywords", []))
    for h in data.get("hierarchical", []) + [t.replace("/", "|") for t in data.get("tagslist", [])]:
        path = [p for p in h.split("|") if p.strip()]
        if path and not (len(path) == 1 and path[0] == PEOPLE_ROOT):
            words.append(path[-1])
    words += [r["name"] for r in data.get("regions", []) if r.get("name") and r.get("type", "").lower() == "face"]
    return [w for w in dict.fromkeys(w.strip() for w in words) if w]


def _add_regions(photo: Photo, data: dict) -> int:
    """Region rows for the sidecar's regions not already on the photo; returns how many were added."""
    upright = _written_upright(photo, data.get("dims"))
    existing = list(Region.select().where(Region.photo == photo))
    added = 0
    for r in data.get("regions", []):
        box = (r["x"], r["y"], r["w"], r["h"])
        x, y, w, h = box if upright else stored_to_upright(box, photo.orientation)
        if w <= 0 or h <= 0:
            continue
        source = "xmp-face" if r.get("type", "").lower() == "face" else "xmp"
        cand = {"name": r.get("name") or "", "x": x, "y": y, "w": w, "h": h}
        if any(_same(cand, e) for e in existing):
            continue
        existing.append(Region.create(photo=photo, x=x, y=y, w=w, h=h, label=cand["name"], source=source))
        added += 1
    return added


def _same(cand: dict, row: Region) -> bool:
    return (row.label or "").casefold() == cand["name"].casefold() and all(
        abs(getattr(row, k) - cand[k]) <= 0.005 for k in "xywh")
