"""The background thread that makes browser-playable previews of videos (photos/preview.py).

Woken by each new photo; each step takes the newest video without a settled preview, checks whether
browsers play the original as it is, and encodes a preview when they do not. One video at a time,
so ingest and analysis keep the other core. A preview that fails (a damaged stream) is logged and
not retried until the next start; a crash mid-encode leaves only a temporary file, swept then.
"""

from __future__ import annotations

import logging

from ..db import Photo
from ..errors import JaicatError
from ..photos import library, preview
from ..loops import PhotoLoop

log = logging.getLogger(__name__)


class PreviewMaker(PhotoLoop):
    """Makes the missing previews of one library's videos (`settings`); `settled` holds the sha256 of
    every video looked at since start (previewed, playable as it is, or failed)."""

    thread_name = "jaicat-previews"

    def __init__(self, settings, idle_wait: float = 60.0):
        super().__init__(idle_wait)
        self.settings = settings
        self.settled: set[str] = set()
        self.made = 0

    def _begin(self) -> None:
        root = preview.preview_path(self.settings, "00").parent.parent
        for part in root.glob("*/.*.part") if root.is_dir() else []:
            part.unlink(missing_ok=True)  # an encode a crash interrupted

    def _step(self) -> None:
        """Every video not settled yet, newest first; videos added meanwhile wake the next step."""
        videos = list(Photo.select().where((Photo.media == "video") & (Photo.root != "trash"))
                      .order_by(Photo.id.desc()))
        for photo in videos:
            if self._stop.is_set():
                return
            if photo.sha256 not in self.settled:
                self.make(photo)

    def make(self, photo: Photo) -> bool:
        """Make the preview of one video if browsers cannot play its original; True when one was made."""
        self.settled.add(photo.sha256)
        dest = preview.preview_path(self.settings, photo.sha256)
        src = library.photo_file(photo, self.settings)
        if dest.is_file() or not src.is_file():
            return False
        try:
            if preview.browser_plays(src):
                return False
            facts = preview.make_preview(src, dest)
        except (JaicatError, OSError) as e:
            log.warning("no preview for video %s (%s): %s", photo.id, photo.original_filename,
                        getattr(e, "message", None) or e)
            return False
        self.made += 1
        log.info("video %s: %dx%d preview, %.1f s, %d kB", photo.id, facts.width, facts.height,
                 facts.duration, facts.size // 1024)
        return True
