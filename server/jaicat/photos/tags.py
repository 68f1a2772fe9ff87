"""Photo tags: hand edits and the auto-taggers' writes, with one rule between them — a tag the user
removed stays removed (PhotoTag.removed=True is kept as a tombstone, and auto-taggers skip it).

Names are matched case-insensitively ("Dog" and "dog" are one tag, "Élan" and "élan" too: Python's
casefold); the first spelling is kept. Every writer, XMP import and face tagging included, gets its Tag
through `tag_named`, and adds to a photo through `put_tag` when it must not override the user.
Sources: "user" (by hand), "clip" (zero-shot), "blip" (named in the caption), "face", "xmp".
"""

from __future__ import annotations

import re
from typing import Iterable

from peewee import fn

from .. import events
from ..db import Photo, PhotoTag, Tag, database
from ..errors import InvalidInput
from ..text import plain_text

AUTO_SOURCES = ("clip", "blip")


def clean_tag(name: str) -> str:
    """A tag as stored: NFC, whitespace collapsed; InvalidText for a control character, InvalidInput
    if empty or over 100 characters."""
    name = re.sub(r"\s+", " ", plain_text("" if name is None else str(name), "tag")).strip()
    if not name or len(name) > 100:
        raise InvalidInput("a tag needs 1-100 characters")
    return name


def tag_key(name: str) -> str:
    """What two spellings of one tag have in common ("Dog", "dog", "DOG" -> "dog")."""
    return clean_tag(name).casefold()


def tag_named(name: str) -> Tag:
    """The Tag with this name in any case, created with this spelling if new: the one way to a Tag row."""
    return Tag.named(clean_tag(name))


def put_tag(photo: Photo | int, name: str, source: str, score: float = 1.0) -> PhotoTag | None:
    """Give a photo tag `name` from `source` unless it has that tag already, in any spelling and from
    any source, or the user removed it (then it stays removed). Returns the new row, or None.

    For writers of outside data that must not override the user (XMP import, face tagging): a name
    that is no tag (empty, over 100 characters) is skipped too.
    """
    try:
        name = clean_tag(name)
    except InvalidInput:
        return None
    with database.atomic():
        tag = Tag.named(name)
        if PhotoTag.select().where(PhotoTag.photo == photo, PhotoTag.tag == tag).exists():
            return None
        return PhotoTag.create(photo=photo, tag=tag, source=source, score=score)


def _photo(photo_or_id) -> Photo:
    return photo_or_id if isinstance(photo_or_id, Photo) else Photo.get_or_404(photo_or_id)


def photo_tags(photo_or_id, include_removed: bool = False) -> list[dict]:
    """[{"name", "source", "score"(, "removed")}] best first."""
    photo = _photo(photo_or_id)
    q = (PhotoTag.select(PhotoTag, Tag).join(Tag).where(PhotoTag.photo == photo)
         .order_by(PhotoTag.score.desc(), Tag.name))
    out = []
    for pt in q:
        if pt.removed and not include_removed:
            continue
        row = {"name": pt.tag.name, "source": pt.source, "score": round(float(pt.score), 4)}
        if include_removed:
            row["removed"] = bool(pt.removed)
        out.append(row)
    return out


def add_tag(photo_or_id, name: str) -> PhotoTag:
    """The user tags a photo (also undoes an earlier removal of that tag)."""
    photo = _photo(photo_or_id)
    with database.atomic():
        tag = tag_named(name)
        pt = PhotoTag.get_or_none(PhotoTag.photo == photo, PhotoTag.tag == tag)
        if pt is None:
            return PhotoTag.create(photo=photo, tag=tag, source="user", score=1.0)
        pt.removed, pt.source, pt.score = False, "user", 1.0
        pt.save()
        return pt


def remove_tag(photo_or_id, name: str) -> PhotoTag:
    """The user removes a tag; it is remembered so the auto-taggers never put it back.

    Removing a tag the photo does not have records the "not this" too (NotFound only for an unknown photo).
    """
    photo = _photo(photo_or_id)
    with database.atomic():
        tag = tag_named(name)
        pt = PhotoTag.get_or_none(PhotoTag.photo == photo, PhotoTag.tag == tag)
        if pt is None:
            return PhotoTag.create(photo=photo, tag=tag, source="user", score=0.0, removed=True)
        pt.removed = True
        pt.save()
        return pt


def set_user_tags(photo_or_id, wanted: Iterable[str]) -> None:
    """Make a photo's tags (other than face names) exactly `wanted`: missing ones are added as the
    user's, the others removed (and the removals remembered, see remove_tag)."""
    photo = _photo(photo_or_id)
    current = {tag_key(t["name"]): t["name"] for t in photo_tags(photo) if t["source"] != "face"}
    wanted_keys = {tag_key(t): t for t in wanted}
    with database.atomic():
        for key, name in wanted_keys.items():
            if key not in current:
                add_tag(photo, name)
        for key, name in current.items():
            if key not in wanted_keys:
                remove_tag(photo, name)


def edit_photo_tags(photo_or_id, wanted: Iterable[str]) -> list[dict]:
    """A hand edit of a photo's tags outside a review decision: set_user_tags, then announce it as
    "photo.changed" so listeners (the XMP sidecar follower, connected phones) pick it up.
    Returns the photo's tags now (photo_tags)."""
    photo = _photo(photo_or_id)
    set_user_tags(photo, wanted)
    now = photo_tags(photo)
    events.publish(events.PHOTO_CHANGED, photo_id=photo.id, change="tags", tags=[t["name"] for t in now])
    return now


def change_tags(photo_or_id, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[dict]:
    """The user adds and removes some tags (`jaicat tag add/remove`): add_tag / remove_tag each
    (names checked first), then announced as "photo.changed". Returns the photo's tags now."""
    photo = _photo(photo_or_id)
    add, remove = [clean_tag(t) for t in add], [clean_tag(t) for t in remove]
    for t in add:
        add_tag(photo, t)
    for t in remove:
        remove_tag(photo, t)
    now = photo_tags(photo)
    events.publish(events.PHOTO_CHANGED, photo_id=photo.id, change="tags", tags=[t["name"] for t in now])
    return now


def set_auto_tags(photo: Photo, source: str, tags: Iterable[tuple[str, float]]) -> list[str]:
    """Replace `photo`'s tags from auto-tagger `source` with `tags`; returns the names now stored.

    Never touches removed tags (stay removed) nor tags from the user, faces or XMP (they win).
    When clip and blip both propose a tag, one row keeps the higher score.
    """
    wanted = {}
    for name, score in tags:
        key = tag_key(name)
        if key not in wanted or score > wanted[key][1]:
            wanted[key] = (clean_tag(name), float(score))
    kept = []
    with database.atomic():
        existing = {tag_key(pt.tag.name): pt for pt in
                    PhotoTag.select(PhotoTag, Tag).join(Tag).where(PhotoTag.photo == photo)}
        for key, pt in existing.items():
            if pt.source == source and not pt.removed and key not in wanted:
                pt.delete_instance()
        for key, (name, score) in wanted.items():
            pt = existing.get(key)
            if pt is None:
                pt = PhotoTag.create(photo=photo, tag=tag_named(name), source=source, score=score)
            elif pt.removed or pt.source not in AUTO_SOURCES:
                continue
            elif pt.source == source or score > pt.score:
                pt.source, pt.score = source, score
                pt.save()
            kept.append(pt.tag.name)
    return kept


def tag_counts() -> list[dict]:
    """[{"name", "count"}] over photos that carry the tag (removed ones not counted), most used first."""
    # counted off the (tag, removed) index, then named: no join over every photo's tag rows
    counts = (PhotoTag.select(PhotoTag.tag, fn.COUNT(PhotoTag.id)).where(PhotoTag.removed == False)  # noqa: E712
              .group_by(PhotoTag.tag).tuples())
    n = dict(counts)
    names = Tag.select(Tag.id, Tag.name).where(Tag.id.in_(list(n))).tuples() if n else []
    return [{"name": name, "count": n[i]} for i, name in sorted(names, key=lambda t: (-n[t[0]], t[1]))]
