"""The runtime: what one data directory runs, created by `jaicat serve` (or a CLI command), never by
create_app."""

from __future__ import annotations

import datetime as dt

from jaicat import web
from jaicat.db import Photo
from jaicat.photos import library
from jaicat.photos.ingest import ingest_file
from jaicat.runtime import Runtime
from jaicat.web.app import create_app


def _photos(settings, media_dir, n):
    out = []
    for i in range(1, n + 1):
        p = ingest_file(media_dir / "exif" / f"orientation_{i}.jpg", settings).photo
        Photo.update(taken_at=dt.datetime(2024, i, 10, 12, 0)).where(Photo.id == p.id).execute()
        out.append(Photo.get_by_id(p.id))
    return out


def test_create_app_holds_a_runtime_it_does_not_start(settings):
    app = create_app(settings)
    with app.app_context():
        runtime = web.runtime()
    assert isinstance(runtime, Runtime) and runtime.settings is settings
    assert not runtime.worker.running
    given = Runtime(settings)
    with create_app(settings, runtime=given).app_context():
        assert web.runtime() is given


def test_a_runtime_learns_from_filing_while_open_only(settings, media_dir):
    a, b = _photos(settings, media_dir, 2)
    with Runtime(settings) as runtime:
        assert runtime.suggester.engine().history_size == 0
        library.file_photo(a, "Trips", settings)
        assert runtime.suggester.engine().history_size == 1  # learned as it was filed
        assert not runtime.worker.running  # a command's runtime analyses nothing in the background
    assert (settings.data_dir / "suggest" / "engine.pkl").is_file()  # saved on close
    library.file_photo(b, "Trips", settings)
    assert runtime.suggester.engine().history_size == 1  # closed: no longer connected


def test_a_runtime_stops_everything_even_when_one_step_fails(settings, media_dir, monkeypatch):
    # A failing step must not leave the face pass's process running, the suggester unsaved or the data
    # directory locked.
    a, = _photos(settings, media_dir, 1)
    runtime = Runtime(settings).connect()
    library.file_photo(a, "Trips", settings)
    stopped = []
    monkeypatch.setattr(runtime.face_pass, "stop", lambda *a, **kw: stopped.append("faces"))

    def broken(*a, **kw):
        raise RuntimeError("the worker would not stop")

    monkeypatch.setattr(runtime.worker, "stop", broken)
    runtime.close()
    assert stopped == ["faces"]
    assert (settings.data_dir / "suggest" / "engine.pkl").is_file()  # saved after the failed step
    with Runtime(settings) as again:  # the lock was let go
        assert again.suggester.engine().history_size == 1
