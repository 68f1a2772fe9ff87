"""The review queue reads each waiting status through its index in id order (library.review_queue):
its pages, cursors and totals must be those of the plain definition (one query ordered by rank, id),
and it must not read the filed photos, which in a real catalogue are ten times as many."""

from __future__ import annotations

import random

from jaicat.db import Photo, database
from jaicat.photos import library


def add(n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    stills: list[int] = []
    with database.atomic():
        for i in range(n):
            status = rng.choice(("suggested", "inbox", "skipped", "filed", "filed", "filed"))
            live_of = stills[-1] if stills and rng.random() < 0.1 else None  # a Live Photo's motion part
            p = Photo.create(sha256=f"{i:064x}", phash="0" * 16, original_filename=f"IMG_{i}.jpg", size=1, width=40, height=30,
                             mime="image/jpeg", status=status, root="library" if status == "filed" else "inbox",
                             path=f"IMG_{i}.jpg", live_of=live_of,
                             trashed_at="2026-01-01 00:00:00" if rng.random() < 0.08 else None)
            if live_of is None:
                stills.append(p.id)


def defined(statuses, cursor):
    """The queue as defined: waiting photos by rank (suggested first), then id, after the cursor."""
    rank = (Photo.status != "suggested").cast("INTEGER")
    waiting = Photo.status.in_(statuses) & Photo.trashed_at.is_null() & Photo.live_of.is_null()
    q = Photo.select(Photo.id, rank.alias("rank")).where(waiting)
    if cursor is not None:
        r, last = (int(x) for x in cursor.split(":"))
        q = q.where((rank > r) | ((rank == r) & (Photo.id > last)))
    return [(p.rank, p.id) for p in q.order_by(rank, Photo.id)], q.count() if cursor is None else None


def test_pages_cursors_and_totals_follow_the_definition(settings):
    add(400)
    lists = {None: library.REVIEW_STATUSES, "skipped": ("skipped",), "waiting": library.WAITING_STATUSES}
    for status, statuses in lists.items():
        want, total = defined(statuses, None)
        assert want and total == len(want)
        for limit in (1, 7, 50, 1000):
            seen, cursor = [], None
            while True:
                rows, nxt, count = library.review_queue(limit, cursor, status=status)
                assert count == total
                assert [(p.rank, p.id) for p in rows] == defined(statuses, cursor)[0][:limit]
                seen += [(p.rank, p.id) for p in rows]
                if nxt is None:
                    break
                cursor = nxt
            assert seen == want
    for odd in ("5:0", "-1:0", "0:999999", "1:0"):  # cursors the phone never sends still mean the same
        assert [(p.rank, p.id) for p in library.review_queue(1000, odd)[0]] == defined(library.REVIEW_STATUSES, odd)[0]


def test_the_queue_reads_the_waiting_photos_through_the_status_index(settings, monkeypatch):
    add(60)
    plans: list[str] = []
    execute = database.execute_sql

    def explain(sql, params=None, *a, **kw):
        if sql.lstrip().upper().startswith("SELECT") and '"photo"' in sql:
            plans.extend(str(r[-1]) for r in execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        return execute(sql, params, *a, **kw)

    monkeypatch.setattr(database, "execute_sql", explain)
    library.review_queue(20, status="waiting")
    library.review_queue(20, "0:3")
    assert plans and all("photo_status" in p for p in plans if "photo" in p.lower() and "SCAN" not in p), plans
    assert not any(p.startswith("SCAN") for p in plans), plans
