"""Browsing by time and place: the months that have photos (the timeline's headers and scrubber),
photos by date page by page, and the photos that carry GPS (the map). Photos in the trash never show.

Dates are taken_at (camera local time), or the import time for photos without EXIF dates, as
everywhere in search.
"""

from __future__ import annotations

from peewee import fn

from ..db import Photo

MAX_PLACES = 5000  # markers one map request returns; a household's geotagged photos, newest first


def _when():
    return fn.COALESCE(Photo.taken_at, Photo.created_at)


def months() -> list[dict]:
    """[{"month": "2024-07", "count": 12}], newest month first."""
    month = fn.strftime("%Y-%m", _when())
    rows = (Photo.live().select(month.alias("m"), fn.COUNT(Photo.id).alias("n"))
            .group_by(month).order_by(month.desc()).tuples())
    return [{"month": m, "count": n} for m, n in rows if m]


def by_date(limit: int, offset: int = 0, until: str | None = None) -> list[Photo]:
    """Photos newest first by date; `until` ("YYYY-MM") starts at the end of that month."""
    q = Photo.live()
    if until:
        q = q.where(fn.strftime("%Y-%m", _when()) <= until)
    return list(q.order_by(_when().desc(), Photo.id.desc()).offset(offset).limit(limit))


def places(limit: int = MAX_PLACES) -> list[Photo]:
    """Photos with GPS coordinates, newest first (at most `limit`)."""
    return list(Photo.live().where(Photo.gps_lat.is_null(False), Photo.gps_lon.is_null(False))
                .order_by(_when().desc(), Photo.id.desc()).limit(min(limit, MAX_PLACES)))
