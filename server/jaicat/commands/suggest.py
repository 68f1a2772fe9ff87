"""Command kinds of the folder suggester: learn a learning log or the library, forget what was learned."""

from __future__ import annotations

from .base import PATH, Kind, Progress, nothing, schema
from .photos import check_file


def import_learning_log(rt, p: dict, progress: Progress) -> dict:
    """Learn the desktop scripts' tag_learning_log.json; the waiting cards are suggested again."""
    progress(0, 1, "learning the log")
    n = rt.suggester.import_learning_log(p["file"])
    rt.review.refresh()
    progress(1, 1, "learning the log")
    return {"decisions": n, "line": f"imported {n} decisions"}


def learn_library(rt, p: dict, progress: Progress) -> dict:
    """Learn again from the photos filed in the library; the waiting cards are suggested again."""
    n = rt.suggester.learn_library(progress=lambda d, t: progress(d, t, "learning the library"))
    folders = len(rt.suggester.engine().known_folders())
    rt.review.refresh()
    return {"learned": n, "folders": folders, "line": f"learned {n} photos in {folders} folders"}


def reset(rt, p: dict, progress: Progress) -> dict:
    """Forget everything learned; the folder tree stays suggestible by its names and dates."""
    rt.suggester.reset_learning()
    rt.review.refresh()
    return {"reset": True, "folders": len(rt.suggester.engine().known_folders())}


KINDS = [
    Kind("suggest-import-log", "suggest/import-log", "Learn the desktop scripts' tag_learning_log.json", check_file,
         import_learning_log, schema({"file": PATH}, "file"), job=True, learns=True),
    Kind("learn-library", "suggest/learn-library", "Learn the library again", nothing, learn_library,
         job=True, learns=True, stage="learning the library"),
    Kind("suggest-reset", "suggest/reset", "Forget everything the suggester learned", nothing, reset, learns=True),
]
