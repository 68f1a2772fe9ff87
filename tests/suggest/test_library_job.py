"""Learning the library as a job: on a first start, with progress, once, without blocking suggestions."""

from __future__ import annotations

import datetime as dt
import queue
import threading

from fixtures.library import dated_jpeg, fill_library

from jaicat import events
from jaicat.db import Job, Photo, get_meta, set_meta
from jaicat.photos.ingest import ingest_file
from jaicat.runtime import Runtime
from jaicat.suggest.library_job import KIND, LEARNING_KEY
from jaicat.suggest.service import LEARNED_KEY


def _progress_events(q) -> list[dict]:
    out = []
    while True:
        try:
            ev = q.get_nowait()
        except queue.Empty:
            return out
        if ev["type"] == events.JOB_PROGRESS and ev["kind"] == KIND:
            out.append(ev)


def test_first_start_learns_the_library_once_with_progress(settings, tmp_path):
    n = fill_library(settings.library, 30)
    (tmp_path / "new.jpg").write_bytes(dated_jpeg(1, dt.datetime(2023, 5, 11, 12)))
    waiting = ingest_file(tmp_path / "new.jpg", settings).photo
    rt = Runtime(settings).connect()
    hub = events.Hub()
    q = hub.subscribe()
    try:
        assert rt.learning.needed()
        job = rt.learning.start_if_first()
        assert rt.learning.wait(30)
        evs = _progress_events(q)
    finally:
        hub.unsubscribe(q)
        rt.close()
    job = Job.get_by_id(job.id)
    assert (job.kind, job.status, job.done, job.total) == (KIND, "done", n, n), job.message
    assert len(evs) >= 3 and evs[-1]["status"] == "done" and evs[-1]["done"] == n
    assert [e["done"] for e in evs] == sorted(e["done"] for e in evs)  # progress only moves on
    assert get_meta(LEARNED_KEY) == str(n) and get_meta(LEARNING_KEY) is None
    # the waiting photo was re-suggested when learning finished (Review.refresh stored it)
    assert Photo.get_by_id(waiting.id).suggestions[0]["folder"] == "Rome"
    # learned once: the next start does not learn again
    again = Runtime(settings).connect()
    try:
        assert not again.learning.needed() and again.learning.start_if_first() is None
        assert again.suggester.engine().history_size == n  # the snapshot: every photo once
    finally:
        again.close()


def test_learning_again_never_doubles_and_does_not_hold_the_suggester(settings):
    n = fill_library(settings.library, 10)
    rt = Runtime(settings).connect()
    free = []

    def progress(done, total):  # another thread can take the suggester's lock while learning runs
        t = threading.Thread(target=lambda: free.append(rt.suggester._lock.acquire(timeout=2)
                                                        and (rt.suggester._lock.release() or True)))
        t.start()
        t.join()

    try:
        assert rt.suggester.learn_library(progress=progress) == n
        assert rt.suggester.learn_library() == n
        assert rt.suggester.engine().history_size == n
    finally:
        rt.close()
    assert free and all(free)


def test_an_interrupted_job_runs_again_at_the_next_start(settings):
    n = fill_library(settings.library, 5)
    stale = Job.create(kind=KIND, status="running", total=n, done=2)
    set_meta(LEARNING_KEY, "running")  # the server stopped while learning
    rt = Runtime(settings).connect()
    try:
        job = rt.learning.start_if_first()
        assert job is not None and rt.learning.wait(30)
    finally:
        rt.close()
    assert Job.get_by_id(stale.id).status == "failed"
    assert Job.get_by_id(job.id).status == "done" and get_meta(LEARNED_KEY) == str(n)


def test_no_first_start_job_without_photos_in_folders_or_after_decisions(settings, tmp_path):
    rt = Runtime(settings).connect()
    try:
        assert not rt.learning.needed()  # an empty library: nothing to learn
        (settings.library / "Empty").mkdir(parents=True)
        (settings.library / "loose.jpg").write_bytes(dated_jpeg(2, dt.datetime(2024, 1, 1)))
        assert not rt.learning.needed()  # a folder without photos, a photo outside any folder
        fill_library(settings.library, 1)
        assert rt.learning.needed()
        from jaicat.photos import library

        (tmp_path / "a.jpg").write_bytes(dated_jpeg(3, dt.datetime(2024, 1, 2)))
        library.file_photo(ingest_file(tmp_path / "a.jpg", settings).photo, "Rome", settings)
        assert not rt.learning.needed()  # the user files already: learning follows the decisions
    finally:
        rt.close()
