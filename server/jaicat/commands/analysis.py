"""Command kinds of the analysis: `analyse` (requeue, then analyse what is pending) and `scan`
(import, then analyse). Whoever owns the data directory analyses: a command's own process runs the
models now (here, or on a Ray cluster it names); a running server's worker owns the models and the
queue, so there the photos are queued and the worker woken."""

from __future__ import annotations

from ..db import Photo
from ..errors import InvalidInput
from ..people.passes import choose_backend, pending_thorough, run_thorough
from ..pipeline.analysis import Analyser, requeue
from ..pipeline.worker import run_pending
from .base import BOOL, INT, PATH, STR, Kind, Progress, flag, only, schema
from .photos import check_paths, import_photos

RAY = {"ray": STR, "ray_workers": INT}


def _check_ray(p: dict) -> dict:
    ray, workers = p.get("ray"), p.get("ray_workers")
    if ray is not None and (not isinstance(ray, str) or not ray.strip() or len(ray) > 500):
        raise InvalidInput("--ray must be an address (local, auto, HOST:6379 or ray://HOST:10001)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise InvalidInput("--ray-workers must be 0 or more")
    return {"ray": ray, "ray_workers": workers}


def _check_analyse(p: dict) -> dict:
    only(p, "missing", "retry_failed", "all", "ray", "ray_workers")
    return {"missing": flag(p, "missing"), "retry_failed": flag(p, "retry_failed"), "all": flag(p, "all"),
            **_check_ray(p)}


def _check_scan(p: dict) -> dict:
    only(p, "paths", "ray", "ray_workers")
    return {"paths": check_paths(p, least=0), **_check_ray(p)}


def serves(rt) -> bool:
    """Whether `rt` is a running server's: it issued the local credential commands ask it with."""
    return rt.local.issued


def _owner_only(rt, p: dict) -> None:
    if serves(rt) and (p["ray"] is not None or p["ray_workers"] is not None):
        raise InvalidInput("--ray and --ray-workers apply when no server runs; the running server "
                           "analyses with its own ray_address setting")


def _cluster(rt, p: dict):
    """The Ray cluster to analyse on: the one `p` names, else the runtime's (ray_address), else None."""
    if p["ray"] is not None or p["ray_workers"] is not None:
        address = p["ray"] if p["ray"] is not None else rt.settings.ray_address
        if not address:
            raise InvalidInput("--ray-workers needs --ray ADDRESS (or the ray_address setting)")
        rt.use_cluster(address, p["ray_workers"] if p["ray_workers"] is not None else rt.settings.ray_workers)
    return rt.cluster


def _ran(analyser: Analyser, cluster) -> list[str]:
    """What an analysis ran, as its line names it."""
    if cluster is None:
        return ["decode"] + [s for s, ok in (("clip+tags", analyser.clip() is not None),
                                             ("caption", analyser.captioner() is not None),
                                             ("faces", analyser.people() is not None)) if ok]
    ran = [*cluster.stages, f"on Ray: {len(cluster.started)} workers"]
    if cluster.lost_batches:
        ran.append(f"{cluster.lost_batches} batches sent again after a worker died")
    return ran


def _thorough(rt, progress: Progress, cluster=None) -> dict | None:
    """The thorough face pass over every photo analysed that it has not seen yet (the ones the one pass
    doubts), on the cluster's workers when the analysis ran there."""
    total = pending_thorough().count() if rt.settings.face_thorough else 0
    if not total:
        return None
    backend = "on Ray" if cluster is not None else choose_backend(rt.settings, rt.faces)
    stage = f"faces, thorough ({backend})"
    progress(0, total, stage)
    r = run_thorough(rt.settings, rt.faces, rt.suggester, progress=lambda d, t: progress(d, t, stage),
                     compute=cluster.thorough_faces if cluster is not None else None)
    return {"backend": backend, "photos": r["photos"], "faces_added": r["faces_added"]}


def _analyse_here(rt, p: dict, progress: Progress) -> dict:
    cluster = _cluster(rt, p)
    if cluster is not None and Photo.pending().exists():
        cluster.connect()  # before the progress: an unreachable cluster is an error, not a bar
    progress(0, Photo.pending().count(), "analysing")
    analyser = Analyser(rt.settings, suggester=rt.suggester, models=rt.models)
    job = run_pending(rt.settings, progress=lambda d, t: progress(d, t, "analysing"), analyser=analyser,
                      cluster=cluster)
    out = {"serving": False, "analysed": None, "ran": [], "message": "", "failed": 0}
    if job is not None:
        out.update(analysed=job.done, ran=_ran(analyser, cluster), message=job.message or "",
                   failed=Photo.select().where(Photo.analysis_error.is_null(False)).count())
    return {**out, "thorough": _thorough(rt, progress, cluster)}


def _analyse_pending(rt, p: dict, progress: Progress) -> dict:
    """Analyse what is pending: here, or by waking the running server's worker."""
    if not serves(rt):
        return _analyse_here(rt, p, progress)
    worker = rt.worker
    if worker.running:
        worker.wake()
    return {"serving": True, "pending": Photo.pending().count(), "worker": worker.running}


def analyse(rt, p: dict, progress: Progress) -> dict:
    """Requeue the photos asked for (failed, analysed without CLIP, every one), then analyse."""
    _owner_only(rt, p)
    n = requeue(missing_embeddings=p["missing"], failed=p["retry_failed"], everything=p["all"])
    return {"requeued": n, **_analyse_pending(rt, p, progress)}


def scan(rt, p: dict, progress: Progress) -> dict:
    """Import the paths (if any), then analyse everything pending."""
    _owner_only(rt, p)
    imported = import_photos(rt, {"paths": p["paths"], "device": None}, progress) if p["paths"] else None
    return {"import": imported, "analysis": {"requeued": 0, **_analyse_pending(rt, p, progress)}}


KINDS = [
    Kind("analyse", "analyse", "Requeue photos and analyse what is pending (the server's worker does)",
         _check_analyse, analyse, schema({"missing": BOOL, "retry_failed": BOOL, "all": BOOL, **RAY}), learns=True),
    Kind("scan", "scan", "Import files and folder trees, then analyse what is pending", _check_scan, scan,
         schema({"paths": {"type": "array", "items": PATH}, **RAY}), job=True, learns=True),
]
