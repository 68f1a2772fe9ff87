"""Browsing by time and place: the months that have photos (the timeline's headers and scrubber),
photos by date page by page, and the photos that carry GPS (the map). Photos in the trash never show.

Dates are taken_at (camera local time), or the import time for photos without EXIF dates, as
everywhere in search. Every read here goes through the `photo_when` index (migrations.py v10: that
date and the id, over the photos not in the trash), so a page costs its rows at any library size:
pages continue from a keyset cursor ("<date>|<id>" of the last photo shown), never an offset.
"""

from __future__ import annotations

import datetime as dt
import re

from peewee import fn

from ..db import Photo, database
from ..errors import InvalidInput

MAX_PLACES = 5000  # markers one map request returns; a household's geotagged photos, newest first
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}[ T][0-9:.]{1,20})\|(\d{1,18})")


def _when():
    return fn.COALESCE(Photo.taken_at, Photo.created_at)


def months() -> list[dict]:
    """[{"month": "2024-07", "count": 12}], newest month first: the counts triggers keep
    (migrations.py PHOTO_MONTH_SQL), a row a month."""
    rows = database.execute_sql("SELECT month, n FROM photomonth WHERE n > 0 ORDER BY month DESC")
    return [{"month": m, "count": n} for m, n in rows if m and re.fullmatch(r"\d{4}-\d{2}", m)]


def _month_end(until: str) -> dt.datetime:
    y, m = (int(x) for x in until.split("-"))
    if not 1 <= m <= 12:
        raise InvalidInput("until must be a month YYYY-MM")
    return dt.datetime(y + (m == 12), m % 12 + 1, 1)


def by_date(limit: int, cursor: str | None = None, until: str | None = None) -> tuple[list[Photo], str | None]:
    """(photos newest first by date, cursor of the next page or None). `until` ("YYYY-MM") starts at
    the end of that month; `cursor` is a page's next_cursor (a plain number: that many photos in,
    as cursors were before)."""
    q = Photo.live().select(Photo, _when().alias("when_key"))
    if until:
        q = q.where(_when() < _month_end(until))
    offset = 0
    if cursor:
        m = _CURSOR.fullmatch(cursor)
        if m:
            when, last = m[1], int(m[2])
            q = q.where((_when() < when) | ((_when() == when) & (Photo.id < last)))
        elif cursor.isdigit() and len(cursor) <= 18:
            offset = int(cursor)
        else:
            raise InvalidInput("invalid cursor")
    rows = list(q.order_by(_when().desc(), Photo.id.desc()).offset(offset).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (f"{rows[-1].when_key}|{rows[-1].id}" if more and rows else None)


def places(limit: int = MAX_PLACES) -> list[dict]:
    """Photos with GPS coordinates, newest first (at most `limit`): {"id", "lat", "lon", "taken_at",
    "filename"}, read as plain rows (a map asks for thousands)."""
    rows = (Photo.live().select(Photo.id, Photo.gps_lat, Photo.gps_lon, Photo.taken_at, Photo.original_filename)
            .where(Photo.gps_lat.is_null(False), Photo.gps_lon.is_null(False))
            .order_by(_when().desc(), Photo.id.desc()).limit(min(limit, MAX_PLACES)))
    return [{"id": i, "lat": lat, "lon": lon, "taken_at": taken, "filename": name}
            for i, lat, lon, taken, name in rows.tuples()]
