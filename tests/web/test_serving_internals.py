"""The canary for gunicorn upgrades: web/serving relies on gunicorn internals (no public API covers a
worker that reads requests on its event loop); when one changes, this fails with one message naming
each change, before the hostile-network protections silently stop working."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import gunicorn
import pytest

from jaicat.web import serving
from jaicat.web.serving import front, internals

ROOT = Path(__file__).resolve().parents[2]


def test_the_gunicorn_internals_the_front_relies_on_are_as_tested():
    found = internals.problems()
    assert not found, internals.message(found)


def test_the_canary_sees_a_change(monkeypatch):
    from gunicorn.http import unreader
    from gunicorn.workers import gthread

    monkeypatch.delattr(unreader.Unreader, "take_buffered")
    monkeypatch.setattr(gthread.ThreadWorker, "finish_request", lambda self, conn: None)
    found = internals.problems()
    assert "gunicorn.http.unreader.Unreader.take_buffered is gone" in found
    assert any(f.startswith("gunicorn.workers.gthread.ThreadWorker.finish_request(self, conn), expected")
               for f in found)
    assert "re-check web/serving" in internals.message(found).lower()


def test_the_worker_refuses_to_start_on_changed_internals(monkeypatch):
    monkeypatch.setattr(internals, "problems", lambda: ["gunicorn.workers.gthread._DEFER is gone"])
    worker = front.FrontWorker.__new__(front.FrontWorker)
    with pytest.raises(RuntimeError, match="_DEFER is gone"):
        worker.init_process()


def test_the_docstring_lists_every_internal():
    listed = {w for span in re.findall(r"`([^`]+)`", serving.__doc__) for w in re.findall(r"\w+", span)}
    missing = []
    for dotted, kind, expect in internals.INTERNALS:
        names = list(expect) if kind == "sets" else [dotted.rsplit(".", 1)[-1]]
        missing += [f"{dotted}: {n}" for n in names if n not in listed]
    assert not missing, f"web/serving/__init__.py's docstring does not list: {missing}"


def test_gunicorn_is_pinned_to_the_tested_major_version():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("gunicorn"))
    major = internals.TESTED_MAJOR
    assert re.sub(r"\s", "", pin) == f"gunicorn>={major},<{major + 1}", pin
    assert int(gunicorn.__version__.split(".")[0]) == major
