"""Background jobs and their progress (rows written by the worker), and asking for analysis again."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..db import Job, Photo
from ..errors import NotFound
from ..pipeline.analysis import requeue
from . import runtime
from .params import BadRequest, field, json_body
from .serialize import job_json

bp = Blueprint("jobs", __name__, url_prefix="/api")
STATUSES = ("queued", "running", "done", "failed")


@bp.get("/jobs")
def list_jobs():
    q = Job.select().order_by(Job.id.desc()).limit(100)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        q = q.where(Job.status == status)
    return jsonify({"items": [job_json(j) for j in q]})


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    row = Job.get_or_none(Job.id == job_id)
    if row is None:
        raise NotFound(f"no job {job_id}")
    # a command job's result (what the command prints), while the server keeps it
    return jsonify({**job_json(row), "result": runtime().commands.result(row.id)})


@bp.post("/analysis/requeue")
def analyse_again():
    """Put photos back in the analysis queue (what `jaicat analyse --missing/--retry-failed/--all`
    asks the running server) and wake its worker."""
    body = json_body(optional=True)
    n = requeue(missing_embeddings=field(body, "missing", bool, default=False),
                failed=field(body, "retry_failed", bool, default=False),
                everything=field(body, "all", bool, default=False))
    worker = runtime().worker
    if worker.running:
        worker.wake()
    return jsonify({"requeued": n, "pending": Photo.pending().count(), "worker": worker.running}), 202
