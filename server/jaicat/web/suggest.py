"""The suggester's maintenance: learn the library again (a background job), forget what was learned.
What `jaicat suggest learn-library` / `reset` ask the running server for."""

from __future__ import annotations

from flask import Blueprint, jsonify

from . import runtime
from .serialize import job_json

bp = Blueprint("suggest", __name__, url_prefix="/api/suggest")


@bp.post("/learn-library")
def learn_library():
    """Start learning the library (Job kind "learn-library"); the running job if one runs already."""
    return jsonify(job_json(runtime().learning.start())), 202


@bp.post("/reset")
def reset():
    """Forget everything learned; the folder tree stays suggestible by its names and dates."""
    rt = runtime()
    rt.suggester.reset_learning()
    rt.review.refresh()
    return jsonify({"reset": True, "folders": len(rt.suggester.engine().known_folders())})
