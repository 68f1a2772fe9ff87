"""Live Photos: a still (HEIC or JPEG) and a short MOV that share Apple's content identifier are one
item. The MOV is the still's motion part (`Photo.live_of`): it is catalogued, kept and filed like any
file, but lists, the review queue and the viewer show the still, which carries its motion part along.
"""

from __future__ import annotations

from ..db import Photo


def pair(photo: Photo) -> Photo | None:
    """Link a newly catalogued photo with the other half of its Live Photo if that is already here
    (either may arrive first). Returns the other half, or None. Call inside the cataloguing transaction."""
    if not photo.live_id:
        return None
    if photo.is_video:
        still = (Photo.select().where((Photo.live_id == photo.live_id) & (Photo.media == "photo")
                                      & (Photo.id != photo.id)).order_by(Photo.id).first())
        if still is None:
            return None
        photo.live_of = still
        photo.save(only=[Photo.live_of])
        return still
    motion = (Photo.select().where((Photo.live_id == photo.live_id) & (Photo.media == "video")
                                   & Photo.live_of.is_null()).order_by(Photo.id).first())
    if motion is None:
        return None
    motion.live_of = photo
    motion.save(only=[Photo.live_of])
    return motion


def motion_of(photo: Photo) -> Photo | None:
    """The motion part of a Live Photo's still, or None."""
    return Photo.select().where(Photo.live_of == photo.id).order_by(Photo.id).first()


def motion_parts(photo: Photo) -> list[Photo]:
    return list(Photo.select().where(Photo.live_of == photo.id).order_by(Photo.id))


def is_motion_part(photo: Photo) -> bool:
    return photo.live_of_id is not None


def shown_items(query):
    """Narrow a Photo query to what lists show: a Live Photo's motion part goes with its still."""
    return query.where(Photo.live_of.is_null())


__all__ = ["pair", "motion_of", "motion_parts", "is_motion_part", "shown_items"]
