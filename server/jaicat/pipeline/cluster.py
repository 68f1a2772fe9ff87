"""Analysis on a Ray cluster: the models run on Ray actors (this PC, or a second PC with the GPU), the
catalogue stays here.

    cluster = Cluster(settings, "local")          # or "HOST:6379", "ray://HOST:10001", "auto"
    run_pending(settings, analyser=analyser, cluster=cluster)   # pipeline/worker.py drives it
    cluster.close()

Each actor (`AnalysisWorker`) loads the models once and runs `Analyser.compute` (and, in the caption
pass, `Analyser.caption_texts`) on batches of (photo id, photo bytes): the bytes travel through Ray's object store, so workers need no access to the
library's disk. Results come back here and `Analyser.store` writes them in this process's own
transactions, so the server stays the one owner of the catalogue and the suggester runs as usual.

A worker that dies (killed, out of memory, its PC switched off) loses only the batches it held: each is
sent again to a fresh actor. A batch that kills workers twice is split into single photos, and a photo
that kills workers three times is marked failed with the reason, so one poisonous file cannot stall the
queue. A photo is written only when its result arrives, so every photo is analysed (stored) once.

The thorough face pass of `jaicat analyse --ray` runs there too (`Cluster.thorough_faces`, the compute
of passes.run_thorough): a photo the one pass doubts goes to the next worker as its full-resolution
file's bytes, and its faces come back to be stored here.

Ray is an optional dependency (`pip install jaicat[ray]`); without it, or when the cluster cannot be
reached, ClusterUnavailable says so.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..db import Photo
from ..errors import ClusterUnavailable, JaicatError
from ..people.faces import FaceModels
from ..people.passes import thorough_faces
from ..photos import imaging
from .analysis import Analyser, Computed, analysis_source, model_side
from ..models.tagger import Vocabulary, load_vocabulary

log = logging.getLogger(__name__)

LOCAL = "local"
IN_FLIGHT_PER_WORKER = 2  # one batch computing, one waiting in the actor: workers never idle between batches
SPLIT_AFTER = 2  # a batch lost this many times is retried photo by photo
GIVE_UP_AFTER = 3  # a single photo lost this many times is marked failed
STALL_TIMEOUT_S = 600.0  # no result from any worker for this long: the cluster is unusable
START_TIMEOUT_S = 300.0  # workers that have not loaded their models after this long are not coming
PROBE_TIMEOUT_S = 5.0  # Ray itself waits minutes on an address nobody answers: ask the port first


class AnalysisWorker:
    """One Ray actor: an Analyser whose models are loaded once, fed photo bytes, returning Computed.

    `settings` are the server's; a worker PC points `JAICAT_MODELS_DIR` at its own copy of the weights
    (`jaicat models pull` there), since the server's models dir is not on its disk."""

    def __init__(self, settings: Settings, vocabulary: Vocabulary):
        models_dir = os.environ.get("JAICAT_MODELS_DIR")
        if models_dir:
            settings = dataclasses.replace(settings, models_dir=Path(models_dir))
        self.analyser = Analyser(settings, vocabulary=vocabulary)
        self._faces: FaceModels | None = None  # the thorough pass's detector and encoder, on first use

    def thorough(self, data: bytes, width: int) -> list:
        """The thorough face pass's faces on one photo's full-resolution file bytes (its catalogue width)."""
        settings = self.analyser.settings
        if self._faces is None:
            self._faces = FaceModels(models_dir=settings.models, device=settings.device)
        return thorough_faces(io.BytesIO(data), width, settings, self._faces)

    def caption(self, batch: list[tuple[int, bytes]]) -> list[str | None]:
        """(photo id, bytes) pairs -> each photo's caption (None where there is none)."""
        return self.analyser.caption_texts(batch)

    def ready(self) -> dict:
        """Load every model now (the vocabulary's text embeddings too); where this worker runs and which
        stages it has."""
        a = self.analyser
        if a.tagger() is not None:
            a.tagger().text_matrix()
        stages = ["decode"] + [s for s, ok in (("clip+tags", a.clip() is not None),
                                               ("caption", a.captioner() is not None),
                                               ("faces", a.people() is not None)) if ok]
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname(), "stages": stages}

    def compute(self, batch: list[tuple[int, bytes]]) -> tuple[list[Computed], list[str], float]:
        """(photo id, bytes) pairs -> what the models found, the stages skipped for lack of a model, and
        the seconds the models took (the rest of a batch's round trip is the cluster's overhead)."""
        t0 = time.perf_counter()
        computed = self.analyser.compute(batch)
        return computed, sorted(self.analyser.skipped_stages), time.perf_counter() - t0


@dataclass
class _Batch:
    photo_ids: list[int]
    payload: object  # ray.ObjectRef of [(photo id, bytes)] for the photos that could be read
    unreadable: dict[int, str] = field(default_factory=dict)  # photo id -> why its file could not be read
    attempts: int = 0
    sent_at: float = 0.0
    nbytes: int = 0


def photo_bytes(photo: Photo, settings: Settings) -> bytes:
    """What a worker gets for a photo: the bytes of the file in-process analysis reads
    (analysis.analysis_source: its largest thumbnail, ~0.3 MB instead of a 12 MP original); for a
    video, its poster frame as a PNG, never the video's gigabytes."""
    path = analysis_source(photo, settings)
    if not photo.is_video:
        return path.read_bytes()
    side = model_side(settings)
    out = io.BytesIO()
    imaging.open_upright(path, max_side=side).save(out, "PNG")
    return out.getvalue()


def _ray():
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("Ray is not installed: pip install 'jaicat[ray]'") from None
    return ray


def _probe(address: str) -> None:
    """ClusterUnavailable unless something listens at HOST:PORT (or ray://HOST:PORT)."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterUnavailable(f"Ray address {address!r} is not local, auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        raise ClusterUnavailable(f"cannot reach the Ray cluster at {address}: {e.strerror or e}") from None


def _lost_worker_errors(ray) -> tuple[type[BaseException], ...]:
    ex = ray.exceptions
    return tuple(getattr(ex, n) for n in ("RayActorError", "WorkerCrashedError", "ObjectLostError",
                                            "OwnerDiedError", "NodeDiedError") if hasattr(ex, n))


class Cluster:
    """The Ray cluster analysis runs on: `address` is "local" (a Ray runtime started by this process, or
    the one it already has), "auto" (a cluster started on this PC with `ray start --head`),
    "HOST:PORT" or "ray://HOST:PORT". `workers`: how many actors (0: one per GPU, else one per two
    CPUs). Connects on first use; `close()` ends the actors and a runtime this process started."""

    def __init__(self, settings: Settings, address: str, workers: int = 0):
        self.settings = settings
        self.address = (address or "").strip()
        self.workers = max(0, int(workers or 0))
        self.skipped_stages: set[str] = set()
        self.in_flight = IN_FLIGHT_PER_WORKER  # batches sent to each worker at a time
        self.stages: list[str] = []  # what the workers run (from their ready() report)
        self.lost_batches = 0  # batches sent again because their worker died (this object's lifetime)
        self.started: list[dict] = []  # each first actor's ready() report: host, pid, stages
        # (photos, bytes sent, seconds from sending to the result, seconds the models took) of recent batches
        self.batch_log: deque[tuple[int, int, float, float]] = deque(maxlen=1000)
        self._actors: list = []
        self._started_ray = False
        self._vocabulary: Vocabulary | None = None
        self._caption_turn = 0
        self._thorough_turn = 0

    # connecting -----------------------------------------------------------------------------------
    def connect(self) -> Cluster:
        """Join the cluster (idempotent) and start the analysis actors; ClusterUnavailable if it cannot."""
        ray = _ray()
        if not ray.is_initialized():
            try:
                if self.address == LOCAL:
                    ray.init(num_cpus=self.workers or None, include_dashboard=False,
                             logging_level=logging.WARNING)
                    self._started_ray = True
                else:
                    if self.address != "auto":
                        _probe(self.address)
                    ray.init(address=self.address, logging_level=logging.WARNING)
            except ClusterUnavailable:
                raise
            except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
                raise ClusterUnavailable(f"cannot reach the Ray cluster at {self.address!r}: {e}") from None
        if not self._actors:
            self._check_capacity()
            self._vocabulary = load_vocabulary(self.settings.vocabulary_file)
            self._actors = [self._new_actor() for _ in range(self._actor_count())]
            try:
                reports = ray.get([a.ready.remote() for a in self._actors], timeout=START_TIMEOUT_S)
            except Exception as e:  # noqa: BLE001 - an actor that cannot start (jaicat missing on a node...)
                self._drop_actors()
                if isinstance(e, ray.exceptions.GetTimeoutError):
                    raise ClusterUnavailable(f"no analysis worker started on the Ray cluster within "
                                             f"{START_TIMEOUT_S:.0f} s (ray status shows its resources)") from None
                raise ClusterUnavailable(f"analysis workers could not start on the Ray cluster: {e}") from None
            self.stages = reports[0]["stages"]
            self.started = reports
            log.info("analysing on Ray: %s", ", ".join(f"{r['host']} pid {r['pid']}" for r in reports))
        return self

    def _check_capacity(self) -> None:
        gpus, cpus, _ = self._resources()
        if gpus < 1 and cpus < 1:
            raise ClusterUnavailable("the Ray cluster has no CPU or GPU to analyse on: has the worker PC "
                                     "joined it? (ray status)")

    def _resources(self) -> tuple[float, float, float]:
        """(total GPUs, total CPUs, CPUs of the smallest node)."""
        ray = _ray()
        total = ray.cluster_resources()
        node_cpus = [c for c in (n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")) if c]
        return total.get("GPU", 0), total.get("CPU", 1), min(node_cpus) if node_cpus else 1

    def _actor_count(self) -> int:
        gpus, cpus, _ = self._resources()
        if self.workers:
            return self.workers
        return int(gpus) if gpus >= 1 else max(1, int(cpus) // 2)

    def _new_actor(self):
        ray = _ray()
        gpus, cpus, smallest = self._resources()
        count = self._actor_count()
        if gpus >= 1:
            options = {"num_gpus": 1, "num_cpus": 1}
        else:  # Ray sets OMP_NUM_THREADS to num_cpus: torch in each actor uses its share of the cores
            options = {"num_cpus": max(1, min(int(cpus) // count, int(smallest)))}
        return ray.remote(AnalysisWorker).options(**options).remote(self.settings, self._vocabulary)

    def _drop_actors(self) -> None:
        ray = _ray()
        for a in self._actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors = []

    def close(self) -> None:
        """End the actors, and the Ray runtime if this process started it."""
        if not self._actors and not self._started_ray:
            return
        ray = _ray()
        self._drop_actors()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    # running ----------------------------------------------------------------------------------------
    def _payload(self, photos: list[Photo]) -> _Batch:
        data, unreadable = [], {}
        for p in photos:
            try:
                data.append((p.id, photo_bytes(p, self.settings)))
            except OSError as e:
                unreadable[p.id] = f"cannot read the photo's file: {e.strerror or e}"
            except Exception as e:  # noqa: BLE001 - a video whose poster frame cannot be decoded
                unreadable[p.id] = f"cannot decode: {e}"
        return _Batch([p.id for p in photos], _ray().put(data), unreadable, nbytes=sum(len(b) for _, b in data))

    def run(self, analyser: Analyser, batch_size: int,
            should_stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, int]]:
        """Analyse every pending photo on the cluster; yields (analysed, failed) after each batch stored.

        `analyser` stores the results here (its suggester suggests folders); its models are not loaded.
        Stopping leaves the batches still out pending: they are analysed at the next run. When the cluster
        fails (ClusterUnavailable) the photos not yet stored stay pending; the next run starts fresh
        workers."""
        self.connect()
        try:
            yield from self._run(analyser, batch_size, should_stop)
        except ClusterUnavailable:
            self._drop_actors()
            raise

    def _run(self, analyser: Analyser, batch_size: int,
             should_stop: Callable[[], bool] | None) -> Iterator[tuple[int, int]]:
        ray = _ray()
        lost = _lost_worker_errors(ray)
        retries: deque[_Batch] = deque()
        inflight: dict = {}  # ObjectRef -> (batch, actor slot, the actor it went to)
        load = [0] * len(self._actors)
        out_ids: set[int] = set()
        last_result = time.monotonic()
        while True:
            exhausted = False  # asked again each round: photos imported meanwhile join the run
            stopping = bool(should_stop and should_stop())
            while not stopping and min(load) < self.in_flight:
                if retries:
                    batch = retries.popleft()
                elif not exhausted:
                    q = Photo.pending()
                    if out_ids:
                        q = q.where(Photo.id.not_in(list(out_ids)))
                    photos = list(q.limit(max(1, batch_size)))
                    if not photos:
                        exhausted = True
                        continue
                    batch = self._payload(photos)
                    out_ids.update(batch.photo_ids)
                else:
                    break
                i = load.index(min(load))
                actor = self._actors[i]
                batch.sent_at = time.perf_counter()
                ref = actor.compute.remote(batch.payload)
                inflight[ref] = (batch, i, actor)
                load[i] += 1
            if not inflight or stopping:
                return
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=5.0)
            if not ready:
                if time.monotonic() - last_result > STALL_TIMEOUT_S:
                    raise ClusterUnavailable(f"no analysis result from the Ray cluster for {STALL_TIMEOUT_S:.0f} s")
                continue
            last_result = time.monotonic()
            ref = ready[0]
            batch, i, actor = inflight.pop(ref)
            load[i] -= 1
            try:
                computed, skipped, seconds = ray.get(ref)
                self.batch_log.append((len(batch.photo_ids), batch.nbytes, time.perf_counter() - batch.sent_at,
                                       seconds))
            except lost as e:
                if self._actors[i] is actor:  # its other batches fail too, without replacing it again
                    self._replace(i, e)
                counts = self._retry(batch, retries, out_ids, analyser)
                if counts is not None:
                    yield counts
                continue
            except Exception as e:  # noqa: BLE001 - the compute call itself raised: the batch's photos fail
                log.error("analysis batch failed on the cluster: %s", e)
                computed = [Computed(pid, error=f"analysis crashed: {type(e).__name__}: {e}"[:1000])
                            for pid in batch.photo_ids if pid not in batch.unreadable]
                skipped = []
            self.skipped_stages.update(skipped)
            out_ids.difference_update(batch.photo_ids)
            yield self._store(analyser, batch, computed)

    def caption(self, analyser: Analyser, photos: list[Photo],
                should_stop: Callable[[], bool] | None = None) -> int | None:
        """Caption `photos` on a worker and store the captions here (Analyser.store_captions); returns how
        many got one, None when the workers have no captioner, 0 when `should_stop()` turned true or the
        worker died (the photos stay queued for the next pass)."""
        ray = _ray()
        self.connect()
        if "caption" not in self.stages:
            return None
        batch = self._payload(photos)
        self._caption_turn = i = (self._caption_turn + 1) % len(self._actors)
        actor = self._actors[i]
        ref = actor.caption.remote(batch.payload)
        waited_since = time.monotonic()
        while not ray.wait([ref], timeout=0.2)[0]:
            if should_stop and should_stop():  # a photo to analyse: the swipe does not wait for a caption
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - it finishes on the worker and is dropped
                    pass
                return 0
            if time.monotonic() - waited_since > STALL_TIMEOUT_S:
                raise ClusterUnavailable(f"no caption from the Ray cluster for {STALL_TIMEOUT_S:.0f} s")
        try:
            texts = ray.get(ref)
        except _lost_worker_errors(ray) as e:
            if self._actors[i] is actor:
                self._replace(i, e)
            return 0
        except Exception as e:  # noqa: BLE001 - the call itself failed: stored without captions, as in-process
            log.error("caption batch failed on the cluster: %s", e)
            texts = [None] * (len(photos) - len(batch.unreadable))
        sent = [p.id for p in photos if p.id not in batch.unreadable]
        by_id = dict(zip(sent, texts, strict=True))
        return analyser.store_captions(photos, [by_id.get(p.id) for p in photos])

    def thorough_faces(self, path, width: int, settings) -> list:
        """passes.thorough_pass's compute on the next worker in turn: the photo file's bytes go there (the
        original: the thorough pass looks for faces the analysis copy is too small for). A worker that
        dies is replaced and the error raised (the pass keeps the photo's one-pass faces)."""
        ray = _ray()
        self.connect()
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise JaicatError(f"cannot read the photo's file: {e.strerror or e}") from None
        self._thorough_turn = i = (self._thorough_turn + 1) % len(self._actors)
        actor = self._actors[i]
        try:
            return ray.get(actor.thorough.remote(data, width), timeout=STALL_TIMEOUT_S)
        except _lost_worker_errors(ray) as e:
            if self._actors[i] is actor:
                self._replace(i, e)
            raise

    def _replace(self, i: int, error: BaseException) -> None:
        """A worker died: start a fresh actor in its place (it loads the models again)."""
        self.lost_batches += 1
        old = self._actors[i]
        log.warning("an analysis worker died (%s); its batch is sent again", type(error).__name__)
        try:
            _ray().kill(old)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._check_capacity()  # the worker PC went away altogether: say so now, not after STALL_TIMEOUT_S
        self._actors[i] = self._new_actor()

    def _retry(self, batch: _Batch, retries: deque, out_ids: set[int],
               analyser: Analyser) -> tuple[int, int] | None:
        """Send a lost batch again; split it after SPLIT_AFTER losses, give a single photo up after
        GIVE_UP_AFTER (stored as failed: the counts are returned)."""
        batch.attempts += 1
        if len(batch.photo_ids) > 1 and batch.attempts >= SPLIT_AFTER:
            photos = list(Photo.select().where(Photo.id.in_(batch.photo_ids)).order_by(Photo.id))
            out_ids.difference_update(set(batch.photo_ids) - {p.id for p in photos})
            for p in photos:  # find the photo that kills workers; the others go through
                single = self._payload([p])
                single.attempts = 1
                retries.append(single)
            return None
        if len(batch.photo_ids) == 1 and batch.attempts >= GIVE_UP_AFTER:
            pid = batch.photo_ids[0]
            out_ids.discard(pid)
            return self._store(analyser, batch, [Computed(
                pid, error=f"the analysis worker died {batch.attempts} times on this photo")])
        retries.append(batch)
        return None

    def _store(self, analyser: Analyser, batch: _Batch, computed: list[Computed]) -> tuple[int, int]:
        """Write a batch's results (unreadable files as errors); photos deleted meanwhile are skipped."""
        by_id = {c.photo_id: c for c in computed}
        for pid, why in batch.unreadable.items():
            by_id[pid] = Computed(pid, error=why)
        photos = {p.id: p for p in Photo.select().where(Photo.id.in_(list(by_id)))}
        pairs = [(photos[pid], by_id[pid]) for pid in batch.photo_ids if pid in photos and pid in by_id]
        results = analyser.store([p for p, _ in pairs], [c for _, c in pairs])
        failed = sum(1 for r in results if r.error)
        return len(results) - failed, failed
