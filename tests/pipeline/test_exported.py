"""Image towers on ONNX Runtime (float and int8), loaded through the real loader: outputs match the
float torch model within the stated tolerance, exports are cached and rebuilt when damaged, and the
captioner gives up a batch when asked to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaicat.config import load_settings
from jaicat.errors import InvalidInput
from jaicat.models.captioner import Captioner, CaptionsInterrupted
from jaicat.models.clip import ClipEncoder
from jaicat.models.exported import choose_runtime, export_path
from jaicat.models.base import ModelCache

pytest.importorskip("onnxruntime")

MEDIA = Path(__file__).resolve().parents[1] / "media"

# Stated tolerances: float ONNX is the same arithmetic reordered; int8 weights with per-batch
# activation scales keep cosine >= 0.99 (the search index and suggester compare cosines).
FLOAT_COSINE = 0.9999
INT8_COSINE = 0.99


def _photos(n: int = 6) -> list[Image.Image]:
    from jaicat.photos.imaging import open_upright

    groups = sorted((MEDIA / "faces_groups").rglob("*.jpg"))[:2]
    files = (groups + sorted((MEDIA / "faces").rglob("*.jpg")))[:n]
    assert len(files) == n
    return [open_upright(f, max_side=448) for f in files]


def _encoder(path, models_dir, runtime) -> ClipEncoder:
    settings = load_settings(data_dir=models_dir.parent, env={}, models_dir=models_dir, model_runtime=runtime,
                             device="cpu", clip_model=str(path))
    return ModelCache().get(ClipEncoder, settings.clip_model, settings).load()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_clip_image_tower_on_onnx_runtime_matches_torch(tiny_models, tmp_path):
    photos = _photos()
    ref = _encoder(tiny_models["clip"], tmp_path / "models", "torch")
    assert ref.runtime == "torch" and ref.tower is None
    want = ref.embed_images(photos)
    for runtime, tolerance in (("onnx", FLOAT_COSINE), ("onnx-int8", INT8_COSINE)):
        enc = _encoder(tiny_models["clip"], tmp_path / "models", runtime)
        assert enc.runtime == runtime and enc.tower is not None
        got = enc.embed_images(photos)
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert _cosines(got, want).min() >= tolerance, runtime
        # the text tower stays in torch: search and the tag vocabulary are unchanged
        assert np.allclose(enc.embed_texts(["a dog"]), ref.embed_texts(["a dog"]), atol=1e-6)
    exported = export_path(tmp_path / "models" / ".cache", "clip", ref.fingerprint(), "onnx-int8")
    assert exported.is_file()


def _small_real_clip(dest: Path) -> Path:
    """A real CLIP architecture at a small size (ViT-S/32-like vision tower at 224 px, 6 layers),
    random weights: the layer norms, GELUs and attention that int8 must get through are all there."""
    import json

    import torch
    from transformers import CLIPConfig, CLIPModel

    from fixtures.tiny_models import build_tiny_clip

    build_tiny_clip(dest)  # tokenizer and files; the model is replaced below
    tok_cfg = json.loads((dest / "config.json").read_text())["text_config"]
    torch.manual_seed(1)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=tok_cfg["vocab_size"], hidden_size=64, intermediate_size=128,
                         num_hidden_layers=1, num_attention_heads=2, bos_token_id=tok_cfg["bos_token_id"],
                         eos_token_id=tok_cfg["eos_token_id"], pad_token_id=tok_cfg["pad_token_id"]),
        vision_config=dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6,
                           image_size=224, patch_size=32),
        projection_dim=256,
    )
    CLIPModel(cfg).eval().save_pretrained(dest)
    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor
    ImageProcessor().save_pretrained(dest)  # the real 224 px resize + centre crop + CLIP normalisation
    return dest


def test_int8_embeddings_of_real_photos_stay_within_cosine_0_99_on_a_real_architecture(tmp_path):
    path = _small_real_clip(tmp_path / "small-clip")
    photos = _photos(8)
    want = _encoder(path, tmp_path / "models", "torch").embed_images(photos)
    got = _encoder(path, tmp_path / "models", "onnx-int8").embed_images(photos)
    cos = _cosines(got, want)
    assert cos.min() >= INT8_COSINE, cos
    # and the search index ranks neighbours alike: int8 moves no photo-to-photo similarity by more
    # than 0.005 (an untrained small CLIP puts these photos 0.0001-0.01 apart, so near-ties may swap;
    # trained weights spread them far wider), and every neighbour ahead by more than that stays ahead
    sim_want, sim_got = want @ want.T, got @ got.T
    assert np.abs(sim_got - sim_want).max() <= 0.005, np.abs(sim_got - sim_want).max()
    for i in range(len(photos)):
        for j in range(len(photos)):
            for k in range(len(photos)):
                if sim_want[i, j] - sim_want[i, k] > 0.005:
                    assert sim_got[i, j] > sim_got[i, k], (i, j, k)


def test_export_is_cached_and_a_damaged_one_rebuilt(tiny_models, tmp_path):
    models = tmp_path / "models"
    first = _encoder(tiny_models["clip"], models, "onnx-int8")
    path = first.tower.path
    stamp = path.stat().st_mtime_ns
    again = _encoder(tiny_models["clip"], models, "onnx-int8")
    assert again.tower.path == path and path.stat().st_mtime_ns == stamp  # loaded, not exported again
    path.write_bytes(b"not an onnx model")  # a disk error, a crash in another tool
    fixed = _encoder(tiny_models["clip"], models, "onnx-int8")
    assert fixed.runtime == "onnx-int8"
    assert _cosines(fixed.embed_images(_photos(2)), first.embed_images(_photos(2))).min() > 0.9999
    assert not list(path.parent.glob("*.partial")) and not list(path.parent.glob(".export-*"))


def test_captioner_vision_on_onnx_int8_matches_torch_and_captions(tiny_models, tmp_path):
    import torch

    photos = _photos(3)
    ref = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="torch").load()
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    assert cap.runtime == "onnx-int8"
    pixels = ref.processor(images=photos, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        want = ref.model.vision_model(pixel_values=pixels)[0].flatten(1).numpy()
        got = cap.model.vision_model(pixel_values=pixels)[0].flatten(1).numpy()
    assert _cosines(got, want).min() >= INT8_COSINE
    captions = cap.caption(photos)
    assert len(captions) == 3 and all(isinstance(c, str) and c for c in captions)


def test_caption_batch_is_abandoned_when_asked(tiny_models, tmp_path):
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="torch").load()
    cap.min_new_tokens = cap.max_new_tokens = 8
    calls = []

    def urgent() -> bool:  # a new photo arrives while the third word is decoded
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(CaptionsInterrupted):
        cap.caption(_photos(2), should_stop=urgent)
    assert len(calls) < 8  # gave up mid-caption, did not decode the rest
    assert len(cap.caption(_photos(2))) == 2  # and the model still works afterwards


def test_runtime_choice_and_bad_setting(tmp_path):
    assert choose_runtime("auto", "cpu") == "onnx-int8"
    assert choose_runtime("auto", "cuda") == "torch"  # fp16 torch on a GPU
    assert choose_runtime("onnx-int8", "cuda") == "torch"
    assert choose_runtime("torch", "cpu") == "torch"
    with pytest.raises(InvalidInput, match="model_runtime"):
        load_settings(data_dir=tmp_path, env={}, model_runtime="tensorrt")
    assert load_settings(data_dir=tmp_path, env={"JAICAT_MODEL_RUNTIME": "ONNX"}).model_runtime == "onnx"


def test_an_int8_embedding_does_not_depend_on_the_rest_of_its_batch(tiny_models, tmp_path):
    """The worker, `jaicat analyse` and a Ray worker batch photos differently: same photo, same vector."""
    photos = _photos(4)
    enc = _encoder(tiny_models["clip"], tmp_path / "models", "onnx-int8")
    together = enc.embed_images(photos)
    alone = np.concatenate([enc.embed_images([im]) for im in photos])
    assert np.array_equal(together, alone)


def test_gpu_batches_are_sized_to_free_memory(monkeypatch):
    """On a GPU the first batch is measured and later batches fill about half the free memory
    (no GPU in CI: torch.cuda's memory counters are played by a fake card)."""
    import torch

    from jaicat.models.base import MAX_GPU_BATCH, InferenceModel

    card = {"allocated": 1000, "peak": 1000}
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda: card.update(peak=card["allocated"]))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda: card["allocated"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: card["peak"])
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (8_000_000_000, 80_000_000_000))
    sizes = []

    class Fake(InferenceModel):
        def _predict(self, batch):
            sizes.append(len(batch))
            card["peak"] = card["allocated"] + 100_000_000 * len(batch)  # 100 MB per image
            return [0] * len(batch)

    model = Fake("fake", ".", device="cuda", batch_size=4)
    model.loaded, model.device = True, "cuda"
    assert len(model.predict(list(range(100)))) == 100
    assert sizes[0] == 4 and model.batch_size == 40  # half of 8 GB free / 100 MB
    assert sizes[1:] == [40, 40, 16]
    model._sized, model.batch_size = False, 4
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (10**13, 10**13))
    model.predict([0] * 4)
    assert model.batch_size == MAX_GPU_BATCH


def test_captioner_int8_decoder_picks_the_float_decoders_words(tiny_models, tmp_path, monkeypatch):
    """On onnx-int8, where the text decoder stays in torch, its Linear layers are int8 (torch dynamic
    quantisation). Stated
    tolerance, teacher-forced on the float decoder's own greedy captions: every logit within 20% of the
    logits' spread, and the same next word wherever the float decoder's choice is not a near-tie (its
    two best words further apart than twice the largest logit error)."""
    import torch

    monkeypatch.setattr(Captioner, "onnx_decoder", False)  # the ONNX decoder: test_caption_decoder.py
    ref = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="torch").load()
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    linears = [type(m).__module__ for m in cap.model.text_decoder.modules() if type(m).__name__ == "Linear"]
    assert linears and all("quantized" in m for m in linears)
    assert all(type(m).__module__ == "torch.nn.modules.linear"
               for m in ref.model.text_decoder.modules() if type(m).__name__ == "Linear")
    text = ref.model.config.text_config
    # Image features as varied as real photos give (the tiny vision tower maps every photo nearly alike)
    torch.manual_seed(3)
    states = torch.randn(8, 17, text.encoder_hidden_size) * 10
    with torch.inference_mode():
        words = ref.model.text_decoder.generate(
            input_ids=torch.full((8, 1), text.bos_token_id), encoder_hidden_states=states,
            encoder_attention_mask=torch.ones(states.shape[:2], dtype=torch.long), eos_token_id=text.sep_token_id,
            pad_token_id=text.pad_token_id, max_new_tokens=20, min_new_tokens=20, num_beams=1, do_sample=False)
        want = ref.model.text_decoder(input_ids=words, encoder_hidden_states=states).logits
        got = cap.model.text_decoder(input_ids=words, encoder_hidden_states=states).logits
    assert len({tuple(row) for row in words.tolist()}) > 1  # the inputs lead to different captions
    error = (got - want).abs().max()
    assert error <= 0.2 * want.std()
    best = want.topk(2, dim=-1).values
    clear = best[..., 0] - best[..., 1] > 2 * error
    assert clear.float().mean() > 0.5
    assert torch.equal(got.argmax(-1)[clear], want.argmax(-1)[clear])


def test_the_models_read_the_ingest_thumbnail_and_embed_as_from_the_original(tmp_path, settings):
    """The pipeline decodes a photo's 1280 px thumbnail (made once by ingest) instead of the original
    again; on real photos and a real CLIP architecture the embeddings stay within the int8 tolerance."""
    from jaicat.photos.imaging import open_upright
    from jaicat.photos.ingest import ingest_file, thumb_path
    from jaicat.pipeline.analysis import analysis_source, model_side
    from jaicat.models.clip import shrink

    files = sorted((MEDIA / "faces").rglob("*.jpg"))[:6] + [MEDIA / "faces/Joe_Biden/1.jpg"]
    photos = [ingest_file(f, settings).photo for f in files]
    sources = [analysis_source(p, settings) for p in photos]
    assert sources == [thumb_path(settings, p, max(settings.thumb_sizes)) for p in photos]
    encoder = _encoder(_small_real_clip(tmp_path / "small-clip"), tmp_path / "models", "torch")
    side = model_side(settings)
    want = encoder.embed_images([shrink(open_upright(f, max_side=side)) for f in files])
    got = encoder.embed_images([shrink(open_upright(s, max_side=side)) for s in sources])
    assert _cosines(got, want).min() >= INT8_COSINE

    # the original where the thumbnail is too small for the models, missing, or the original is gone
    settings.thumb_sizes = (256,)
    assert analysis_source(photos[-1], settings).name == photos[-1].path.split("/")[-1]
    settings.thumb_sizes = (256, 1280)
    thumb_path(settings, photos[0], 1280).unlink()
    assert analysis_source(photos[0], settings) != thumb_path(settings, photos[0], 1280)


def _tower_stalled_at(call: int, monkeypatch):
    """The captioner's tower runs counted (images per run); run number `call` sets the returned event (a
    new photo arrives while it is in the tower) and holds on until the captioner ends it
    (run_options.terminate, recorded in the returned list) before going on as ONNX Runtime does with an
    ended run."""
    import threading
    import time

    from jaicat.models.exported import OnnxTower

    calls, terminated, arrived = [], [], threading.Event()
    run = OnnxTower.run_into

    def counting(self, pixels, out, run_options=None):
        calls.append(len(pixels))
        if len(calls) == call:
            arrived.set()
            deadline = time.monotonic() + 30
            while not run_options.terminate and time.monotonic() < deadline:
                time.sleep(0.005)
            terminated.append(run_options.terminate)
        return run(self, pixels, out, run_options)

    monkeypatch.setattr(OnnxTower, "run_into", counting)
    return calls, terminated, arrived


def test_a_caption_batch_is_abandoned_within_an_image_of_the_vision_tower(tiny_models, tmp_path, monkeypatch):
    """On a CPU the vision tower takes about a second an image: a new photo waits neither for a whole
    batch's nor for the rest of the images in the tower (their runs are ended), and the next batch's
    images never start."""
    from jaicat.models.captioner import DECODER_BATCH

    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    calls, terminated, arrived = _tower_stalled_at(2, monkeypatch)
    with pytest.raises(CaptionsInterrupted):  # the new photo arrives while the second image is in the tower
        cap.caption(_photos(4) * 2, should_stop=arrived.is_set)
    assert terminated == [True]
    assert 2 <= len(calls) <= DECODER_BATCH and set(calls) == {1}  # an image a run; none of the next batch
    monkeypatch.undo()
    assert len(cap.caption(_photos(2))) == 2


def test_captions_are_decoded_while_the_next_batch_is_in_the_vision_tower(tiny_models, tmp_path):
    """On ONNX Runtime the vision tower runs a batch ahead of the decoder, on its own thread: the same
    words as one batch after the other, handed over batch by batch as they are decoded."""
    from jaicat.models.captioner import DECODER_BATCH

    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    images = _photos(5) * 2
    handed: list[tuple[int, list[str]]] = []
    captions = cap.caption(images, on_captions=lambda i, texts: handed.append((i, texts)))
    assert [i for i, _ in handed] == list(range(0, len(images), DECODER_BATCH))
    assert [t for _, texts in handed for t in texts] == captions and len(captions) == len(images)
    one_after_the_other = [t for i in range(0, len(images), DECODER_BATCH)
                           for t in cap.predict(images[i:i + DECODER_BATCH])]
    assert captions == one_after_the_other


def test_a_caption_batch_abandoned_between_words_ends_the_vision_tower_run_ahead(tiny_models, tmp_path,
                                                                                 monkeypatch):
    """A new photo arriving while the decoder is at work and the tower at the next batch stops both."""
    from jaicat.models.captioner import DECODER_BATCH

    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    first_of_next_batch = DECODER_BATCH + 1
    calls, terminated, arrived = _tower_stalled_at(first_of_next_batch, monkeypatch)
    handed = []
    with pytest.raises(CaptionsInterrupted):
        cap.caption(_photos(5) * 2, should_stop=arrived.is_set, on_captions=lambda i, texts: handed.append(i))
    assert terminated == [True]
    assert first_of_next_batch <= len(calls) <= 2 * DECODER_BATCH and set(calls) == {1}  # not the third batch
    assert handed in ([], [0])  # the first batch's captions, if they were done before the photo came


def test_the_vision_tower_gives_the_decoder_its_cross_attention_keys_and_values(tiny_models, tmp_path, monkeypatch):
    """On ONNX Runtime the decoder's projections of the image features (its cross-attention keys and
    values, once per caption) are part of the exported vision graph: within the int8 tolerance of the
    float projections, never computed again by a torch decoder, and the same greedy words as the
    decoder that projects the image features itself."""
    import torch

    from jaicat.models.captioner import _cross_attentions

    photos = _photos(4)
    monkeypatch.setattr(Captioner, "onnx_decoder", False)  # transformers' generate in torch (ONNX: test_caption_decoder.py)
    ref = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="torch").load()
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    attentions = _cross_attentions(cap.model.text_decoder)
    assert len(attentions) == ref.model.config.text_config.num_hidden_layers
    pixels = cap.processor(images=photos, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        states = cap.model.vision_model(pixel_values=pixels)[0]
        for got, want in zip(attentions, _cross_attentions(ref.model.text_decoder), strict=True):
            for projection, float_linear in ((got.key, want.key), (got.value, want.value)):
                assert projection.ready[0] is states
                computed, expected = projection.ready[1].flatten(1).numpy(), float_linear(states).flatten(1).numpy()
                assert _cosines(computed, expected).min() >= INT8_COSINE

    own = []  # the decoder's own projections are not run while captioning photos
    hooks = [p.linear.register_forward_hook(lambda *_: own.append(1)) for m in attentions for p in (m.key, m.value)]
    try:
        captions = cap.caption(photos)
    finally:
        for hook in hooks:
            hook.remove()
    assert own == [] and all(p.ready is None for m in attentions for p in (m.key, m.value))

    before = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    for m in _cross_attentions(before.model.text_decoder):  # as before: the decoder projects the features
        m.key, m.value = m.key.linear, m.value.linear
    assert captions == before.caption(photos)
    assert len(captions) == 4 and all(captions)


def test_a_tower_output_written_into_a_given_array_is_the_one_it_returns(tiny_models, tmp_path):
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    pixels = cap._pixels(_photos(1)).numpy()
    out = np.full((1, *cap._seen_shape), np.nan, np.float32)
    cap._tower.run_into(pixels, out)
    np.testing.assert_allclose(out, cap._tower(pixels), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        cap._tower.run_into(pixels, np.zeros((1, *cap._seen_shape), np.float64))


def test_the_captioner_keeps_its_batch_memory_between_calls_until_released(tiny_models, tmp_path):
    """The vision tower writes each batch's output into one of two arrays the decoder reads in turn:
    the same two from one call to the next (nothing paged in again), freed by release()."""
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    photos = _photos(5) * 2
    first = cap.caption(photos)
    kept = [id(b) for b in cap._buffers]
    assert cap.caption(photos) == first and [id(b) for b in cap._buffers] == kept and len(kept) == 2
    cap.release()
    assert cap._buffers is None and cap.caption(photos[:3]) == first[:3]
