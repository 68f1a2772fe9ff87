"""Favourites: a star on a photo, found with `is:favourite`. Starring publishes `photo.changed`, so the
server's sidecar follower writes it to the photo's XMP sidecar as xmp:Rating 5 (xmp/catalogue.py),
which digiKam, Lightroom, darktable and Immich read as a favourite."""

from __future__ import annotations

from .. import events
from ..db import Photo
from ..errors import InvalidInput


def set_favourite(photo: Photo, on: bool) -> Photo:
    """Star (`on`) or unstar a photo; returns the fresh row."""
    if not isinstance(on, bool):
        raise InvalidInput("favourite must be true or false")
    if photo.trashed_at is not None:
        raise InvalidInput(f"photo {photo.id} is in the trash; restore it first")
    Photo.update(favourite=on).where(Photo.id == photo.id).execute()
    events.publish(events.PHOTO_CHANGED, photo_id=photo.id, change="favourite", favourite=on)
    return Photo.get_by_id(photo.id)
