"""The two face passes on catalogue photos: the fast pass in analysis, the thorough pass after it
(synchronously and as the background FacePass), real dlib models on a real group photo."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from jaicat.db import Face, Photo, utcnow
from jaicat.people import detect, faces as faces_ml, passes, persons as people
from jaicat.photos.imaging import open_upright

from fixtures.labelled_faces import labelled_faces, score
from fixtures.faces import FACE_MODELS


@pytest.fixture
def group_photo(face_settings, make_photo, media_dir, tmp_path):
    """A 2000x1500 photo holding a 7-person group whose faces are 37-45 px (the size of a group in
    a snapshot), in the inbox, analysed by nobody yet."""
    src = Image.open(media_dir / "faces_labelled/2007_007763.jpg").convert("RGB")
    canvas = Image.new("RGB", (2000, 1500), (118, 124, 112))
    canvas.paste(src, (700, 500))
    path = face_settings.root_path("inbox") / "group.jpg"
    canvas.save(path, "JPEG", quality=92)
    photo = make_photo(path, rel="group.jpg")
    truth = [(700 + a, 500 + b, 700 + c, 500 + d) for a, b, c, d in labelled_faces(media_dir)["2007_007763.jpg"]]
    face_settings.face_min_px = 36  # this test's faces are >= 37 px: keeps the pass to ~15 MP of HOG
    face_settings.face_model = "hog"
    return photo, truth


def _boxes(photo):
    return [(f.x * photo.width, f.y * photo.height, (f.x + f.w) * photo.width, (f.y + f.h) * photo.height)
            for f in Face.select().where(Face.photo == photo, Face.not_face == False)]  # noqa: E712


def test_thorough_pass_adds_the_faces_the_fast_pass_cannot_see(group_photo, face_settings):
    photo, truth = group_photo
    image = open_upright(face_settings.root_path("inbox") / "group.jpg", max_side=face_settings.face_max_side)
    people.analyse_faces(photo, image, face_settings, FACE_MODELS)  # the pipeline's fast pass: 1024 px, faces ~20 px
    Photo.update(analysed_at=utcnow()).where(Photo.id == photo.id).execute()
    assert Photo.get_by_id(photo.id).faces_pass == passes.FAST
    fast_recall, _, _ = score({"g": _boxes(photo)}, {"g": truth})
    assert fast_recall < 0.5
    assert [p.id for p in passes.pending_thorough()] == [photo.id]

    result = passes.run_thorough(face_settings, faces_ml.FaceModels())
    assert result["photos"] == 1 and result["faces_added"] >= 6
    recall, precision, counts = score({"g": _boxes(photo)}, {"g": truth})
    assert recall >= 0.9 and precision >= 0.95, counts
    assert Photo.get_by_id(photo.id).faces_pass == passes.THOROUGH
    assert list(passes.pending_thorough()) == []
    assert all(np.frombuffer(f.encoding, "<f4").shape == (128,) for f in Face.select())


@pytest.mark.skipif(detect.yuface is None, reason="the yuface wheel (CPython 3.11, x86-64) is not installed")
def test_the_thorough_pass_visits_only_the_photos_the_one_pass_doubts(face_settings, make_photo, media_dir):
    """YuNet's one pass is sure of a two-face photo it sees whole (done, no thorough pass); it doubts the
    12 MP photo whose 26-76 px faces it sees at its window at 1024 px, which gets the closer look."""
    import shutil

    face_settings.face_model = "yunet"
    photos = {}
    for name in ("kit_with_rose.jpg", "phone_small.jpg"):
        shutil.copy(media_dir / "faces_labelled" / name, face_settings.root_path("inbox") / name)
        photos[name] = photo = make_photo(media_dir / "faces_labelled" / name, rel=name)
        image = open_upright(face_settings.root_path("inbox") / name, max_side=face_settings.face_max_side)
        people.analyse_faces(photo, image, face_settings, FACE_MODELS)
        Photo.update(analysed_at=utcnow()).where(Photo.id == photo.id).execute()
    assert Photo.get_by_id(photos["kit_with_rose.jpg"].id).faces_pass == passes.THOROUGH
    assert Face.select().where(Face.photo == photos["kit_with_rose.jpg"]).count() == 2
    assert [p.id for p in passes.pending_thorough()] == [photos["phone_small.jpg"].id]

    assert passes.run_thorough(face_settings, faces_ml.FaceModels())["photos"] == 1
    small = photos["phone_small.jpg"]
    recall, precision, counts = score({"s": _boxes(small)}, {"s": labelled_faces(media_dir)["phone_small.jpg"]})
    assert recall >= 0.95 and precision >= 0.9, counts


def test_thorough_pass_keeps_fast_pass_faces_it_does_not_find(face_settings, make_photo, media_dir):
    """A second detector only adds: an unconfirmed fast-pass face no thorough box overlaps stays."""
    photo = make_photo(media_dir / "faces_groups/kit_with_rose.jpg")
    enc = np.full(128, 0.05, np.float32)
    lone = people.record_faces(photo, [faces_ml.DetectedFace(0.01, 0.01, 0.05, 0.05, enc)])[0]
    found = people.record_faces(photo, [faces_ml.DetectedFace(0.5, 0.5, 0.1, 0.1, enc * 2)],
                                keep_unmatched=True, faces_pass=passes.THOROUGH)
    assert {f.id for f in found} >= {lone.id} and len(found) == 2
    assert Photo.get_by_id(photo.id).faces_pass == passes.THOROUGH
    # a later fast pass never lowers what was done
    people.record_faces(photo, [], faces_pass=passes.FAST)
    assert Photo.get_by_id(photo.id).faces_pass == passes.THOROUGH


def test_an_unreadable_photo_is_passed_over_not_retried_forever(face_settings, make_photo, media_dir):
    photo = make_photo(media_dir / "faces_groups/kit_with_rose.jpg", rel="gone.jpg")  # no such file in inbox
    Photo.update(analysed_at=utcnow(), faces_pass=passes.FAST).where(Photo.id == photo.id).execute()
    assert passes.run_thorough(face_settings, faces_ml.FaceModels()) == {"photos": 1, "faces_added": 0}
    assert list(passes.pending_thorough()) == []
    video = make_photo(media_dir / "faces_groups/kit_with_rose.jpg", rel="clip.mp4", media="video")
    Photo.update(analysed_at=utcnow()).where(Photo.id == video.id).execute()
    assert list(passes.pending_thorough()) == []  # a video is not searched for faces here


def _after_fast_pass(face_settings, make_photo, media_dir, name: str = "kr.jpg"):
    """A real two-face photo in the inbox, analysed with the fast pass, waiting for the thorough one."""
    import shutil

    shutil.copy(media_dir / "faces_groups/kit_with_rose.jpg", face_settings.root_path("inbox") / name)
    photo = make_photo(media_dir / "faces_groups/kit_with_rose.jpg", rel=name)
    Photo.update(analysed_at=utcnow(), faces_pass=passes.FAST).where(Photo.id == photo.id).execute()
    return photo


def test_the_background_pass_runs_at_idle_priority_and_stops(face_settings, make_photo, media_dir):

    photo = _after_fast_pass(face_settings, make_photo, media_dir, "kr.jpg")
    face_settings.face_model = "hog"
    face_settings.face_min_px = 60
    face_pass = passes.FacePass(face_settings, idle_wait=0.2).start()
    try:
        assert face_pass.idle.wait(120)
    finally:
        face_pass.stop()
    assert not face_pass._thread.is_alive()
    if hasattr(os, "setpriority"):
        assert face_pass.niceness == 19
    assert Photo.get_by_id(photo.id).faces_pass == passes.THOROUGH
    assert Face.select().where(Face.photo == photo).count() == 2


def _heartbeat_gaps(until, beat: float = 0.02, limit: float = 180.0) -> list[float]:
    """Seconds each heartbeat of this thread came late (it needs the GIL to wake), until `until()`."""
    import time

    gaps, t0 = [], time.monotonic()
    while not until() and time.monotonic() - t0 < limit:
        t = time.perf_counter()
        time.sleep(beat)
        gaps.append(time.perf_counter() - t - beat)
    return gaps


def test_the_background_pass_never_stops_the_servers_own_threads(face_settings, make_photo, media_dir):
    """dlib's CNN detector keeps Python's GIL for its whole call: run inside the server's process, the
    thorough pass froze every other thread of the server (uploads, HTTP answers, the pipeline) for the
    length of each call (about a second on this photo), whatever its nice value. It runs in a process
    of its own at idle priority: the server's threads keep their pace while it works."""

    photo = _after_fast_pass(face_settings, make_photo, media_dir, "kr.jpg")
    face_settings.face_model = "cnn"
    face_settings.face_min_px = 60
    face_pass = passes.FacePass(face_settings, idle_wait=0.2).start()
    try:
        gaps = _heartbeat_gaps(lambda: face_pass.idle.is_set())
    finally:
        face_pass.stop()
    assert Photo.get_by_id(photo.id).faces_pass == passes.THOROUGH
    assert face_pass.worker_pid not in (None, os.getpid())
    assert len(gaps) >= 10, "the pass ended before it could be watched"
    # in the server's process: heartbeats a second late on each CNN call; in its own, a few ms
    assert max(gaps) < 0.3, sorted(gaps)[-5:]


def test_stopping_the_pass_ends_its_process_mid_photo_and_keeps_the_photo_queued(face_settings, make_photo,
                                                                                media_dir):
    import time

    photo = _after_fast_pass(face_settings, make_photo, media_dir, "kr.jpg")
    face_settings.face_model = "cnn"
    face_settings.face_min_px = 12  # a long pass: minutes of CNN
    face_pass = passes.FacePass(face_settings, idle_wait=0.2).start()
    deadline = time.monotonic() + 120
    while face_pass.worker_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = face_pass.worker_pid
    assert pid is not None
    time.sleep(0.5)  # it is on the photo now
    t0 = time.monotonic()
    face_pass.stop()
    assert time.monotonic() - t0 < 10
    assert not face_pass._thread.is_alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert Photo.get_by_id(photo.id).faces_pass == passes.FAST  # still queued for the next start


def test_a_pass_stopped_while_its_process_starts_keeps_the_photo_queued(face_settings, make_photo, media_dir):
    # close() kills the process at once; the thread waiting for it must read that as a stop (the photo
    # stays queued), never as a crash of the photo (which would pass it over for good).
    import threading
    import time

    photo = _after_fast_pass(face_settings, make_photo, media_dir, "kr.jpg")
    face_settings.face_model = "hog"
    worker = passes.ThoroughWorker(face_settings.models)
    raised = []

    def one():
        try:
            passes.run_thorough(face_settings, compute=worker.faces)
        except Exception as e:  # noqa: BLE001 - what the pass's thread would see
            raised.append(e)

    t = threading.Thread(target=one)
    t.start()
    deadline = time.monotonic() + 60
    while worker._proc is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert worker.pid is None  # still starting: it has not answered yet
    worker.close()
    t.join(30)
    assert [type(e) for e in raised] == [passes.PassStopped]
    assert Photo.get_by_id(photo.id).faces_pass == passes.FAST  # still queued


def test_a_photo_that_kills_the_detectors_process_is_passed_over(face_settings, make_photo, media_dir,
                                                                 monkeypatch):
    """A crash of dlib in the pass's process (or the kernel ending it for memory) costs that photo its
    thorough pass, never the server; the next photo gets a new process."""

    for name in ("crash.jpg", "kr.jpg"):
        _after_fast_pass(face_settings, make_photo, media_dir, name)
    face_settings.face_model = "hog"
    face_settings.face_min_px = 60
    worker = passes.ThoroughWorker(face_settings.models)
    real = worker.faces
    pids = []

    def faces(path, width, settings):
        if str(path).endswith("crash.jpg"):
            real(path, width, settings)  # starts the process
            pids.append(worker.pid)
            os.kill(worker.pid, 9)
            return real(path, width, settings)
        found = real(path, width, settings)
        pids.append(worker.pid)
        return found

    try:
        result = passes.run_thorough(face_settings, compute=faces)
    finally:
        worker.close()
    assert result == {"photos": 2, "faces_added": 2}  # the two faces of kr.jpg; crash.jpg has none
    assert list(passes.pending_thorough()) == []
    assert Face.select().join(Photo).where(Photo.path == "kr.jpg").count() == 2
    assert pids[0] != pids[1]


def test_the_pass_is_held_while_more_urgent_work_runs_and_goes_on_after(face_settings, make_photo, media_dir):
    """On a CPU the pass's process is stopped while the worker has photos or captions (busy), and
    continues where it was once the worker is idle: nothing it did is lost."""
    import threading
    import time

    if not os.path.isdir("/proc/self"):
        pytest.skip("reads the process state from /proc")
    photo = _after_fast_pass(face_settings, make_photo, media_dir, "kr.jpg")
    face_settings.face_model = "cnn"
    face_settings.face_min_px = 50
    busy = threading.Event()
    face_pass = passes.FacePass(face_settings, idle_wait=0.2, busy=busy.is_set).start()
    try:
        deadline = time.monotonic() + 120
        while face_pass.worker_pid is None and time.monotonic() < deadline:
            time.sleep(0.05)
        busy.set()
        states = []
        for _ in range(40):
            time.sleep(0.1)
            with open(f"/proc/{face_pass.worker_pid}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
            if states[-1] == "T" and len(states) > 5:
                break
        assert states[-1] == "T", states  # stopped
        assert Photo.get_by_id(photo.id).faces_pass == passes.FAST
        busy.clear()
        assert face_pass.idle.wait(120)
    finally:
        face_pass.stop()
    assert Photo.get_by_id(photo.id).faces_pass == passes.THOROUGH
    assert Face.select().where(Face.photo == photo).count() >= 2
