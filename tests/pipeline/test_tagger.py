"""Zero-shot tagging: the vocabulary file, the cached text matrix, scoring for CLIP and SigLIP."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaicat.models.clip import ClipEncoder
from jaicat.models.tagger import PACKAGED_VOCABULARY, ZeroShotTagger, caption_tags, load_vocabulary


def test_packaged_vocabulary_covers_everyday_photos():
    v = load_vocabulary()
    assert len(v) >= 300 and len(set(v.names)) == len(v.names)
    for concept in ("dog", "beach", "birthday", "receipt", "screenshot", "document", "selfie", "car"):
        assert concept in v.names
    i = v.names.index("receipt")
    assert any("receipt" in p for p in v.prompts[i]) and len(v.prompts[i]) >= 1
    dog = v.prompts[v.names.index("dog")]
    assert "a photo of dog." in dog  # templates for plain entries


def test_user_vocabulary_extends_overrides_and_drops(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# my words\nsourdough\nDog: my dog Rex | a brown dachshund\n-receipt\n")
    v = load_vocabulary(f)
    base = load_vocabulary()
    assert "sourdough" in v.names and "receipt" not in v.names
    assert v.prompts[v.names.index("dog")] == ["my dog Rex", "a brown dachshund"]
    assert len(v) == len(base)  # +1 -1
    assert v.digest != base.digest
    assert load_vocabulary(tmp_path / "missing.txt").names == base.names  # warns, keeps going
    assert PACKAGED_VOCABULARY.is_file()


def test_caption_tags_whole_words_and_plurals():
    v = load_vocabulary()
    assert caption_tags("Two dogs on the beach at sunset", v) == [n for n in v.names if n in ("dog", "beach", "sunset")]
    assert "man" not in caption_tags("a woman reading", v)
    assert caption_tags(None, v) == []


def test_text_matrix_is_cached_on_disk(tiny_models, tmp_path, monkeypatch):
    enc = ClipEncoder(str(tiny_models["clip"]), tmp_path, device="cpu")
    vocab = load_vocabulary()
    t1 = ZeroShotTagger(enc, vocab, cache_dir=tmp_path / "cache")
    m = t1.text_matrix()
    assert m.shape == (len(vocab), 16) and np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-5)
    assert len(list((tmp_path / "cache").glob("text-*.npy"))) == 1
    monkeypatch.setattr(ClipEncoder, "embed_texts", lambda *a: pytest.fail("should come from the cache"))
    t2 = ZeroShotTagger(enc, vocab, cache_dir=tmp_path / "cache")
    assert np.array_equal(t2.text_matrix(), m)


def test_scores_rank_and_threshold(tiny_models, tmp_path):
    enc = ClipEncoder(str(tiny_models["clip"]), tmp_path, device="cpu")
    tagger = ZeroShotTagger(enc, load_vocabulary(), cache_dir=tmp_path)
    emb = enc.predict([Image.new("RGB", (50, 40), c) for c in ("red", "blue")])
    scores = tagger.scores(emb)
    assert scores.shape == (2, len(tagger.vocabulary)) and np.allclose(scores.sum(axis=1), 1, atol=1e-4)
    tags = tagger.tag(emb, top_k=4, threshold=0.0)
    for row, per_image in zip(scores, tags, strict=True):
        assert [s for _, s in per_image] == sorted(row, reverse=True)[:4]
    cut = float(np.sort(scores[0])[-2])  # keeps exactly the top two of image 0
    assert len(tagger.tag(emb[:1], top_k=10, threshold=cut)[0]) == 2


def test_siglip_is_selectable_and_uses_sigmoid_scores(tmp_path):
    from fixtures.tiny_models import build_tiny_siglip

    path = build_tiny_siglip(tmp_path / "siglip")
    enc = ClipEncoder(str(path), tmp_path, device="cpu")
    emb = enc.predict([Image.new("RGB", (50, 40), "green")])
    assert enc.sigmoid_scores and emb.shape == (1, 32)
    tagger = ZeroShotTagger(enc, load_vocabulary(), cache_dir=tmp_path)
    s = tagger.scores(emb)
    assert ((s > 0) & (s < 1)).all() and not np.isclose(s.sum(), 1.0)  # independent per concept
