"""The running state of one data directory: the objects a process owns while it serves or runs a
command, created once at start-up and closed at the end.

    runtime = Runtime(settings)          # builds the objects; nothing runs, nothing is connected
    runtime.open()                       # a CLI command: the catalogue open, sidecars kept in step
    runtime.connect()                    # ... and the suggester learning from each filing
    runtime.start()                      # `jaicat serve`: connect, warm the suggester, start the worker
    runtime.close()                      # stop the worker, disconnect, save the suggester's snapshot

The Flask app holds its runtime as `app.extensions["jaicat"]` (web/app.py); tests make as many as they
like, one per data directory.
"""

from __future__ import annotations

from .config import Settings
from .db import open_db
from .photos import trash
from .pipeline.cluster import Cluster
from .pipeline.models import ModelCache
from .pipeline.worker import Worker
from .suggest.review import Review
from .suggest.service import Suggester
from .xmp import SidecarWriter


class Runtime:
    """Owns the model cache, the suggester and its review queue, the sidecar writer, the analysis
    worker and the Ray cluster it may analyse on, of one data directory (`settings`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.models = ModelCache()  # loaded weights, shared by the worker and the web layer's searches
        self.suggester = Suggester(settings)
        self.review = Review(settings, self.suggester)  # the review queue and its decisions
        self.sidecars = SidecarWriter(settings)  # one per library: two would import each photo's XMP twice
        self.cluster: Cluster | None = None  # the Ray cluster analysis runs on (`ray_address`), if any
        self.worker = Worker(settings, suggester=self.suggester, models=self.models)
        if settings.ray_address:
            self.use_cluster(settings.ray_address, settings.ray_workers)
        self._open = False

    def use_cluster(self, address: str, workers: int = 0) -> Cluster:
        """Analyse on the Ray cluster at `address` from now on (the worker and `jaicat analyse --ray`);
        it connects on first use."""
        if self.cluster is not None:
            self.cluster.close()
        self.cluster = Cluster(self.settings, address, workers)
        self.worker.cluster = self.cluster
        return self.cluster

    def open(self) -> Runtime:
        """Create the data directories, open (and migrate) the catalogue, and connect the sidecar
        writer, so imports pick up XMP and filings keep sidecars in step. Idempotent; returns self."""
        if not self._open:
            self.settings.ensure_dirs()
            open_db(self.settings.db_path)
            trash.reconcile(self.settings)  # finish or roll back a trash move a crash interrupted
            self.sidecars.connect()
            self._open = True
        return self

    def connect(self) -> Runtime:
        """Open, and hook the suggester into filing (it learns each decision). Returns self."""
        self.open()
        self.suggester.connect()
        return self

    def start(self) -> Runtime:
        """What `jaicat serve` starts: connect, load the suggester in the background, and run the
        analysis worker unless `settings.worker` is off. Sidecars also follow face, people and analysis
        changes while serving. Returns self."""
        self.sidecars.follow = True
        self.connect()
        self.suggester.warm()
        self.review.start()  # waiting cards get fresh suggestions pushed after every change
        if self.settings.worker:
            self.worker.start()
        return self

    def close(self) -> None:
        """Stop the worker, disconnect, and save what the suggester learned."""
        self.worker.stop()
        self.review.stop()
        if self.cluster is not None:
            self.cluster.close()
        self.suggester.close()
        self.sidecars.close()
        self._open = False

    def __enter__(self) -> Runtime:
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()
