"""The pipeline on tiny models: embeddings, tags, captions stored; bad photos; no weights; worker."""

from __future__ import annotations

import time

import numpy as np

from jaicat import events
from jaicat.photos.library import photo_file
from jaicat.pipeline.analysis import Analyser, analysis_source, requeue
from jaicat.models.clip import shrink
from jaicat.db import Job, Photo, PhotoTag, blob_to_vec
from jaicat.photos.tags import add_tag, photo_tags, remove_tag
from jaicat.people.faces import OnePass
from jaicat.pipeline.worker import Worker, run_pending


def _drain(q):
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_analyse_stores_embedding_tags_then_the_caption_pass_captions(ml_settings, add_photos, no_faces):
    photos = add_photos(3)
    hub = events.Hub()
    q = hub.subscribe()
    try:
        analyser = Analyser(ml_settings)
        results = analyser.analyse(photos)
        first = _drain(q)
        assert not any(e["type"] == "photo.captioned" for e in first)  # captions are not in the way
        assert [p.id for p in Photo.caption_pending()] == [p.id for p in photos]
        assert analyser.caption(list(Photo.caption_pending())) == 3
        second = _drain(q)
    finally:
        hub.unsubscribe(q)
    assert [r.error for r in results] == [None] * 3
    for r in results:
        assert {"decode", "clip", "tags"} <= set(r.stages) and "caption" not in r.stages
    for p in photos:
        p = Photo.get_by_id(p.id)
        assert p.analysed_at is not None and p.analysis_error is None
        emb = blob_to_vec(p.embedding)
        assert emb.shape == (16,) and abs(np.linalg.norm(emb) - 1) < 1e-4
        assert p.caption and p.captioned_at is not None
        clip_tags = [t for t in photo_tags(p.id) if t["source"] == "clip"]
        assert len(clip_tags) == 3  # tag_top_k=3, threshold 0
        scores = [t["score"] for t in clip_tags]
        assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert Photo.caption_pending().count() == 0
    analysed = [e for e in first if e["type"] == "photo.analysed"]
    assert sorted(e["photo_id"] for e in analysed) == sorted(p.id for p in photos)
    assert all(isinstance(e["tags"], list) and "caption" in e and "stages" in e for e in analysed)
    captioned = [e for e in second if e["type"] == "photo.captioned"]
    assert sorted(e["photo_id"] for e in captioned) == sorted(p.id for p in photos)
    assert all(e["caption"] == Photo.get_by_id(e["photo_id"]).caption for e in captioned)


def test_threshold_and_top_k_limit_tags(ml_settings, add_photos, no_faces):
    (photo,) = add_photos(1)
    ml_settings.tag_threshold = 1.01  # nothing can pass a softmax score above 1
    Analyser(ml_settings).analyse([photo])
    assert [t for t in photo_tags(photo.id) if t["source"] == "clip"] == []
    ml_settings.tag_threshold, ml_settings.tag_top_k = 0.0, 1
    Analyser(ml_settings).analyse([photo])
    assert len([t for t in photo_tags(photo.id) if t["source"] == "clip"]) == 1


def test_removed_auto_tag_is_never_re_added(ml_settings, add_photos, no_faces):
    (photo,) = add_photos(1)
    analyser = Analyser(ml_settings)
    analyser.analyse([photo])
    auto = [t["name"] for t in photo_tags(photo.id) if t["source"] == "clip"]
    victim = auto[0]
    remove_tag(photo.id, victim)
    assert victim not in [t["name"] for t in photo_tags(photo.id)]
    analyser.analyse([photo])  # same embedding -> same tags proposed
    assert victim not in [t["name"] for t in photo_tags(photo.id)]
    row = [t for t in photo_tags(photo.id, include_removed=True) if t["name"] == victim]
    assert row and row[0]["removed"] is True
    # the user adding it back wins, and a user tag is not replaced by re-analysis
    add_tag(photo.id, victim.upper())  # case-insensitive: the same tag
    add_tag(photo.id, "Holiday 2024")
    analyser.analyse([photo])
    names = {t["name"]: t["source"] for t in photo_tags(photo.id)}
    assert names[victim] == "user" and names["Holiday 2024"] == "user"


def test_bad_photo_does_not_stop_the_batch(ml_settings, add_photos, no_faces):
    photos = add_photos(3)
    from jaicat.photos.library import photo_file

    # what the models read of it (its thumbnail) is damaged; the other's original is gone
    analysis_source(photos[1], ml_settings).write_bytes(b"\xff\xd8\xff garbage, not a jpeg any more")
    photo_file(photos[2], ml_settings).unlink()
    hub = events.Hub()
    q = hub.subscribe()
    try:
        results = Analyser(ml_settings).analyse(photos)
    finally:
        hub.unsubscribe(q)
    assert results[0].error is None
    assert results[1].error and results[2].error
    good, bad, gone = (Photo.get_by_id(p.id) for p in photos)
    assert good.analysed_at is not None and good.embedding is not None
    assert bad.analysed_at is None and bad.analysis_error
    assert gone.analysed_at is None and gone.analysis_error
    failed = [e["photo_id"] for e in _drain(q) if e["type"] == "photo.failed"]
    assert sorted(failed) == sorted([bad.id, gone.id])
    assert Photo.pending().count() == 0  # failed photos leave the queue...
    assert requeue(failed=True) == 2 and Photo.pending().count() == 2  # ...until asked to retry


def test_without_weights_photos_are_still_analysed(settings, add_photos, no_faces, caplog):
    photos = add_photos(2)
    settings.clip_model = "nobody/no-such-clip"
    settings.caption_model = "nobody/no-such-blip"
    with caplog.at_level("WARNING"):
        analyser = Analyser(settings)
        results = analyser.analyse(photos)
        analyser.analyse(photos)
        assert analyser.caption(photos) is None and analyser.caption(photos) is None  # stay queued
    assert Photo.caption_pending().count() == 2
    assert all(r.error is None and r.stages == ["decode"] for r in results)
    for p in photos:
        p = Photo.get_by_id(p.id)
        assert p.analysed_at is not None and p.embedding is None
    skipped = [r.message for r in caplog.records if "skipped" in r.message]
    assert len(skipped) == 2 and all("jaicat models pull" in m for m in skipped)  # once per model
    assert requeue(missing_embeddings=True) == 2
    job = run_pending(settings)  # the job row says what did not run
    assert job.status == "done" and "skipped caption, clip" in job.message


def test_faces_stage_runs_through_people(ml_settings, add_photos, monkeypatch):
    seen = []

    class FakePeople:
        @staticmethod
        def detect_photo_faces(image, settings, models=None):
            return OnePass(["detected-a", "detected-b"], doubt="crowd", min_face=0.1)

        @staticmethod
        def pass_after(found, photo, settings):
            return 1 if found.doubt else 2

        @staticmethod
        def record_faces(photo, detected, tolerance, faces_pass):
            seen.append((photo.id, detected, faces_pass))
            return ["face-a", "face-b"]

    monkeypatch.setattr(Analyser, "people", lambda self: FakePeople)
    photos = add_photos(2)
    results = Analyser(ml_settings).analyse(photos)
    assert [r.faces for r in results] == [2, 2] and all("faces" in r.stages for r in results)
    assert seen == [(p.id, ["detected-a", "detected-b"], 1) for p in photos]  # the doubt reaches the store


def noting_people(started):
    """A face pass that finds nobody and sets `started` when it begins on a photo."""

    class NotingPeople:
        @staticmethod
        def detect_photo_faces(image, settings, models=None):
            started.set()
            return OnePass([])

        @staticmethod
        def pass_after(found, photo, settings):
            return 2

        @staticmethod
        def record_faces(photo, detected, tolerance, faces_pass):
            return []

    return NotingPeople


def test_the_face_pass_runs_while_clip_embeds_the_batch(ml_settings, add_photos, monkeypatch):
    """Faces and CLIP overlap: CLIP waits here until the face pass of the batch has begun, which
    happens only when the face pass runs beside CLIP (not after it). (The int8 tower embeds each
    photo as it is decoded: one call a photo.)"""
    import threading

    from jaicat.models.clip import ClipEncoder

    faces_started = threading.Event()
    overlapped = []

    NotingPeople = noting_people(faces_started)

    embed = ClipEncoder.embed_images

    def embed_once_faces_started(self, images):
        overlapped.append(faces_started.wait(timeout=10))
        return embed(self, images)

    monkeypatch.setattr(Analyser, "people", lambda self: NotingPeople)
    monkeypatch.setattr(ClipEncoder, "embed_images", embed_once_faces_started)
    results = Analyser(ml_settings).analyse(add_photos(2))
    assert overlapped and all(overlapped)
    assert all({"clip", "faces"} <= set(r.stages) for r in results)


def test_the_models_start_on_the_first_photo_while_the_last_is_still_decoding(ml_settings, add_photos,
                                                                             monkeypatch):
    """Decoding overlaps inference: the last photo's decode waits here until CLIP and the face pass have
    begun on the first photo, which happens only when the models do not wait for the whole batch to
    decode. The results are those of the batch decoded first (same embeddings, every stage ran)."""
    import threading

    from jaicat.models.clip import ClipEncoder

    clip_started, faces_started = threading.Event(), threading.Event()
    waited = []
    photos = add_photos(3)
    last = photo_file(photos[-1], ml_settings)

    NotingPeople = noting_people(faces_started)

    decode_one, embed = Analyser.decode_one, ClipEncoder.embed_images

    def decode_last_once_models_started(self, src, side):
        if src == last:
            waited.append(clip_started.wait(timeout=10) and faces_started.wait(timeout=10))
        return decode_one(self, src, side)

    def embed_noting(self, images):
        clip_started.set()
        return embed(self, images)

    monkeypatch.setattr(Analyser, "people", lambda self: NotingPeople)
    monkeypatch.setattr(Analyser, "decode_one", decode_last_once_models_started)
    monkeypatch.setattr(ClipEncoder, "embed_images", embed_noting)
    analyser = Analyser(ml_settings)
    streamed = analyser.compute([(p.id, photo_file(p, ml_settings)) for p in photos])
    assert waited == [True]
    assert all({"decode", "clip", "tags", "faces"} <= set(c.stages) for c in streamed)
    monkeypatch.setattr(ClipEncoder, "embed_images", embed)
    batch = analyser.clip().embed_images([shrink(im) for im in analyser.decode([photo_file(p, ml_settings)
                                                                               for p in photos])])
    np.testing.assert_allclose(np.stack([c.embedding for c in streamed]), batch, atol=1e-6)


def test_face_stage_crash_is_contained(ml_settings, add_photos, monkeypatch, caplog):
    class BrokenPeople:
        @staticmethod
        def detect_photo_faces(image, settings, models=None):
            raise RuntimeError("dlib exploded")

    monkeypatch.setattr(Analyser, "people", lambda self: BrokenPeople)
    (photo,) = add_photos(1)
    (r,) = Analyser(ml_settings).analyse([photo])
    assert r.error is None and "faces" not in r.stages and "clip" in r.stages
    assert Photo.get_by_id(photo.id).analysed_at is not None
    assert "face analysis of photo" in caplog.text


def test_real_face_module_on_a_real_face(ml_settings, media_dir):
    """Integration with people.detect_photo_faces (the one pass, YuNet where its wheel imports) on a real photo."""
    from jaicat.photos.ingest import ingest_file

    src = next((media_dir / "faces" / "Barack_Obama").iterdir())
    photo = ingest_file(src, ml_settings).photo
    (r,) = Analyser(ml_settings).analyse([photo])
    assert r.error is None and "faces" in r.stages and r.faces >= 1


def test_run_pending_job_progress_and_resume(ml_settings, add_photos, no_faces):
    add_photos(6)
    hub = events.Hub()
    q = hub.subscribe()
    calls = []
    try:
        stop_after = iter([False, True])  # one batch (batch_size 4), then "server stops"
        job = run_pending(ml_settings, progress=lambda d, t: calls.append((d, t)),
                          should_stop=lambda: next(stop_after, True))
    finally:
        hub.unsubscribe(q)
    assert calls == [(4, 6)] and job.status == "queued" and Photo.pending().count() == 2
    progress = [e for e in _drain(q) if e["type"] == "job.progress"]
    assert progress[-1]["job_id"] == job.id and progress[-1]["done"] == 4
    # "restart": a new run picks up the rest from the catalogue
    job2 = run_pending(ml_settings)
    assert job2.status == "done" and job2.done == 2 and Photo.pending().count() == 0
    assert run_pending(ml_settings) is None
    assert Job.get_by_id(job2.id).total == 2


def test_worker_thread_wakes_on_ingest_and_survives_bad_photos(ml_settings, add_photos, no_faces, tmp_path):
    from jaicat.photos.ingest import ingest_file

    from fixtures.models import make_image

    add_photos(2)
    from jaicat.search.query import Indexes

    w = Worker(ml_settings, idle_wait=60, indexes=Indexes(ml_settings)).start()
    try:
        assert w.idle.wait(60) and Photo.pending().count() == 0
        # new photo through ingest wakes it well before idle_wait
        w.idle.clear()
        p = ingest_file(make_image(tmp_path / "late.jpg", seed=77), ml_settings).photo
        assert w.idle.wait(30)
        assert Photo.get_by_id(p.id).analysed_at is not None
        assert PhotoTag.select().where(PhotoTag.photo == p.id).count() > 0
        w.indexes.photos.rebuild(wait=True)  # the worker started it when idle
        assert w.indexes.photos.builds >= 1 and w.indexes.photos.size == 3
    finally:
        w.stop()
    assert not w.running


def test_worker_marks_a_crashing_batch_failed_and_goes_on(ml_settings, add_photos, monkeypatch):
    photos = add_photos(2)
    calls = {"n": 0}
    real = Analyser.analyse

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 1:
            raise MemoryError("simulated OOM")
        return real(self, batch)

    monkeypatch.setattr(Analyser, "analyse", flaky)
    monkeypatch.setattr(Analyser, "people", lambda self: None)
    ml_settings.batch_size = 1
    w = Worker(ml_settings, idle_wait=60).start()
    try:
        assert w.idle.wait(60)
    finally:
        w.stop()
    first, second = (Photo.get_by_id(p.id) for p in photos)
    assert "simulated OOM" in first.analysis_error and first.analysed_at is None
    assert second.analysed_at is not None


def test_analysers_given_one_model_cache_share_the_loaded_weights(ml_settings, add_photos, no_faces):
    from jaicat.events import photo_embedded
    from jaicat.models.base import ModelCache

    (photo,) = add_photos(1)
    models = ModelCache()
    first, second = Analyser(ml_settings, models=models), Analyser(ml_settings, models=models)
    embedded = []
    receiver = photo_embedded.connect(lambda settings, photo_id, emb: embedded.append((photo_id, emb.shape)))
    try:
        first.analyse([photo])
    finally:
        photo_embedded.disconnect(receiver)
    assert second.clip() is first.clip() and first.clip().loaded
    assert Analyser(ml_settings).clip() is not first.clip()  # without a cache given, a private one
    assert embedded and embedded[0][0] == photo.id


def test_a_new_photo_is_analysed_before_waiting_captions_even_mid_caption(ml_settings, add_photos, no_faces,
                                                                          tmp_path, monkeypatch):
    """The swipe comes first: a photo arriving while captions are being written is analysed (and
    suggested) before the caption pass goes on; the abandoned captions are written afterwards."""
    from jaicat.photos.ingest import ingest_file
    from jaicat.models.captioner import Captioner

    from fixtures.models import make_image

    early = add_photos(2)
    analyser = Analyser(ml_settings)
    analyser.analyse(early)  # analysed, captions still to do
    late: list = []
    real_decode = Captioner._decode

    def arrive_during_first_caption(self, pixels, should_stop):
        def check():
            if not late:  # the phone uploads a photo while the first caption is being decoded
                late.append(ingest_file(make_image(tmp_path / "late.jpg", seed=91), ml_settings).photo)
            return should_stop()
        return real_decode(self, pixels, check)

    monkeypatch.setattr(Captioner, "_decode", arrive_during_first_caption)
    hub = events.Hub()
    q = hub.subscribe()
    try:
        run_pending(ml_settings, analyser=analyser)
        seen = [(e["type"], e["photo_id"]) for e in _drain(q) if e["type"] in ("photo.analysed", "photo.captioned")]
    finally:
        hub.unsubscribe(q)
    (new,) = late
    assert seen.index(("photo.analysed", new.id)) < min(seen.index(("photo.captioned", p.id)) for p in early)
    assert {pid for t, pid in seen if t == "photo.captioned"} == {p.id for p in early} | {new.id}
    assert Photo.caption_pending().count() == 0 and Photo.pending().count() == 0
    assert Job.select().where(Job.kind == "caption").count() >= 2  # the abandoned pass, then the rest


def test_captions_decoded_before_a_new_photo_arrives_are_kept(ml_settings, add_photos, no_faces, monkeypatch):
    """An abandoned caption call keeps the batches it decoded (stored at once, photo.captioned sent);
    only the rest waits for the next pass."""
    import threading

    from jaicat.models.captioner import DECODER_BATCH

    photos = add_photos(DECODER_BATCH + 2)
    analyser = Analyser(ml_settings)
    analyser.analyse(photos)
    captioner = analyser.captioner()
    arrived, batches = threading.Event(), []
    decode = captioner._decode

    def second_batch_meets_a_new_photo(pixels, stop):
        batches.append(len(pixels))
        if len(batches) == 2:
            arrived.set()
        return decode(pixels, stop)

    monkeypatch.setattr(captioner, "_decode", second_batch_meets_a_new_photo)
    hub = events.Hub()
    q = hub.subscribe()
    try:
        assert analyser.caption(list(Photo.caption_pending()), should_stop=arrived.is_set) == DECODER_BATCH
        captioned = [e["photo_id"] for e in _drain(q) if e["type"] == "photo.captioned"]
    finally:
        hub.unsubscribe(q)
    assert batches == [DECODER_BATCH, 2]
    assert captioned == [p.id for p in photos[:DECODER_BATCH]]
    assert [p.id for p in Photo.caption_pending()] == [p.id for p in photos[DECODER_BATCH:]]
    assert analyser.caption(list(Photo.caption_pending())) == 2


def test_the_worker_loads_its_models_as_it_starts_so_the_first_photo_does_not_wait(ml_settings, add_photos,
                                                                                  monkeypatch):
    from jaicat.models.clip import ClipEncoder

    ml_settings.warm_models = True
    w = Worker(ml_settings, idle_wait=60).start()
    try:
        assert w.ready.wait(120)
        assert w.idle.wait(60)
        clip = w.analyser.models.get(ClipEncoder, ml_settings.clip_model, ml_settings)
        assert clip.loaded and w.analyser.tagger() is not None
        assert w.analyser.face_models().warmed
        # the first photo loads nothing more
        loads = []
        monkeypatch.setattr(ClipEncoder, "_load", lambda self, path: loads.append(path))
        (photo,) = add_photos(1)
        w.wake()
        deadline = time.monotonic() + 60
        while Photo.get_by_id(photo.id).analysed_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Photo.get_by_id(photo.id).embedding is not None and loads == []
    finally:
        w.stop()

    ml_settings.warm_models = False  # the setting off: nothing loads before a photo needs it
    cold = Worker(ml_settings, idle_wait=60).start()
    try:
        assert cold.ready.wait(60) and cold.idle.wait(60)
        assert not cold.analyser.models.get(ClipEncoder, ml_settings.clip_model, ml_settings).loaded
    finally:
        cold.stop()


def test_a_worker_stopped_while_its_models_load_stops_before_loading_the_rest(ml_settings, monkeypatch):
    # A server stopped during its first seconds must not first load every remaining model.
    import threading

    from jaicat.models.clip import ClipEncoder

    ml_settings.warm_models = True
    loading, release = threading.Event(), threading.Event()
    real_load = ClipEncoder._load

    def slow_load(self, path):
        loading.set()
        release.wait(30)
        return real_load(self, path)

    monkeypatch.setattr(ClipEncoder, "_load", slow_load)
    w = Worker(ml_settings, idle_wait=60).start()
    assert loading.wait(60)
    stopper = threading.Thread(target=w.stop)
    stopper.start()
    deadline = time.monotonic() + 30
    while not w._stop.is_set() and time.monotonic() < deadline:  # the stop is asked for while CLIP loads
        time.sleep(0.01)
    release.set()
    stopper.join(60)
    assert not stopper.is_alive() and not w.running
    assert w.analyser._face_models is None or not w.analyser._face_models.warmed  # the faces never loaded


def test_the_server_caption_pass_waits_for_uploads_to_pause(ml_settings, add_photos, no_faces, tmp_path):
    """While a phone uploads photo after photo, the caption pass does not start between two of them
    (it would be abandoned for the next, its vision tower's work lost): it waits for a quiet moment,
    gives up as soon as a photo arrives, and runs once none has for that long."""
    import threading

    from jaicat.photos.ingest import ingest_file
    from jaicat.pipeline.worker import run_captions

    from fixtures.models import make_image

    analyser = Analyser(ml_settings)
    analyser.analyse(add_photos(2))
    arrival = threading.Timer(0.2, lambda: ingest_file(make_image(tmp_path / "next.jpg", seed=7), ml_settings))
    t0 = time.monotonic()
    arrival.start()
    try:
        assert run_captions(ml_settings, analyser, quiet=30.0) is None  # the photo came 0.2 s into the wait
    finally:
        arrival.join()
    assert time.monotonic() - t0 < 10
    assert Photo.caption_pending().count() == 2 and not Job.select().where(Job.kind == "caption").exists()
    run_pending(ml_settings, analyser=analyser, captions=False)  # the new photo analysed: its caption waits too
    t0 = time.monotonic()
    job = run_captions(ml_settings, analyser, quiet=0.3)
    assert time.monotonic() - t0 >= 0.3 and job.status == "done"
    assert Photo.caption_pending().count() == 0 and Photo.select().where(Photo.caption.is_null()).count() == 0
    assert analyser.captioner()._buffers is None  # nothing left to caption: its batch memory is let go
