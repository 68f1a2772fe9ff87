"""Status changes are compare-and-set: a photo filed while the worker suggests folders for it stays
filed (it never comes back into the review queue)."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from jaicat.db import Photo, database
from jaicat.photos import library
from jaicat.pipeline.worker import Worker
from jaicat.suggest.review import Review
from jaicat.suggest.service import Suggester


@pytest.mark.slow
def test_500_filings_racing_the_worker_leave_none_suggested(settings, add_photos, no_faces, monkeypatch):
    photos = add_photos(500)
    library.create_folder(settings, "Album")
    suggester = Suggester(settings).connect()
    review = Review(settings, suggester)
    inside: queue.Queue = queue.Queue()
    errors: list[str] = []
    filed: set[int] = set()

    # The race, every time: the worker has read the photo and computed its suggestions; before it
    # stores them, the user files the photo (through the review domain, in another thread).
    compute = Suggester.suggest_for_photo

    def suggest_while_the_user_files(self, photo, k=None):
        out = compute(self, photo, k)
        if threading.current_thread().name == "jaicat-worker":
            done = threading.Event()
            inside.put((photo.id, done))
            done.wait(10)
        return out

    monkeypatch.setattr(Suggester, "suggest_for_photo", suggest_while_the_user_files)

    def filer():
        with database.connection_context():
            while len(filed) < len(photos):
                try:
                    pid, done = inside.get(timeout=60)
                except queue.Empty:
                    errors.append("the worker stopped suggesting")
                    return
                try:
                    review.fix(pid, "Album", device="test")
                    filed.add(pid)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{pid}: {e}")
                finally:
                    done.set()

    t = threading.Thread(target=filer)
    t.start()
    worker = Worker(settings, suggester=suggester, idle_wait=60).start()
    try:
        t.join(timeout=240)
        deadline = time.monotonic() + 30
        while not worker.idle.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        suggester.close()
    assert errors == []
    assert len(filed) == 500
    statuses: dict[str, int] = {}
    for (status,) in Photo.select(Photo.status).tuples():
        statuses[status] = statuses.get(status, 0) + 1
    print(f"\n500 filings racing the worker: statuses {statuses}")
    assert statuses == {"filed": 500}  # none turned back into "suggested"
    assert library.review_queue(10)[2] == 0
