"""The analysis pipeline for a batch of photos: decode -> CLIP embedding -> zero-shot tags ->
faces -> store -> events -> folder suggestions; then, as a pass of its own, BLIP captions.

The swipe comes first: everything a folder suggestion needs runs in `analyse`, and captions (seconds
each on a CPU) run in `caption`, which the worker calls only when no photo waits for analysis and
abandons between words when one arrives (Photo.caption_pending is its queue, `captioned_at` its mark).

Stages degrade independently: without CLIP/BLIP weights those stages are skipped (one log line per
model, naming `jaicat models pull`) and the photo is still marked analysed so faces and suggestions
happen; a photo that cannot be decoded gets `analysis_error` and the batch goes on.
`Analyser` takes its models from a ModelCache (the runtime's, which search shares); the worker and
`jaicat scan` each make one. A stored embedding is announced on `events.photo_embedded` (search follows it).

Computing and storing are separate: `Analyser.compute` runs the models on photo files or bytes and
touches no catalogue (pipeline/cluster.py runs it on Ray workers), `Analyser.store` writes the results
in the server's own transactions; `Analyser.analyse` is both, in this process.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .. import events
from ..photos import imaging
from ..config import Settings
from ..db import Face, Photo, database, utcnow, vec_to_blob
from ..errors import JaicatError, ModelUnavailable
from ..photos.library import photo_file
from ..models.captioner import Captioner, CaptionsInterrupted
from ..models.clip import CLIP_INPUT_SIDE, ClipEncoder, shrink
from ..models import registry
from ..models.base import ModelCache, pick_device
from ..models.tagger import Vocabulary, ZeroShotTagger, caption_tags, load_vocabulary
from ..photos.tags import photo_tags, set_auto_tags
from ..photos.ingest import thumb_path
from ..photos import video
from ..people import persons as people
from ..people.faces import FaceModelPool, OnePass, resolve_model

log = logging.getLogger(__name__)



# What a model stage reads a photo from: its file, or its bytes (sent to an analysis worker).
PhotoSource = Path | str | bytes
FAST_FACE_THREADS = 4  # the fast face pass uses at most this many cores (each thread holds ~30 MB of dlib)
VIDEO_KEYFRAMES = 3  # besides the poster: what a video's CLIP embedding (and so its tags) looks at


def model_side(settings: Settings, faces: bool = True) -> int:
    """The long side (px) the analysis models look at: the fast face pass's, or CLIP's pre-shrink."""
    return max(settings.face_max_side, CLIP_INPUT_SIDE) if faces else 1024


def analysis_source(photo: Photo, settings: Settings, side: int | None = None) -> Path:
    """The file the models read a photo from: its largest thumbnail (made by ingest: upright, sRGB,
    already decoded once) when that holds the `side` pixels the models look at (default
    `model_side`), else the original. A 12 MP JPEG then costs the pipeline one decode instead of two
    (a 1280 px JPEG decodes ~5x faster than the original at reduced DCT size). Videos give their
    original: their keyframes are read from it."""

    original = photo_file(photo, settings)
    if photo.is_video or not settings.thumb_sizes or not original.is_file():
        return original  # a missing original is this photo's error, whatever its thumbnails
    largest = max(settings.thumb_sizes)
    need = model_side(settings) if side is None else side
    full = max(photo.width or 0, photo.height or 0)
    if largest < need and largest < full:
        return original  # the thumbnail holds fewer pixels than the models want
    thumb = thumb_path(settings, photo, largest)
    return thumb if thumb.is_file() else original


def with_video_keyframes(clip: ClipEncoder, sources: list[PhotoSource], embeddings: np.ndarray) -> np.ndarray:
    """Embeddings in which each video's row is the normalised mean of its poster's and
    VIDEO_KEYFRAMES keyframes' (spread over the clip): a video is tagged and found for what it shows
    throughout, not only in its first second. Photos' rows are returned unchanged."""

    out = np.array(embeddings, dtype=np.float32, copy=True)
    for i, src in enumerate(sources):
        handle = io.BytesIO(src) if isinstance(src, bytes) else src
        if video.sniff(handle) is None:
            continue
        frames = video.keyframes(handle, VIDEO_KEYFRAMES, max_side=2 * CLIP_INPUT_SIDE)
        mean = out[i] + np.asarray(clip.embed_images([shrink(f) for f in frames]), dtype=np.float32).sum(axis=0)
        out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


@dataclass
class Computed:
    """What the models found in one photo, before anything is stored (it travels back from Ray workers)."""

    photo_id: int
    stages: list[str] = field(default_factory=list)  # what ran: decode, clip, tags, caption, faces
    embedding: np.ndarray | None = None
    clip_tags: list[tuple[str, float]] = field(default_factory=list)
    caption: str | None = None
    faces: OnePass | None = None  # the one face pass's faces and doubt; None when the face stage did not run
    error: str | None = None


@dataclass
class PhotoResult:
    photo_id: int
    stages: list[str] = field(default_factory=list)  # what ran: decode, clip, tags, caption, faces
    tags: list[str] = field(default_factory=list)
    caption: str | None = None
    faces: int = 0
    error: str | None = None


class Analyser:
    """Models + vocabulary for one Settings. Thread-compatible: one analyse() at a time per instance."""

    def __init__(self, settings: Settings, suggester=None, models: ModelCache | None = None,
                 vocabulary: Vocabulary | None = None):
        """`suggester` (a suggest.service.Suggester) stores folder suggestions for each analysed photo;
        without one there are none. `models`: the runtime's ModelCache (a private one if not given).
        `vocabulary`: the tag words (default: loaded from settings; a Ray worker gets the server's)."""
        self.settings = settings
        self.vocabulary = vocabulary
        self.suggester = suggester
        self.models = models if models is not None else ModelCache()
        self._warned: set[str] = set()
        self._tagger: ZeroShotTagger | None = None
        self._people = None
        self._face_models = None
        self._lock = threading.Lock()

    # models, each optional ---------------------------------------------------------------------
    @property
    def skipped_stages(self) -> set[str]:
        """Stages skipped so far because their model (clip, caption) or module (faces) is unavailable."""
        return self._warned & (set(registry.TASKS) | {"faces"})

    def _once(self, key: str, msg: str, *args, level=logging.WARNING) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.log(level, msg, *args)

    def clip(self) -> ClipEncoder | None:
        return self.model("clip")

    def model(self, task_name: str):
        """The loaded model of a registered task (models/registry.py), or None when the settings turn
        it off or its model is unavailable (logged once; the stage is skipped, the photos go on)."""
        task = registry.task(task_name)
        if not task.enabled(self.settings):
            return None
        return self._load(task.model, task.model_name(self.settings), task.name, task.gives)

    def _load(self, cls, name: str, key: str, what: str):
        model = self.models.get(cls, name, self.settings)
        try:
            loaded = model.load()
            if key in self._warned:  # weights were pulled while we ran
                self._warned.discard(key)
                log.info("%s model %s is available again", key, name)
            return loaded
        except ModelUnavailable as e:
            self._once(key, "%s skipped: %s", what, e.message)
        except Exception as e:  # noqa: BLE001 - e.g. CUDA out of memory: skip the stage, keep the photos
            self._once(key, "%s skipped: model %s failed to load (%s: %s)", what, name, type(e).__name__, e,
                       level=logging.ERROR)
        return None

    def captioner(self) -> Captioner | None:
        return self.model("caption")

    def tagger(self) -> ZeroShotTagger | None:
        clip = self.clip()
        if clip is None:
            return None
        if self._tagger is None or self._tagger.encoder is not clip:
            vocab = self.vocabulary or load_vocabulary(self.settings.vocabulary_file)
            self._tagger = ZeroShotTagger(clip, vocab, cache_dir=self.settings.models / ".cache")
        return self._tagger

    def people(self):
        """The faces room (people.persons), or None when dlib cannot be loaded: faces are then
        skipped (one log line) and the rest of the pipeline goes on."""
        if self._people is None:
            try:
                import dlib  # noqa: F401 - checked here, used by people.faces

                self._people = people
            except Exception as e:  # dlib missing or broken
                self._once("faces", "face analysis skipped: dlib unavailable (%s)", e)
                self._people = False
        return self._people or None

    def warm(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Load what analysing a photo needs (CLIP and its tag vectors, the fast face pass's models)
        and run each once on a blank image: the worker does it as it starts, so the first photo after
        a start is not the one that waits seconds for loading. The captioner loads when captions run.
        `should_stop()` is asked between models: a server stopped meanwhile waits for one, not all."""
        with self._lock:
            clip = self.clip() if not should_stop() else None
            if clip is not None:
                self._guard("clip", lambda: clip.embed_images([Image.new("RGB", (CLIP_INPUT_SIDE,) * 2)]))
                if not should_stop():
                    self._guard("tags", self.tagger().text_matrix)
            if not should_stop() and self.people() is not None:
                self._guard("faces", lambda: self.face_models().warm(resolve_model(self.settings.face_model)))

    # the pipeline ------------------------------------------------------------------------------
    def decode(self, sources: list[PhotoSource], side: int | None = None) -> list[Image.Image | Exception]:
        """Decode each source (a file path, or the photo's bytes) upright, at most `side` px long
        (default: what the models need; JPEGs at a reduced DCT scale), in threads: the decoders
        release the GIL, so decoding overlaps on the cores the models leave."""
        return list(self.decode_ahead(sources, side))

    def decode_ahead(self, sources: list[PhotoSource], side: int | None = None):
        """`decode`, one image (or the Exception that stopped it) at a time in the sources' order, each
        as soon as it is ready while the next ones are still decoding: a caller that runs the models
        on each image as it comes overlaps the next photos' decoding with this one's inference."""
        if side is None:
            side = model_side(self.settings, faces=self.people() is not None)
        # On a GPU every core decodes, to keep the card fed; on a CPU the models need the cores.
        gpu = pick_device(self.settings.device) == "cuda"
        feeders = (os.cpu_count() or 2) if gpu else min(4, os.cpu_count() or 2)
        workers = min(feeders, max(1, len(sources)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
            for future in [pool.submit(self.decode_one, src, side) for src in sources]:
                yield future.result()

    def decode_one(self, src: PhotoSource, side: int) -> Image.Image | Exception:
        """One source decoded upright at most `side` px long, or the Exception that says why not."""
        try:
            return imaging.open_upright(io.BytesIO(src) if isinstance(src, bytes) else src, max_side=side,
                                         max_pixels=self.settings.max_pixels)
        except JaicatError as e:
            return e
        except Exception as e:  # noqa: BLE001 - any decoder failure is this photo's problem
            return RuntimeError(f"cannot decode: {e}")

    def analyse(self, photos: list[Photo]) -> list[PhotoResult]:
        """Analyse and store a batch; never raises for one bad photo (it gets analysis_error)."""
        with self._lock:
            computed = self._compute([(p.id, analysis_source(p, self.settings)) for p in photos])
        return self.store(photos, computed)

    def compute(self, sources: list[tuple[int, PhotoSource]]) -> list[Computed]:
        """Run every model stage on (photo id, file path or bytes) pairs and return what they found.

        Reads no catalogue and writes nothing, so it runs wherever the models are (a Ray worker on
        another PC included); `store` writes the results. Never raises for one bad photo."""
        with self._lock:
            return self._compute(sources)

    def _compute(self, sources: list[tuple[int, PhotoSource]]) -> list[Computed]:
        results = [Computed(pid) for pid, _ in sources]
        good: list[tuple[Computed, Image.Image]] = []
        small: list[Image.Image] = []
        people = self.people()
        clip = self.clip() if sources else None
        # An int8 tower embeds one photo a call anyway (exported.OnnxTower): each photo is embedded as
        # soon as it is decoded, while the next ones decode. Other runtimes embed the batch at once.
        one_by_one = clip is not None and getattr(getattr(clip, "tower", None), "per_image", False)
        early: list[np.ndarray] | None = [] if one_by_one else None
        # The fast face pass (dlib, on its own threads) starts on each photo as soon as it is decoded
        # and runs while CLIP embeds here (dlib, ONNX Runtime and torch release the GIL): decoding,
        # faces and CLIP overlap instead of adding up.
        face_pool = self.face_models() if people is not None else None
        face_threads = face_pool.size if face_pool is not None else 1
        with ThreadPoolExecutor(max_workers=face_threads, thread_name_prefix="faces-batch") as side:
            faces = []
            for c, im in zip(results, self.decode_ahead([src for _, src in sources]), strict=True):
                if isinstance(im, Exception):
                    c.error = getattr(im, "message", None) or str(im)
                    continue
                c.stages.append("decode")
                good.append((c, im))
                small.append(shrink(im))
                if face_pool is not None:
                    faces.append(side.submit(self._fast_faces_leased, people, face_pool, c, im))
                if early is not None:
                    one = self._guard("clip", lambda: clip.embed_images(small[-1:]))
                    early = None if one is None else early + [one]
            precomputed = np.concatenate(early) if early else None
            embeddings, tags = self._embed_and_tag(sources, good, small, precomputed)
            for i, (c, _) in enumerate(good):
                if embeddings is not None:
                    c.stages += ["clip", "tags"]
                    c.embedding, c.clip_tags = embeddings[i], list(tags[i])
            for f in faces:
                f.result()
        return results

    def _embed_and_tag(self, sources, good, small, embeddings: np.ndarray | None = None):
        """CLIP embeddings (videos: with their keyframes) and zero-shot tags of the decoded photos;
        (None, empty tags) when CLIP is unavailable or its stage fails. `embeddings`: the photos'
        own, already computed (else they are computed here, the batch at once)."""
        s = self.settings
        tags: list[list[tuple[str, float]]] = [[] for _ in good]
        clip = self.clip() if good else None
        if clip is None:
            return None, tags
        if embeddings is None or len(embeddings) != len(good):
            embeddings = self._guard("clip", lambda: clip.embed_images(small))
        if embeddings is not None:
            src_of = dict(sources)
            mixed = self._guard("clip", lambda: with_video_keyframes(
                clip, [src_of[c.photo_id] for c, _ in good], embeddings))
            embeddings = embeddings if mixed is None else mixed
            tagger = self.tagger()
            tags = self._guard("tags", lambda: tagger.tag(embeddings, s.tag_top_k, s.tag_threshold)) or tags
        return embeddings, tags

    def face_models(self):
        """The fast face pass's FaceModels, one per core (at most FAST_FACE_THREADS): dlib releases the
        GIL, so the batch's photos are detected and encoded side by side."""
        if self._face_models is None:
            self._face_models = FaceModelPool(min(FAST_FACE_THREADS, os.cpu_count() or 1))
        return self._face_models

    def _fast_faces_leased(self, people, pool, c: Computed, im: Image.Image) -> None:
        with pool.lease() as models:
            self._fast_faces(people, c, im, models)

    def _fast_faces(self, people, c: Computed, im: Image.Image, models) -> None:
        try:
            c.faces = people.detect_photo_faces(im, self.settings, models=models)
            c.stages.append("faces")
        except Exception:  # noqa: BLE001 - faces are one stage; the photo still gets its tags
            log.exception("face analysis of photo %s failed; continuing without faces", c.photo_id)

    def _guard(self, stage: str, fn):
        """Run a model stage for the whole batch; a crash there skips the stage, not the photos."""
        try:
            return fn()
        except Exception:  # noqa: BLE001
            log.exception("%s stage failed for this batch; photos stored without it", stage)
            return None

    # storing -----------------------------------------------------------------------------------
    def store(self, photos: list[Photo], computed: list[Computed]) -> list[PhotoResult]:
        """Write what `compute` found into the catalogue, one transaction per photo, then publish
        photo.analysed / photo.failed and suggest folders. Never raises for one bad photo."""
        vocab = self.vocabulary or (self._tagger.vocabulary if self._tagger is not None
                                    else load_vocabulary(self.settings.vocabulary_file))
        results = []
        for p, c in zip(photos, computed, strict=True):
            r = PhotoResult(p.id, stages=list(c.stages), error=c.error)
            if r.error is None:
                try:
                    self._store(p, c, r, vocab)
                except Exception as e:  # noqa: BLE001 - a storage failure is this photo's error only
                    log.exception("analysing photo %s failed", p.id)
                    r.error = f"analysis failed: {e}"
            if r.error:
                Photo.update(analysis_error=r.error[:1000], analysed_at=None).where(Photo.id == p.id).execute()
                events.publish(events.PHOTO_FAILED, photo_id=p.id, error=r.error)
            else:
                self._after(p, r)
            results.append(r)
        return results

    def _store(self, p: Photo, c: Computed, r: PhotoResult, vocab) -> None:
        people = self.people() if c.faces is not None else None
        if people is not None:
            try:
                done = people.pass_after(c.faces, p, self.settings)
                r.faces = len(people.record_faces(p, c.faces.faces, tolerance=self.settings.face_tolerance,
                                                  faces_pass=done))
            except Exception:  # noqa: BLE001 - faces are one stage; the photo still gets its tags
                log.exception("face analysis of photo %s failed; continuing without faces", p.id)
                r.stages.remove("faces")
        if "faces" not in r.stages:
            r.faces = Face.select().where(Face.photo == p).count()
        emb, caption = c.embedding, c.caption
        with database.atomic():
            fields = {"analysed_at": utcnow(), "analysis_error": None}
            if emb is not None:
                fields["embedding"] = vec_to_blob(emb)
            if caption is not None:
                fields["caption"], fields["captioned_at"] = caption, utcnow()
            Photo.update(**fields).where(Photo.id == p.id).execute()
            if emb is not None:
                set_auto_tags(p, "clip", c.clip_tags)
            if caption is not None:
                set_auto_tags(p, "blip", [(name, 1.0) for name in caption_tags(caption, vocab)])
        r.caption = caption if caption is not None else p.caption
        r.tags = [t["name"] for t in photo_tags(p.id)]
        if emb is not None:
            events.photo_embedded.send(self.settings, p.id, emb)

    def _after(self, p: Photo, r: PhotoResult) -> None:
        events.publish(events.PHOTO_ANALYSED, photo_id=p.id, tags=r.tags, caption=r.caption, faces=r.faces,
                       stages=r.stages)
        if self.suggester is not None:
            try:
                self.suggester.suggest_after_analysis(Photo.get_by_id(p.id))
            except Exception:  # noqa: BLE001 - suggestions must not stop analysis
                log.exception("folder suggestion for photo %s failed", p.id)


    # the caption pass ----------------------------------------------------------------------------
    def caption(self, photos: list[Photo], should_stop=None) -> int | None:
        """Caption analysed photos and store each caption with its tags (`photo.captioned`) as soon as
        its batch is decoded; returns how many were captioned, or None when captions are off or the
        model is unavailable (the photos stay queued for when it is). `should_stop()` true abandons
        what is not decoded yet (those photos stay queued). A photo that cannot be captioned is marked
        done without one, so the queue never spins."""
        if not photos or self.captioner() is None:
            return None
        stored: set[int] = set()
        done = 0

        def store(indices: list[int], texts: list[str | None]) -> None:
            nonlocal done
            done += self.store_captions([photos[i] for i in indices], texts)
            stored.update(indices)

        try:
            texts = self.caption_texts([(p.id, analysis_source(p, self.settings, CLIP_INPUT_SIDE))
                                        for p in photos], should_stop, on_texts=store)
        except CaptionsInterrupted:
            return done
        rest = [i for i in range(len(photos)) if i not in stored]
        if rest:
            store(rest, [texts[i] for i in rest])
        return done

    def caption_texts(self, sources: list[tuple[int, PhotoSource]], should_stop=None,
                      on_texts: Callable[[list[int], list[str]], None] | None = None) -> list[str | None]:
        """The caption of each (photo id, file path or bytes), None where there is none; touches no
        catalogue (Ray workers run it). Raises CaptionsInterrupted when `should_stop()` turns true.
        `on_texts(indices, texts)` is given the captions of sources[i] for i in indices as soon as
        their batch is decoded."""
        captioner = self.captioner()
        if captioner is None:
            return [None] * len(sources)
        with self._lock:
            decoded = self.decode([src for _, src in sources], side=CLIP_INPUT_SIDE)
            good = [i for i, im in enumerate(decoded) if not isinstance(im, Exception)]

            def decoded_batch(first: int, texts: list[str]) -> None:
                if on_texts is not None:
                    on_texts(good[first:first + len(texts)], texts)

            try:
                texts = captioner.caption([decoded[i] for i in good], should_stop=should_stop,
                                          on_captions=decoded_batch) if good else []
            except CaptionsInterrupted:
                raise
            except Exception:  # noqa: BLE001 - a broken batch must not be retried forever
                log.exception("caption stage failed for this batch; photos stay without captions")
                texts = [None] * len(good)
        out: list[str | None] = [None] * len(sources)
        for i, text in zip(good, texts, strict=True):
            out[i] = text
        return out

    def store_captions(self, photos: list[Photo], texts: list[str | None]) -> int:
        """Store captions (and their tags) and publish photo.captioned; every photo is marked captioned,
        with or without a text, so the queue never spins. Returns how many got a caption."""
        by_id = {p.id: text for p, text in zip(photos, texts, strict=True)}
        vocab = self.vocabulary or (self._tagger.vocabulary if self._tagger is not None
                                    else load_vocabulary(self.settings.vocabulary_file))
        done = 0
        for p in photos:
            text = by_id.get(p.id)
            with database.atomic():
                fields = {"captioned_at": utcnow()}
                if text is not None:
                    fields["caption"] = text
                Photo.update(**fields).where(Photo.id == p.id).execute()
                if text is not None:
                    set_auto_tags(p, "blip", [(name, 1.0) for name in caption_tags(text, vocab)])
            if text is not None:
                done += 1
                events.publish(events.PHOTO_CAPTIONED, photo_id=p.id, caption=text,
                               tags=[t["name"] for t in photo_tags(p.id)])
        return done


def requeue(missing_embeddings: bool = False, failed: bool = False, everything: bool = False) -> int:
    """Put photos back in the queue: those analysed without CLIP weights, those that failed, or all."""
    q = Photo.update(analysed_at=None, analysis_error=None)
    if everything:
        return Photo.update(analysed_at=None, analysis_error=None, captioned_at=None).execute()
    conds = []
    if missing_embeddings:
        conds.append(Photo.embedding.is_null() & Photo.analysed_at.is_null(False))
    if failed:
        conds.append(Photo.analysis_error.is_null(False))
    if not conds:
        return 0
    cond = conds[0]
    for c in conds[1:]:
        cond = cond | c
    return q.where(cond).execute()

