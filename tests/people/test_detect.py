"""Face detection on real group photos: the labelled set, tiles, the onnx backend, the backend choice."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaicat.errors import ModelUnavailable
from jaicat.people import detect, faces as faces_ml, passes

from fixtures.labelled_faces import labelled_faces, score
from fixtures.tiny_detector import build_tiny_scrfd


@pytest.fixture(scope="module")
def truth(media_dir):
    return labelled_faces(media_dir)


@pytest.fixture(scope="module")
def hog():
    return faces_ml.FaceModels().detector("hog")


def _thorough(detector, image: np.ndarray, min_face=24, max_pixels=140e6):
    boxes = detect.find_boxes(detector, image, detect.scale_for(detector, image.shape, min_face, max_pixels))
    return [b[:4] for b in boxes]


def _load(media_dir, name):
    return np.asarray(Image.open(media_dir / "faces_labelled" / name).convert("RGB"))


def test_thorough_pass_finds_the_small_faces_of_group_photos(media_dir, truth, hog):
    names = ["2007_007763.jpg", "2008_004176.jpg", "dogs.jpg"]  # 14 faces of 37-45 px; dogs, no person
    found = {n: _thorough(hog, _load(media_dir, n)) for n in names}
    recall, precision, counts = score(found, truth)
    assert recall >= 0.9 and precision >= 0.95, counts


def test_fast_pass_misses_faces_that_small_on_a_phone_photo(media_dir, truth, hog):
    """Why there is a thorough pass: a 12 MP photo downscaled to 1024 px loses every face under ~300 px."""
    image = _load(media_dir, "phone_small.jpg")
    fast = detect.find_boxes(hog, image, faces_ml.fast_scale(image.shape, 1024))
    recall, _, _ = score({"phone_small.jpg": [b[:4] for b in fast]}, truth)
    assert recall < 0.2


def test_hog_on_luminance_finds_the_faces_it_finds_on_rgb(media_dir, truth):
    """The fast pass hands HOG one grey channel (a third faster); it finds the same labelled faces."""
    names = ["2007_007763.jpg", "2008_001009.jpg", "kit_with_rose.jpg"]
    grey, rgb = detect.HogDetector("dlib-hog", "."), detect.HogDetector("dlib-hog", ".")
    rgb.grey = False
    found = {}
    for detector in (grey.load(), rgb.load()):
        boxes = {}
        for n in names:
            image = _load(media_dir, n)
            boxes[n] = [b[:4] for b in detect.find_boxes(detector, image, faces_ml.fast_scale(image.shape, 1000))]
        found[detector.grey] = score(boxes, truth)
    assert found[True][2]["tp"] >= 6
    assert found[True] == found[False]


def test_tiles_find_a_face_on_a_tile_border_once(media_dir, truth, hog):
    photo = Image.open(media_dir / "faces_labelled/2007_007763.jpg").convert("RGB")
    canvas = Image.new("RGB", (3400, 1700), (118, 124, 112))
    left, top = 1300, 600  # at 2x the group spans the border of the first two 1600 px tiles
    canvas.paste(photo.resize((1000, 750), Image.Resampling.LANCZOS), (left, top))
    expected = [(left + 2 * a, top + 2 * b, left + 2 * c, top + 2 * d) for a, b, c, d in truth["2007_007763.jpg"]]
    found = _thorough(hog, np.asarray(canvas), min_face=74)  # scale ~1.1: three tiles across
    assert detect._tiles(3400 * 80 / 74, hog.tile, 200) != [0]
    recall, precision, counts = score({"g": found}, {"g": expected})
    assert recall == 1.0 and precision == 1.0, counts


@pytest.mark.slow
def test_labelled_set_after_both_passes_meets_the_goal(media_dir, truth, hog):
    """Every labelled photo, phone-resolution composites included: recall >= 90% of faces >= 24 px,
    precision >= 95% (bench/faces.py prints the figures)."""
    found = {n: _thorough(hog, _load(media_dir, n)) for n in truth}
    recall, precision, counts = score(found, truth)
    assert recall >= 0.9 and precision >= 0.95, counts


# --- the onnx backend, with a tiny SCRFD-format model built here ------------------------------------
@pytest.fixture
def tiny_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    models_dir = tmp_path / "models"
    build_tiny_scrfd(models_dir / "acme--tiny-scrfd")
    return models_dir


def test_onnx_detector_loads_from_the_models_dir_and_maps_boxes_back(tiny_onnx):
    models = faces_ml.FaceModels(models_dir=tiny_onnx, device="cpu")
    image = np.zeros((1280, 1920, 3), np.uint8)
    # at the detector's scale (16/32 = 0.5) a 32 px cell on the grid of the second of two tiles
    image[640:704, 1280:1344] = 255
    found = faces_ml.detect_faces(image, model="onnx", onnx_model="acme/tiny-scrfd", models=models, min_face=32)
    assert len(found) == 1
    face = found[0]
    assert face.encoding.shape == (128,)
    assert (round(face.x * 1920), round(face.y * 1280), round(face.w * 1920), round(face.h * 1280)) == (1280, 640, 64, 64)
    assert models.detector("onnx", "acme/tiny-scrfd").device == "cpu"


def test_onnx_detector_without_weights_names_models_pull(tmp_path):
    with pytest.raises(ModelUnavailable, match="jaicat models pull acme/none"):
        faces_ml.FaceModels(models_dir=tmp_path).detector("onnx", "acme/none")


def test_a_broken_onnx_file_is_unavailable_not_a_crash(tmp_path):
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "acme--broken" / "detection" / "model.onnx"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="cannot be loaded"):
        faces_ml.FaceModels(models_dir=tmp_path).detector("onnx", "acme/broken")


def test_auto_measures_and_takes_the_onnx_detector_once_pulled(tiny_onnx, settings):
    settings.models_dir = tiny_onnx
    settings.face_onnx_model = "acme/tiny-scrfd"
    models = faces_ml.FaceModels(models_dir=tiny_onnx, device="cpu")
    measured = passes.measure_backends(settings, models)
    assert measured["onnx"]["available"] and measured["hog"]["available"]
    assert measured["hog"]["seconds"] > 0
    assert passes.choose_backend(settings, models) == "onnx"


def test_auto_falls_back_to_hog_without_a_pulled_detector(settings, tmp_path):
    settings.face_onnx_model = "acme/absent"
    models = faces_ml.FaceModels(models_dir=tmp_path, device="cpu")
    models.measured = None
    measured = passes.measure_backends(settings, models)
    assert not measured["onnx"]["available"] and "models pull" in measured["onnx"]["error"]
    assert measured["yunet"]["available"] == (detect.yuface is not None)
    # YuNet where its wheel is; else cnn only within budget (a GPU)
    assert passes.choose_backend(settings, models) == ("yunet" if detect.yuface is not None else "hog") or \
        passes.choose_backend(settings, models) == "cnn"


def test_models_pull_from_a_folder_installs_the_detector_where_it_is_found(tmp_path, settings, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from jaicat.cli.main import main

    src = build_tiny_scrfd(tmp_path / "usb" / "acme--tiny-scrfd")
    monkeypatch.setenv("JAICAT_FACE_ONNX_MODEL", "acme/tiny-scrfd")
    args = ["--data-dir", str(settings.data_dir)]
    assert main([*args, "models", "pull", "--from", str(src.parent), "acme/tiny-scrfd"]) == 0
    assert detect.find_onnx_detector("acme/tiny-scrfd", settings.models) == \
        settings.models / "acme--tiny-scrfd" / "detection" / "model.onnx"
    bad = tmp_path / "bad" / "acme--broken" / "detection" / "model.onnx"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x08\x01 truncated")
    assert main([*args, "models", "pull", "--from", str(bad), "broken.onnx"]) != 0
    assert not list(settings.models.rglob("*.partial"))
