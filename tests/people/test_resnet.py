"""jaicat.people.resnet: dlib's face-recognition ResNet read from dlib's own model file and run on
onnxruntime gives dlib's encodings (real model, real faces; dlib's compute_face_descriptor as reference)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from jaicat.people import detect, resnet
from jaicat.people import faces as faces_ml
from jaicat.photos.imaging import open_upright

RESNET = "dlib_face_recognition_resnet_model_v1.dat"
MAX_COMPONENT = 1e-3
MAX_DISTANCE = 0.01  # dlib's match threshold is 0.6


@pytest.fixture(scope="module")
def dlib_models():
    import dlib

    frm = detect.dlib_models_dir()
    return (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(frm / "shape_predictor_5_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(frm / RESNET)))


@pytest.fixture(scope="module")
def port():
    return resnet.ResNetEncoder(detect.dlib_models_dir() / RESNET)


def _compare(paths, dlib_models, port, limit):
    """(faces compared, largest component difference, largest euclidean distance) port vs dlib."""
    import dlib

    det, shape_predictor, encoder = dlib_models
    n, worst_component, worst_distance = 0, 0.0, 0.0
    for path in paths:
        image = np.ascontiguousarray(np.asarray(open_upright(path, max_side=1024).convert("RGB")))
        shapes = [shape_predictor(image, r) for r in det(image, 0)][:limit - n]
        if not shapes:
            continue
        ref = np.array([encoder.compute_face_descriptor(image, s, 1) for s in shapes], dtype=np.float32)
        chips = dlib.get_face_chips(image, dlib.full_object_detections(shapes), resnet.CHIP_SIZE, resnet.CHIP_PADDING)
        got = port.encode_chips(np.stack(chips))
        assert got.shape == ref.shape and got.dtype == np.float32
        worst_component = max(worst_component, float(np.abs(got - ref).max()))
        worst_distance = max(worst_distance, float(np.linalg.norm(got - ref, axis=1).max()))
        n += len(shapes)
        if n >= limit:
            break
    return n, worst_component, worst_distance


@pytest.mark.slow
def test_port_gives_dlibs_encodings_on_the_media_faces(media_dir, dlib_models, port):
    paths = sorted((media_dir / "faces").rglob("*.jpg")) + sorted((media_dir / "faces_groups").glob("*.jpg")) \
        + sorted((media_dir / "faces_labelled").glob("2008_00*.jpg"))
    n, component, distance = _compare(paths, dlib_models, port, limit=20)
    assert n >= 20
    assert component <= MAX_COMPONENT and distance <= MAX_DISTANCE, (component, distance)


@pytest.mark.slow
def test_port_gives_dlibs_encodings_on_the_larger_media(full_media_dir, dlib_models, port):
    paths = sorted(p for p in (full_media_dir / "faces").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    n, component, distance = _compare(paths[::4], dlib_models, port, limit=8)
    assert n >= 5
    assert component <= MAX_COMPONENT and distance <= MAX_DISTANCE, (component, distance)


def test_a_batch_encodes_each_chip_as_alone(port):
    chips = np.random.default_rng(3).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    together = port.encode_chips(chips)
    alone = np.concatenate([port.encode_chips(c[None]) for c in chips])
    assert np.abs(together - alone).max() < 1e-5
    assert port.encode_chips(np.empty((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_files_that_are_not_the_resnet_are_refused(tmp_path):
    data = (detect.dlib_models_dir() / RESNET).read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(resnet.FormatError):
        resnet.ResNetEncoder(truncated)
    with pytest.raises(resnet.FormatError, match="loss_metric"):
        resnet.ResNetEncoder(detect.dlib_models_dir() / "shape_predictor_5_face_landmarks.dat")
    with pytest.raises(resnet.FormatError):
        resnet.ResNetEncoder(detect.dlib_models_dir() / "mmod_human_face_detector.dat")  # another dlib net


def test_face_models_use_the_port_and_fall_back_to_dlib_with_one_warning(media_dir, monkeypatch, caplog):
    image = np.asarray(open_upright(media_dir / "faces/Kit_Harington/1.jpg", max_side=800).convert("RGB"))
    fast = faces_ml.FaceModels()
    assert fast.encoder() == {"runtime": "onnxruntime", "error": None}
    found = faces_ml.detect_faces(image, models=fast, max_side=800)
    assert len(found) == 1
    h, w = image.shape[:2]
    box = [(round(f.x * w), round(f.y * h), round((f.x + f.w) * w) - 1, round((f.y + f.h) * h) - 1) for f in found]

    def broken(path, threads=1):
        raise resnet.FormatError("damaged")

    monkeypatch.setattr(resnet, "ResNetEncoder", broken)
    monkeypatch.setattr(faces_ml, "_fallback_warned", type(faces_ml._fallback_warned)())
    with caplog.at_level(logging.WARNING, logger="jaicat.people.faces"):
        slow = [faces_ml.FaceModels() for _ in range(2)]
        ref = slow[0].encode(image, box)
        assert slow[1].encoder() == {"runtime": "dlib", "error": "FormatError: damaged"}
    assert len([r for r in caplog.records if "did not load" in r.getMessage()]) == 1
    assert np.linalg.norm(found[0].encoding - ref[0]) <= MAX_DISTANCE
