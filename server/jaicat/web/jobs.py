"""Background jobs and their progress (rows written by the worker)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..db import Job
from ..errors import NotFound
from .params import BadRequest
from .serialize import job_json

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")
STATUSES = ("queued", "running", "done", "failed")


@bp.get("")
def list_jobs():
    q = Job.select().order_by(Job.id.desc()).limit(100)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        q = q.where(Job.status == status)
    return jsonify({"items": [job_json(j) for j in q]})


@bp.get("/<int:job_id>")
def job(job_id: int):
    row = Job.get_or_none(Job.id == job_id)
    if row is None:
        raise NotFound(f"no job {job_id}")
    return jsonify(job_json(row))
