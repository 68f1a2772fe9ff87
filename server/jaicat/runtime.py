"""The running state of one data directory: the objects a process owns while it serves or runs a
command, created once at start-up and closed at the end.

    runtime = Runtime(settings)          # builds the objects; nothing runs, nothing is connected
    runtime.start()                      # `jaicat serve`: connect, warm the suggester, start the worker
    runtime.close()                      # stop the worker, disconnect, save the suggester's snapshot

    with Runtime(settings) as runtime:   # a CLI command: the suggester connected, no worker thread
        runtime.suggester.learn_library()

The Flask app holds its runtime as `app.extensions["jaicat"]` (web/app.py); tests make as many as they
like, one per data directory.
"""

from __future__ import annotations

from .config import Settings
from .pipeline.models import ModelCache
from .pipeline.worker import Worker
from .suggest.service import Suggester


class Runtime:
    """Owns the suggester and the analysis worker of one data directory (`settings`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.models = ModelCache()  # loaded weights, shared by the worker and the web layer's searches
        self.suggester = Suggester(settings)
        self.worker = Worker(settings, suggester=self.suggester, models=self.models)

    def connect(self) -> Runtime:
        """Hook the owned objects into filing (the suggester learns each decision). Returns self."""
        self.suggester.connect()
        return self

    def start(self) -> Runtime:
        """What `jaicat serve` starts: connect, load the suggester in the background, and run the
        analysis worker unless `settings.worker` is off. Returns self."""
        self.connect()
        self.suggester.warm()
        if self.settings.worker:
            self.worker.start()
        return self

    def close(self) -> None:
        """Stop the worker, disconnect, and save what the suggester learned."""
        self.worker.stop()
        self.suggester.close()

    def __enter__(self) -> Runtime:
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()
