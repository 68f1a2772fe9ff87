"""jaicat.people.faces: detection, encodings and matching with the real dlib models (no catalogue)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from jaicat.people import faces as faces_ml
from jaicat.people.persons import _iou

from fixtures.faces import FACE_MODELS, TEST_FACE_MAX_SIDE, load_face_image


def _one(media_faces, media_dir, rel):
    found = media_faces[media_dir / rel]
    assert len(found) == 1, rel
    return found[0]


def test_every_single_person_photo_has_one_face_with_a_128d_encoding(media_faces, face_media):
    for files in face_media.values():
        for f in files:
            found = media_faces[f]
            assert len(found) == 1, f
            face = found[0]
            assert face.encoding.shape == (128,) and face.encoding.dtype == np.float32
            assert 0 <= face.x < face.x + face.w <= 1 and 0 <= face.y < face.y + face.h <= 1


def test_group_photos_find_every_face(media_faces, media_dir):
    groups = media_dir / "faces_groups"
    assert len(media_faces[groups / "kit_with_rose.jpg"]) == 2
    assert len(media_faces[groups / "obama_and_biden.jpg"]) == 3  # dlib's HOG also finds a third face


def test_same_person_is_within_tolerance_and_different_people_are_not(media_faces, media_dir):
    obama = [_one(media_faces, media_dir, f"faces/Barack_Obama/{i}.jpg").encoding for i in (1, 2, 3)]
    biden = _one(media_faces, media_dir, "faces/Joe_Biden/1.jpg").encoding
    same = faces_ml.face_distances(np.array(obama[1:]), obama[0])
    other = faces_ml.face_distances(np.array(obama), biden)
    assert (same < faces_ml.DEFAULT_TOLERANCE).all(), same
    assert (other > faces_ml.DEFAULT_TOLERANCE).all(), other


def test_boxes_from_a_downscaled_copy_map_back_to_the_full_image(media_faces, full_media_dir):
    f = full_media_dir / "faces/deepface_person_03/5.jpg"  # decoded at 3200x2135: detection at 400 is 1/8
    full = media_faces[f][0]
    small = faces_ml.detect_faces(np.asarray(load_face_image(f)), max_side=400, models=FACE_MODELS)
    assert len(small) == 1
    box = (small[0].x, small[0].y, small[0].w, small[0].h)
    assert _iou(box, (full.x, full.y, full.w, full.h)) > 0.6
    # landmarks and encodings are taken on the full image, so the encoding barely moves
    assert np.linalg.norm(small[0].encoding - full.encoding) < 0.2


def test_small_photos_are_upsampled_so_small_faces_are_found(media_faces, media_dir):
    f = media_dir / "faces/Kit_Harington/1.jpg"
    image = load_face_image(f)
    tiny = image.resize((240, round(240 * image.height / image.width)), Image.Resampling.LANCZOS)
    found = faces_ml.detect_faces(np.asarray(tiny), max_side=TEST_FACE_MAX_SIDE, models=FACE_MODELS)
    assert len(found) == 1
    assert found[0].w * tiny.width < 80  # smaller than HOG's 80 px window: only found by upsampling
    assert np.linalg.norm(found[0].encoding - media_faces[f][0].encoding) < faces_ml.DEFAULT_TOLERANCE


def test_a_photo_without_faces_gives_none(media_dir):
    image = load_face_image(media_dir / "exif/orientation_1.jpg")
    assert faces_ml.detect_faces(np.asarray(image), max_side=TEST_FACE_MAX_SIDE, models=FACE_MODELS) == []


def test_cnn_detector_finds_the_face_hog_finds(media_faces, media_dir):
    f = media_dir / "faces_groups/kit_with_rose.jpg"
    image = load_face_image(f)
    hog = max(media_faces[f], key=lambda d: d.x)  # Kit, on the right
    w, h = image.size
    crop_box = (round((hog.x - hog.w * 0.6) * w), round((hog.y - hog.h * 0.6) * h),
                round((hog.x + hog.w * 1.6) * w), round((hog.y + hog.h * 1.6) * h))
    crop = np.asarray(image.crop(crop_box))
    cnn = faces_ml.detect_faces(crop, model="cnn", max_side=400, models=FACE_MODELS)
    assert len(cnn) == 1
    ch, cw = crop.shape[:2]
    hog_in_crop = ((hog.x * w - crop_box[0]) / cw, (hog.y * h - crop_box[1]) / ch, hog.w * w / cw, hog.h * h / ch)
    assert _iou((cnn[0].x, cnn[0].y, cnn[0].w, cnn[0].h), hog_in_crop) > 0.4
    assert np.linalg.norm(cnn[0].encoding - hog.encoding) < 0.3


def test_resolve_model(monkeypatch):
    import dlib

    from jaicat.people import detect

    assert faces_ml.resolve_model("hog") == "hog"
    assert faces_ml.resolve_model("CNN") == "cnn"
    assert faces_ml.resolve_model("yunet") == "yunet"
    assert faces_ml.resolve_model("auto") == ("yunet" if detect.yuface is not None else
                                              "cnn" if dlib.DLIB_USE_CUDA else "hog")
    monkeypatch.setattr(detect, "yuface", None)  # a platform without the wheel: dlib stands in
    assert faces_ml.resolve_model("auto") == ("cnn" if dlib.DLIB_USE_CUDA else "hog")
    with pytest.raises(ValueError):
        faces_ml.resolve_model("mtcnn")


def test_chinese_whispers_groups_real_faces_by_person(media_faces, full_face_media):
    people = ["Angelina_Jolie", "Barack_Obama", "deepface_person_02"]
    encodings, truth = [], []
    for p in people:
        for f in full_face_media[p]:
            encodings.append(media_faces[f][0].encoding)
            truth.append(p)
    labels = faces_ml.cluster_encodings(encodings)
    by_label: dict[int, set[str]] = {}
    for label, p in zip(labels, truth, strict=True):
        by_label.setdefault(label, set()).add(p)
    assert all(len(ps) == 1 for ps in by_label.values()), by_label  # no cluster mixes two people
    assert len(by_label) <= len(people) + 2


def test_validate_encoding_rejects_what_is_not_a_face_encoding():
    ok = faces_ml.validate_encoding(np.full(128, 0.05, dtype=np.float64))
    assert ok.dtype == np.float32 and ok.shape == (128,)
    bad = {
        "shape": np.zeros((2, 128)) + 0.1,
        "dtype": np.ones(128, dtype=np.int64),
        "NaN": np.where(np.arange(128) == 3, np.nan, 0.1),
        "zeros": np.zeros(128),
    }
    for reason, arr in bad.items():
        with pytest.raises(ValueError, match=reason if reason != "zeros" else "all zeros"):
            faces_ml.validate_encoding(arr)


# --- FaceMatcher ------------------------------------------------------------------------------------
def _cloud(rng, center, n, spread):
    return center + rng.normal(0, spread / np.sqrt(128), size=(n, 128)).astype(np.float32)


def test_matcher_distances_equal_brute_force():
    rng = np.random.default_rng(1)
    known = rng.normal(0, 0.1, (500, 128)).astype(np.float32)
    queries = rng.normal(0, 0.1, (7, 128)).astype(np.float32)
    m = faces_ml.FaceMatcher(known, np.arange(500))
    brute = np.linalg.norm(known[None, :, :] - queries[:, None, :], axis=2)
    np.testing.assert_allclose(m.distances(queries), brute, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(faces_ml.face_distances(known, queries[0]), brute[0], rtol=1e-5)


def test_matcher_picks_the_nearest_person_within_tolerance():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 0.09, 128).astype(np.float32), rng.normal(0, 0.09, 128).astype(np.float32)
    known = np.vstack([_cloud(rng, a, 5, 0.3), _cloud(rng, b, 5, 0.3)])
    m = faces_ml.FaceMatcher(known, [1] * 5 + [2] * 5)
    assert m.match(a).person_id == 1
    assert m.match(b).person_id == 2
    assert m.match(b).distance < 0.6
    stranger = rng.normal(0, 0.09, 128).astype(np.float32)
    assert m.match(stranger) is None  # random vectors are ~1.4 apart: beyond 0.6
    assert m.match(a, exclude={1}) is None  # the only close person is excluded
    assert m.match_many([a, b, stranger], excludes=[set(), {2}, set()]) == [m.match(a), None, None]
    assert faces_ml.FaceMatcher(np.empty((0, 128)), []).match(a) is None


def test_matcher_breaks_near_ties_by_votes_of_the_k_nearest():
    rng = np.random.default_rng(3)
    q = rng.normal(0, 0.09, 128).astype(np.float32)
    direction = rng.normal(0, 1, (6, 128)).astype(np.float32)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    # person 1: one encoding at 0.40; person 2: four encodings at 0.41-0.42
    known = np.vstack([q + 0.40 * direction[0]] + [q + (0.41 + 0.003 * i) * direction[i + 1] for i in range(4)])
    m = faces_ml.FaceMatcher(known, [1, 2, 2, 2, 2], k=5, tie_margin=0.03)
    best = m.match(q)
    assert best.person_id == 2 and best.votes == 4
    # without a near-tie the nearest wins
    assert faces_ml.FaceMatcher(known, [1, 2, 2, 2, 2], tie_margin=0.0).match(q).person_id == 1


def test_matching_one_face_against_10k_encodings_takes_under_a_millisecond():
    rng = np.random.default_rng(4)
    m = faces_ml.FaceMatcher(rng.normal(0, 0.09, (10_000, 128)), rng.integers(1, 500, 10_000))
    q = rng.normal(0, 0.09, 128).astype(np.float32)
    m.match(q)
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(50):
            m.match(q)
        runs.append((time.perf_counter() - t) / 50)
    # the goal is < 1 ms; the assertion leaves room for a loaded shared CI machine
    assert min(runs) < 0.005, runs


def test_a_face_model_pool_runs_photos_side_by_side_each_on_models_of_its_own(face_media):
    """The pipeline's fast pass: photos of a batch are detected at once, never two on one FaceModels
    (dlib's models are not thread-safe), and each finds what it finds alone."""
    import threading

    images = [np.asarray(load_face_image(f)) for f in [f for fs in face_media.values() for f in fs][:4]]
    pool = faces_ml.FaceModelPool(2)
    busy, overlap, guard = set(), [], threading.Lock()

    def detect(image, models):
        with guard:
            assert id(models) not in busy
            busy.add(id(models))
            overlap.append(len(busy))
        try:
            time.sleep(0.05)
            return faces_ml.detect_faces(image, max_side=TEST_FACE_MAX_SIDE, models=models)
        finally:
            with guard:
                busy.discard(id(models))

    together = pool.map(detect, images)
    assert max(overlap) == 2
    with pool.lease() as models:
        alone = [faces_ml.detect_faces(image, max_side=TEST_FACE_MAX_SIDE, models=models) for image in images]
    assert [[d.encoding.tolist() for d in found] for found in together] == \
        [[d.encoding.tolist() for d in found] for found in alone]
