"""BLIP's text decoder on ONNX Runtime (models/caption_decoder.py), exported from tiny models through
the real loader: the float graph decodes the torch decoder's greedy words, the int8 one stays within
the stated tolerance of the float logits, a model asking for more than greedy decoding keeps
transformers' generate, and a damaged export is rebuilt."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from jaicat.models.caption_decoder import plain_greedy
from jaicat.models.captioner import Captioner, CaptionsInterrupted

pytest.importorskip("onnxruntime")

WORDS = 20


def _features(text, n: int = 8, tokens: int = 17):
    """Image features as varied as real photos give (the tiny vision tower maps every photo nearly alike)."""
    import torch

    torch.manual_seed(3)
    return torch.randn(n, tokens, text.encoder_hidden_size) * 10


def _cross(ref: Captioner, states) -> list[np.ndarray]:
    """The float decoder's cross-attention keys of every layer, then values, as the ONNX decoder takes them."""
    import torch

    from jaicat.models.captioner import _cross_attentions

    text = ref.model.config.text_config
    heads, size = text.num_attention_heads, text.hidden_size // text.num_attention_heads
    with torch.inference_mode():
        kv = [[p(states).view(*states.shape[:2], heads, size).transpose(1, 2).contiguous().numpy()
               for p in (m.key, m.value)] for m in _cross_attentions(ref.model.text_decoder)]
    return [k for k, _ in kv] + [v for _, v in kv]


def _greedy(ref: Captioner, states, min_new_tokens: int = WORDS):
    """transformers' greedy words for the image features `states`, [DEC] first."""
    import torch

    text = ref.model.config.text_config
    with torch.inference_mode():
        return ref.model.text_decoder.generate(
            input_ids=torch.full((len(states), 1), text.bos_token_id), encoder_hidden_states=states,
            encoder_attention_mask=torch.ones(states.shape[:2], dtype=torch.long), eos_token_id=text.sep_token_id,
            pad_token_id=text.pad_token_id, max_new_tokens=WORDS, min_new_tokens=min_new_tokens, num_beams=1,
            do_sample=False)


def _teacher_forced(decoder, cross: list[np.ndarray], words: np.ndarray) -> np.ndarray:
    """The step graph's logits for each next word of `words` (fed the given words, not its own)."""
    session = decoder.session
    n = decoder.layers
    batch = words.shape[0]
    past = [np.zeros((batch, decoder.heads, 0, decoder.size), np.float32)] * (2 * n)
    logits = []
    for t in range(words.shape[1]):
        feed = {"input_ids": words[:, t:t + 1], "position": np.full((1, 1), t, np.int64)}
        feed.update(zip(decoder.inputs[2:], past + cross, strict=True))
        out = session.run(None, feed)
        logits.append(out[0])
        past = out[1:]
    return np.stack(logits, axis=1)


def test_the_float_onnx_decoder_decodes_the_torch_decoders_greedy_words(tiny_models, tmp_path):
    ref = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="torch").load()
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx").load()
    assert ref._decoder is None and cap._decoder is not None
    assert cap.model.text_decoder is None  # transformers' decoder is let go: the ONNX one decodes
    states = _features(ref.model.config.text_config)
    want = _greedy(ref, states).numpy()
    assert len({tuple(row) for row in want.tolist()}) > 1  # the inputs lead to different captions
    got = cap._decoder.generate(_cross(ref, states), WORDS, WORDS)
    np.testing.assert_array_equal(got, want)


def test_the_int8_onnx_decoder_stays_within_the_stated_tolerance_of_the_float_one(tiny_models, tmp_path):
    """Stated tolerance (as for torch's int8 decoder), teacher-forced on the float decoder's own greedy
    captions: every logit within 20% of the logits' spread, and the same next word wherever the float
    decoder's choice is not a near-tie (its two best words further apart than twice the largest error)."""
    import torch

    ref = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="torch").load()
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    assert cap._decoder is not None and cap._decoder.session._model_path.endswith("-onnx-int8.onnx")
    states = _features(ref.model.config.text_config)
    words = _greedy(ref, states)
    with torch.inference_mode():
        want = ref.model.text_decoder(input_ids=words, encoder_hidden_states=states).logits.numpy()
    got = _teacher_forced(cap._decoder, _cross(ref, states), words.numpy())
    error = np.abs(got - want).max()
    assert error <= 0.2 * want.std()
    best = np.sort(want, axis=-1)[..., -2:]
    clear = best[..., 1] - best[..., 0] > 2 * error
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(got.argmax(-1)[clear], want.argmax(-1)[clear])


def test_captions_end_at_the_end_word_and_a_stop_abandons_the_batch(tiny_models, tmp_path):
    """With the end word allowed, captions stop there (padded after, as transformers' generate does);
    `should_stop()` is asked before each word."""
    ref = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="torch").load()
    cap = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx").load()
    states = _features(ref.model.config.text_config)
    cross = _cross(ref, states)
    want = _greedy(ref, states, min_new_tokens=0).numpy()
    got = cap._decoder.generate(cross, 0, WORDS)
    np.testing.assert_array_equal(got, want)
    asked = []
    assert cap._decoder.generate(cross, WORDS, WORDS, should_stop=lambda: asked.append(1) or len(asked) > 3) is None
    assert len(asked) == 4
    with pytest.raises(CaptionsInterrupted):
        cap.caption([_image()] * 2, should_stop=lambda: True)


def _image():
    from PIL import Image

    return Image.new("RGB", (64, 48), (200, 120, 40))


def test_a_model_asking_for_more_than_greedy_decoding_keeps_transformers_generate(tiny_models, tmp_path):
    model = tmp_path / "blip-penalised"
    shutil.copytree(tiny_models["caption"], model)
    config = model / "generation_config.json"
    settings = json.loads(config.read_text()) if config.is_file() else {}
    config.write_text(json.dumps({**settings, "repetition_penalty": 1.3}))
    cap = Captioner(str(model), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    assert cap._decoder is None and cap._tower is not None
    assert len(cap.caption([_image()] * 2)) == 2
    assert not plain_greedy(cap.model.generation_config)


def test_a_damaged_decoder_export_is_rebuilt(tiny_models, tmp_path):
    first = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    path = next((tmp_path / "models" / ".cache" / "onnx").glob("caption-decoder-*-onnx-int8.onnx"))
    captions = first.caption([_image()] * 2)
    path.write_bytes(b"not an onnx model")
    fixed = Captioner(str(tiny_models["caption"]), tmp_path / "models", device="cpu", runtime="onnx-int8").load()
    assert fixed._decoder is not None and fixed.caption([_image()] * 2) == captions
    assert not list(path.parent.glob("*.partial")) and not list(path.parent.glob(".export-*"))
