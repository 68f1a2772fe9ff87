"""Model loading: resolution order, clear errors without weights, pull --from, shared instances."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from jaicat.errors import ModelUnavailable
from jaicat.models.captioner import Captioner, tidy_caption
from jaicat.models.clip import ClipEncoder
from jaicat.models.base import (
    ModelCache,
    list_local_models,
    local_dir_name,
    pull_model,
    resolve_model_path,
)


def _images(n):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)) for i in range(n)]


def test_clip_round_trip_from_local_path(tiny_models, tmp_path):
    enc = ClipEncoder(str(tiny_models["clip"]), tmp_path / "models", device="cpu", batch_size=2)
    emb = enc.predict(_images(5))  # 3 chunks of batch_size 2
    assert emb.shape == (5, 16) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    again = enc.predict(_images(5))
    assert np.allclose(emb, again, atol=1e-6)  # deterministic (eval mode)
    texts = enc.embed_texts(["a dog on a beach", "receipt", "x" * 500])  # long text is truncated
    assert texts.shape == (3, 16)
    assert enc.path == tiny_models["clip"] and enc.device == "cpu"


def test_clip_loads_where_auto_image_processor_needs_torchvision(tiny_models, tmp_path, monkeypatch):
    # Some transformers 5 releases make AutoImageProcessor a placeholder that raises without torchvision,
    # even when the PIL processor is asked for. The loader must not depend on it.
    import transformers

    class NeedsTorchvision:
        @classmethod
        def from_pretrained(cls, *a, **kw):
            raise ImportError("AutoImageProcessor requires the Torchvision library")

    monkeypatch.setattr(transformers, "AutoImageProcessor", NeedsTorchvision)
    enc = ClipEncoder(str(tiny_models["clip"]), tmp_path / "models", device="cpu")
    emb = enc.predict(_images(2))
    assert emb.shape == (2, 16) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert type(enc.processor).__name__.startswith("CLIPImageProcessor")


def test_caption_round_trip(tiny_models, tmp_path):
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu")
    out = cap.predict(_images(3))
    assert len(out) == 3 and all(isinstance(c, str) and c for c in out)


def test_tidy_caption_drops_blip_artifacts():
    assert tidy_caption("arafed man  on a beach ") == "Man on a beach"
    assert tidy_caption("") == ""


def test_resolution_order_and_missing_weights_error(tiny_models, tmp_path):
    models = tmp_path / "models"
    with pytest.raises(ModelUnavailable) as e:
        resolve_model_path("acme/clip-nowhere", models)
    assert "jaicat models pull" in e.value.message and "acme/clip-nowhere" in e.value.message
    # pulled into <models>/<org--name>
    dest = pull_model("acme/clip-tiny", models, from_dir=tiny_models["clip"], only=True)
    assert dest == models / local_dir_name("acme/clip-tiny") == models / "acme--clip-tiny"
    assert resolve_model_path("acme/clip-tiny", models) == dest
    # a local path wins over everything
    assert resolve_model_path(str(tiny_models["clip"]), models) == tiny_models["clip"]


def test_pull_from_folder_layouts(tiny_models, tmp_path):
    import shutil

    src = tmp_path / "usb"
    shutil.copytree(tiny_models["caption"], src / "Salesforce--blip-tiny")
    shutil.copytree(tiny_models["clip"], src / "openai" / "clip-tiny")
    models = tmp_path / "models"
    assert pull_model("Salesforce/blip-tiny", models, from_dir=src).name == "Salesforce--blip-tiny"
    assert pull_model("openai/clip-tiny", models, from_dir=src).name == "openai--clip-tiny"
    with pytest.raises(ModelUnavailable):
        pull_model("openai/other", models, from_dir=src)
    rows = list_local_models(models, {"clip": "openai/clip-tiny", "caption": "nobody/none"})
    by_name = {r["name"]: r for r in rows}
    assert by_name["openai/clip-tiny"]["available"] and by_name["openai/clip-tiny"]["role"] == "clip"
    assert not by_name["nobody/none"]["available"]
    assert by_name["Salesforce/blip-tiny"]["available"] and by_name["Salesforce/blip-tiny"]["bytes"] > 0
    # the installed copy loads through the ordinary loader
    enc = ClipEncoder("openai/clip-tiny", models, device="cpu")
    assert enc.predict(_images(1)).shape == (1, 16)


def test_pull_without_network_names_the_offline_route(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(self, *a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", offline)
    with pytest.raises(ModelUnavailable) as e:
        pull_model("openai/clip-vit-base-patch32", tmp_path / "models")
    assert "--from" in e.value.message


def test_a_model_cache_shares_one_instance_and_loads_it_once(ml_settings):
    models = ModelCache()
    a = models.get(ClipEncoder, ml_settings.clip_model, ml_settings)
    b = models.get(ClipEncoder, ml_settings.clip_model, ml_settings)
    assert a is b
    assert ModelCache().get(ClipEncoder, ml_settings.clip_model, ml_settings) is not a  # caches are separate
    calls = []
    orig = ClipEncoder._load

    class Counting(ClipEncoder):
        def _load(self, path):
            calls.append(path)
            orig(self, path)

    m = models.get(Counting, ml_settings.clip_model, ml_settings)
    threads = [threading.Thread(target=m.load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and m.loaded


def test_broken_weights_are_model_unavailable(tmp_path):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "clip"}')
    with pytest.raises(ModelUnavailable) as e:
        ClipEncoder(str(bad), tmp_path, device="cpu").load()
    assert "jaicat models pull" in e.value.message
