"""Fixtures for the ML area: tiny random-weight models, settings pointing at them, photo makers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_models import tiny_models  # noqa: E402,F401  (session fixture, re-exported)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models are dominated by per-op overhead; on a busy 2-core box extra torch threads only
    contend (5x slower measured). Restored afterwards for other suites."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory):
    """One models dir per session so the vocabulary text-embedding cache is computed once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def ml_settings(settings, tiny_models, shared_models_dir):  # noqa: F811
    """The core `settings` fixture with the tiny CLIP/BLIP models configured and tag filters open."""
    settings.models_dir = shared_models_dir
    settings.clip_model = str(tiny_models["clip"])
    settings.caption_model = str(tiny_models["caption"])
    settings.tag_threshold = 0.0
    settings.tag_top_k = 3
    settings.batch_size = 4
    return settings


def make_image(path: Path, seed: int, size=(96, 64)) -> Path:
    """A distinct JPEG per seed (random blocks, so perceptual hashes and embeddings differ)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize(size, Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=90)
    return path


@pytest.fixture
def add_photos(settings, tmp_path):
    """add_photos(n, start=0) -> [Photo] ingested into the inbox (through the real ingest)."""
    from jaicat.ingest import ingest_file

    def add(n: int, start: int = 0, names: list[str] | None = None):
        out = []
        for i in range(start, start + n):
            name = names[i - start] if names else f"img_{i:03d}.jpg"
            src = make_image(tmp_path / "src" / name, seed=1000 + i)
            out.append(ingest_file(src, settings).photo)
        return out

    return add


@pytest.fixture
def no_faces(monkeypatch):
    """Skip the face stage (dlib) where a test is about the CLIP/BLIP plumbing only."""
    from jaicat.analysis import Analyser

    monkeypatch.setattr(Analyser, "people", lambda self: None)
