"""The YuNet backend (libfacedetection's `yuface` wheel): the labelled faces, dlib-compatible encodings
from its mapped boxes, and HOG standing in where the wheel is missing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from jaicat.errors import ModelUnavailable
from jaicat.people import detect, faces as faces_ml

from fixtures.faces import FACE_MODELS
from fixtures.labelled_faces import labelled_faces, score

needs_yuface = pytest.mark.skipif(detect.yuface is None, reason="the yuface wheel (CPython 3.11, x86-64) "
                                  "is not installed: YuNet cannot run here")
PHONE = ("phone_2x.jpg", "phone_small.jpg")  # 12 MP composites: phone_small's faces need the thorough pass


def _load(folder, name) -> np.ndarray:
    return np.asarray(Image.open(folder / name).convert("RGB"))


def _one_pass_boxes(folder, names, max_side=1000) -> dict[str, list]:
    return {n: [(f.x * w, f.y * h, (f.x + f.w) * w, (f.y + f.h) * h)
                for f in faces_ml.one_pass(image, "yunet", max_side, models=FACE_MODELS).faces]
            for n in names for image in [_load(folder, n)] for h, w in [image.shape[:2]]}


def test_dlib_box_mapping_keeps_the_centre_x_and_squares_the_box():
    left, top, right, bottom = detect.to_dlib_box(100, 100, 177, 200)  # YuNet: 77 x 100, taller than wide
    assert (left + right) / 2 == pytest.approx(138.5)
    assert (top + bottom) / 2 == pytest.approx(150 + 100 * detect.DLIB_SHIFT_Y)
    assert right - left == pytest.approx(77 * detect.DLIB_SCALE_X)
    assert bottom - top == pytest.approx(100 * detect.DLIB_SCALE_Y)
    assert abs((right - left) - (bottom - top)) < 1.5


@needs_yuface
def test_one_pass_finds_the_labelled_faces(media_dir):
    """Every labelled photo of tests/media at its size: recall and precision >= 0.95 of faces >= 24 px,
    YuNet at the pipeline's 1000 px (the 12 MP composites are below: they need the closer look)."""
    truth = labelled_faces(media_dir)
    names = [n for n in truth if n not in PHONE]
    recall, precision, counts = score(_one_pass_boxes(media_dir / "faces_labelled", names), truth)
    assert recall >= 0.95 and precision >= 0.95, counts


@needs_yuface
def test_one_pass_finds_the_family_photos_enlarged_to_12_mp(media_dir, tmp_path):
    """The labelled family snapshots enlarged to 4000 x 3000: recall and precision >= 0.95 (YuNet's
    false hits on the enlarged soft texture are boxes at its window, which need 0.85 there)."""
    truth = {}
    for f in sorted((media_dir / "faces_labelled").glob("20*.jpg")):
        with Image.open(f) as im:
            scale = 4000 / im.width
            im.convert("RGB").resize((4000, round(im.height * scale)), Image.Resampling.LANCZOS).save(tmp_path / f.name)
        truth[f.name] = [tuple(v * scale for v in b) for b in labelled_faces(media_dir)[f.name]]
    found = {}
    for name in truth:
        image = np.asarray(Image.open(tmp_path / name).convert("RGB"))
        small = np.asarray(Image.fromarray(image).resize((1000, round(image.shape[0] / 4))))
        faces = faces_ml.one_pass(small, "yunet", 1000, models=FACE_MODELS).faces
        found[name] = [(f.x * 4000, f.y * image.shape[0], (f.x + f.w) * 4000, (f.y + f.h) * image.shape[0]) for f in faces]
    recall, precision, counts = score(found, truth)
    assert recall >= 0.95 and precision >= 0.95, counts


@needs_yuface
def test_one_pass_doubts_the_photo_whose_small_faces_it_cannot_see(media_dir):
    """phone_small: 12 MP with faces of 26-76 px; at 1000 px the one pass sees only the largest, at its
    window: it asks for the closer look, which (YuNet tiled at full size) finds them."""
    assert faces_ml.one_pass(_load(media_dir / "faces_labelled", "phone_2x.jpg"), "yunet", 1000,
                             models=FACE_MODELS).doubt  # 74-218 px faces: the smallest are at its window
    image = _load(media_dir / "faces_labelled", "phone_small.jpg")
    found = faces_ml.one_pass(image, "yunet", 1000, models=FACE_MODELS)
    assert found.doubt in ("doubtful boxes", "faces at the limit")
    assert found.min_face * 4000 == pytest.approx(80)  # a 20 px window at 1/4 scale
    closer = faces_ml.detect_faces(image, "yunet", models=FACE_MODELS, min_face=24, max_pixels=140e6)
    truth = labelled_faces(media_dir)
    boxes = {"phone_small.jpg": [(f.x * 4000, f.y * 3000, (f.x + f.w) * 4000, (f.y + f.h) * 3000) for f in closer]}
    recall, precision, counts = score(boxes, truth)
    assert recall >= 0.95 and precision >= 0.9, counts


@needs_yuface
def test_the_labelled_set_of_the_larger_media(full_media_dir):
    """../shared/media/faces_labelled (dlib's hand-labelled VOC photos): recall, precision >= 0.95."""
    folder = full_media_dir / "faces_labelled"
    truth = {}
    for xml in ("training.xml", "testing.xml"):
        truth.update(_xml_boxes(folder / xml))
    recall, precision, counts = score(_one_pass_boxes(folder, sorted(truth)), truth)
    assert recall >= 0.95 and precision >= 0.95, counts


def _xml_boxes(path) -> dict[str, list]:
    out = {}
    for im in ET.parse(path).getroot().iter("image"):
        boxes = [[int(b.get(k)) for k in ("left", "top", "width", "height")] for b in im.iter("box")
                 if b.get("ignore") != "1"]
        out[im.get("file")] = [(x, y, x + w, y + h) for x, y, w, h in boxes]
    return out


def _dlib_descriptors(image: np.ndarray) -> list[tuple[tuple, np.ndarray]]:
    """(box, descriptor) of every face dlib's HOG finds, by dlib's own compute_face_descriptor: how the
    household's faces/*.npy were made (face_recognition's pipeline)."""
    import dlib

    folder = detect.dlib_models_dir()
    hog = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
    return [((r.left(), r.top(), r.right() + 1, r.bottom() + 1),
             np.asarray(encoder.compute_face_descriptor(image, shape(image, r))))
            for r in hog(image, 1)]


@needs_yuface
def test_encodings_from_mapped_boxes_match_dlibs_own_descriptors(media_dir):
    """Each face both find (tests/media faces and group photos, at the one pass's 1000 px): the encoding
    of the one pass from YuNet's mapped box lies close to dlib's own descriptor of dlib's box, far
    inside the 0.6 match tolerance, so the household's faces/*.npy keep matching."""
    paths = sorted((media_dir / "faces").glob("*/*.jpg")) + sorted((media_dir / "faces_groups").glob("*.jpg"))
    distances = []
    for path in paths:
        im = Image.open(path).convert("RGB")
        im.thumbnail((1000, 1000))
        image = np.asarray(im)
        h, w = image.shape[:2]
        ours = faces_ml.one_pass(image, "yunet", 1000, models=FACE_MODELS).faces
        for box, reference in _dlib_descriptors(image):
            same = [f for f in ours if detect._iou(box, (f.x * w, f.y * h, (f.x + f.w) * w, (f.y + f.h) * h))[0] >= 0.5]
            if same:
                distances.append(float(np.linalg.norm(same[0].encoding - reference)))
    assert len(distances) >= 18
    assert np.mean(distances) < 0.1 and max(distances) < 0.45, distances


def test_without_the_wheel_auto_is_dlib_and_yunet_says_what_is_missing(monkeypatch, tmp_path, media_dir):
    monkeypatch.setattr(detect, "yuface", None)
    assert faces_ml.resolve_model("auto") in ("hog", "cnn")
    with pytest.raises(ModelUnavailable, match="yuface"):
        faces_ml.FaceModels(models_dir=tmp_path).detector("yunet")
    image = _load(media_dir / "faces/Barack_Obama", "1.jpg")
    found = faces_ml.one_pass(image, "auto", 1000, models=FACE_MODELS)
    assert len(found.faces) == 1 and found.faces[0].encoding.shape == (128,)


def test_doubt_names_why_a_closer_look_may_find_more():
    class Window20:
        window, threshold, floor, limit_threshold = 20, 0.7, 0.5, 0.85

    sure = [(0, 0, 100, 100, 0.9)]
    assert faces_ml.doubt(sure, Window20, 1.0) == ""
    assert faces_ml.doubt(sure + [(200, 0, 240, 40, 0.6)], Window20, 1.0) == ""  # one doubtful box is noise
    assert faces_ml.doubt(sure + [(200, 0, 240, 40, 0.6), (300, 0, 340, 40, 0.55)], Window20, 1.0) == "doubtful boxes"
    assert faces_ml.doubt(sure * faces_ml.CROWD, Window20, 1.0) == "crowd"
    assert faces_ml.doubt(sure, Window20, 0.25) == "faces at the limit"  # 25 px at the scale it ran
    soft = [(0, 0, 100, 100, 0.8)]  # at the limit, under its threshold: not taken, and a closer look is wanted
    assert not faces_ml.is_sure(soft[0], Window20, 0.25) and faces_ml.is_sure(soft[0], Window20, 1.0)
    assert faces_ml.doubt(soft, Window20, 0.25) == "faces at the limit"
    assert faces_ml.doubt(sure, detect.HogDetector, 1.0) == "no doubt scores"  # dlib's: never sure


@needs_yuface
def test_the_c_entry_finds_what_the_wheels_function_finds(media_dir):
    """YuNet is called through libfacedetection's C entry (ctypes lets the GIL go while it runs, so
    CLIP and the uploads beside it go on); it answers what the wheel's own function answers."""
    det = faces_ml.FaceModels().detector("yunet")
    assert det._c is not None, "libfacedetection's facedetect_cnn was not found in the yuface wheel"
    for f in sorted((media_dir / "faces_labelled").glob("*.jpg"))[:4]:
        bgr = np.ascontiguousarray(_load(media_dir / "faces_labelled", f.name)[:, :, ::-1])
        ours = det._c(bgr, 1)[:, :5].tolist()
        assert ours == detect._yuface_rows(bgr).astype(int).tolist(), f.name
