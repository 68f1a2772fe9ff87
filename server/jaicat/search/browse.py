"""Browsing by time and place: the months that have photos (the timeline's headers and scrubber),
photos by date page by page, and the photos that carry GPS (the map). Photos in the trash never show.

The timeline's date is the capture date (db.CAPTURED_SQL): photos without one (no date in the file,
or only the file's modification time) are "undated" and come after every dated photo, newest id
first, never under the month they were copied or sent in. Every read goes through the
`photo_captured` index (migrations.py v12: that date, the id, over the photos not in the trash), so
a page costs its rows at any library size: pages continue from a keyset cursor ("<date>|<id>" of the
last photo shown, "undated|<id>" among the undated), never an offset. The map keeps its own order,
newest first by taken_at or import time, off the `photo_place` index.
"""

from __future__ import annotations

import datetime as dt
import re

from peewee import SQL, fn

from ..db import CAPTURED_SQL, Photo, database
from ..errors import InvalidInput
from ..migrations import UNDATED

MAX_PLACES = 5000  # markers one map request returns; a household's geotagged photos, newest first
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}[ T][0-9:.]{1,20}|" + UNDATED + r")\|(\d{1,18})")


def _captured():
    return SQL(CAPTURED_SQL.format(r=""))


def months() -> tuple[list[dict], int]:
    """([{"month": "2024-07", "count": 12}], undated count): the months newest first and the photos
    without a capture date, from the counts triggers keep (migrations.py PHOTO_MONTH_SQL)."""
    rows = database.execute_sql("SELECT month, n FROM photomonth WHERE n > 0 ORDER BY month DESC").fetchall()
    undated = sum(n for m, n in rows if m == UNDATED)
    return [{"month": m, "count": n} for m, n in rows if m and re.fullmatch(r"\d{4}-\d{2}", m)], undated


def _month_end(until: str) -> dt.datetime:
    y, m = (int(x) for x in until.split("-"))
    if not 1 <= m <= 12:
        raise InvalidInput("until must be a month YYYY-MM")
    return dt.datetime(y + (m == 12), m % 12 + 1, 1)


def _start(cursor: str | None, until: str | None) -> tuple[str | None, int | None]:
    """(the capture date to read below, or UNDATED; the id to read below at that date, or None)."""
    if cursor:
        m = _CURSOR.fullmatch(cursor)
        if not m:
            raise InvalidInput("invalid cursor")
        return m[1], int(m[2])
    if until == UNDATED:
        return UNDATED, None
    return (str(_month_end(until)) if until else None), None


def by_date(limit: int, cursor: str | None = None, until: str | None = None) -> tuple[list[Photo], str | None]:
    """(photos newest first by capture date, then the undated ones; cursor of the next page or None).
    `until` ("YYYY-MM", or "undated") starts at the end of that month (at the undated photos);
    `cursor` is a page's next_cursor."""
    when, last = _start(cursor, until)
    rows: list[Photo] = []
    if when != UNDATED:  # the dated photos, through the index's range
        key = _captured()
        q = Photo.live().select(Photo, key.alias("when_key")).where(key.is_null(False))
        if when is not None:
            # the range bound first, so SQLite seeks to the cursor instead of scanning down to it
            q = q.where(key <= when, (key < when) | (Photo.id < last)) if last is not None else q.where(key < when)
        rows = list(q.order_by(key.desc(), Photo.id.desc()).limit(limit + 1))
        last = None
    if len(rows) <= limit:  # then the undated ones, newest id first
        q = Photo.live().select(Photo, SQL(f"'{UNDATED}'").alias("when_key")).where(_captured().is_null())
        if last is not None:
            q = q.where(Photo.id < last)
        rows += list(q.order_by(Photo.id.desc()).limit(limit + 1 - len(rows)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (f"{rows[-1].when_key}|{rows[-1].id}" if more and rows else None)


def _map_order():
    return fn.COALESCE(Photo.taken_at, Photo.created_at)


def places(limit: int = MAX_PLACES) -> list[dict]:
    """Photos with GPS coordinates, newest first (at most `limit`): {"id", "lat", "lon", "taken_at",
    "filename"}, read as plain rows (a map asks for thousands)."""
    rows = (Photo.live().select(Photo.id, Photo.gps_lat, Photo.gps_lon, Photo.taken_at, Photo.original_filename)
            .where(Photo.gps_lat.is_null(False), Photo.gps_lon.is_null(False))
            .order_by(_map_order().desc(), Photo.id.desc()).limit(min(limit, MAX_PLACES)))
    return [{"id": i, "lat": lat, "lon": lon, "taken_at": taken, "filename": name}
            for i, lat, lon, taken, name in rows.tuples()]
