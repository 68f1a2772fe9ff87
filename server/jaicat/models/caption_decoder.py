"""BLIP's text decoder on ONNX Runtime: one exported graph per word, greedy, with its key/value cache.

Why: in torch a word of BLIP's decoder is a few hundred small operations, each dispatched from
Python; on a CPU that overhead was about half of a caption's decoding time, and the decoder's last
batch of a caption call runs alone on one core while the other waits. One ONNX Runtime graph per word
(int8 weights on onnx-int8, like the vision tower) does the same arithmetic at a fraction of the
dispatch cost.

The graph (`decoder_step`) takes the word so far (`input_ids`, one per caption), its position, the
self-attention keys and values of the words before it and the cross-attention keys and values of the
image features (computed once per caption by the vision tower, models/captioner.py), and gives the
next word's logits and the self-attention keys and values with this word added. `OnnxDecoder.generate`
decodes greedily as transformers' `generate` does for BLIP: the [DEC] prompt, no end before
`min_new_tokens`, padding after a caption's end, stopping when every caption has ended. A model whose
generation config asks for more than plain greedy decoding (repetition penalties, banned words...)
keeps transformers' `generate` (`plain_greedy`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
from .exported import export_graph
from .exported import cpu_session

# Generation settings that add a logits processor to greedy decoding, and the value that adds none.
_PLAIN = {"repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
          "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "suppress_tokens": None,
          "begin_suppress_tokens": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
          "exponential_decay_length_penalty": None, "sequence_bias": None, "min_length": 0,
          "renormalize_logits": False, "guidance_scale": None, "watermarking_config": None}


def plain_greedy(generation_config) -> bool:
    """Whether greedy decoding under `generation_config` is argmax of the logits (with the end token
    held back until min_new_tokens): what OnnxDecoder does."""
    for key, plain in _PLAIN.items():
        value = getattr(generation_config, key, plain)
        if value is not None and value != plain:
            return False
    return True


def decoder_step(text_decoder):
    """BLIP's text decoder (BlipTextLMHeadModel) as one exportable module for a word:
    (input_ids [B, 1], position [1, 1], past keys [B, H, t, d] x L, past values x L, cross keys
    [B, H, N, d] x L, cross values x L) -> (logits [B, vocab], present keys [B, H, t + 1, d] x L,
    present values x L). Its own modules do the arithmetic; only the attention is spelled out."""
    import torch

    bert = text_decoder.bert
    layers = list(bert.encoder.layer)
    heads = text_decoder.config.num_attention_heads
    size = text_decoder.config.hidden_size // heads
    scale = 1.0 / math.sqrt(size)

    def split(x):  # [B, T, H * d] -> [B, H, T, d]
        return x.view(x.shape[0], x.shape[1], heads, size).transpose(1, 2)

    def attend(q, k, v):  # -> [B, T, H * d]
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale, dim=-1)
        out = torch.matmul(weights, v).transpose(1, 2)
        return out.reshape(out.shape[0], out.shape[1], heads * size)

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.text_decoder = text_decoder

        def forward(self, input_ids, position, *caches):
            n = len(layers)
            past_k, past_v, cross_k, cross_v = (caches[i * n:(i + 1) * n] for i in range(4))
            h = bert.embeddings(input_ids=input_ids, position_ids=position)
            keys, values = [], []
            for i, layer in enumerate(layers):
                own = layer.attention.self
                k = torch.cat([past_k[i], split(own.key(h))], dim=2)
                v = torch.cat([past_v[i], split(own.value(h))], dim=2)
                h = layer.attention.output(attend(split(own.query(h)), k, v), h)
                cross = layer.crossattention.self
                h = layer.crossattention.output(attend(split(cross.query(h)), cross_k[i], cross_v[i]), h)
                h = layer.output(layer.intermediate(h), h)
                keys.append(k)
                values.append(v)
            return (text_decoder.cls(h)[:, -1], *keys, *values)

    return Step()


def step_names(layers: int) -> tuple[list[str], list[str]]:
    """The step graph's input and output names."""
    inputs = (["input_ids", "position"] + [f"past_key_{i}" for i in range(layers)]
              + [f"past_value_{i}" for i in range(layers)] + [f"cross_key_{i}" for i in range(layers)]
              + [f"cross_value_{i}" for i in range(layers)])
    outputs = ["logits"] + [f"key_{i}" for i in range(layers)] + [f"value_{i}" for i in range(layers)]
    return inputs, outputs


def export_step(text_decoder, dest: Path, quantise: bool) -> Path:
    """Export `decoder_step(text_decoder)` to `dest` (exported.export_graph: atomic, int8 if `quantise`)."""
    import torch


    cfg = text_decoder.config
    n, heads = cfg.num_hidden_layers, cfg.num_attention_heads
    size = cfg.hidden_size // heads
    past = torch.zeros(1, heads, 2, size)
    cross = torch.zeros(1, heads, 3, size)
    args = (torch.zeros(1, 1, dtype=torch.long), torch.full((1, 1), 2, dtype=torch.long),
            *([past] * (2 * n)), *([cross] * (2 * n)))
    inputs, outputs = step_names(n)
    axes = {"input_ids": {0: "batch"}, "logits": {0: "batch"}}
    for name in inputs[2:2 + 2 * n]:
        axes[name] = {0: "batch", 2: "past"}
    for name in inputs[2 + 2 * n:]:
        axes[name] = {0: "batch", 2: "tokens"}
    for name in outputs[1:]:
        axes[name] = {0: "batch", 2: "words"}
    return export_graph(decoder_step(text_decoder), args, dest, quantise, inputs, outputs, axes)


class OnnxDecoder:
    """The exported step graph and greedy decoding with it (see the module's docstring)."""

    def __init__(self, path: Path, layers: int, heads: int, size: int, bos: int, eos: int, pad: int):

        self.session = cpu_session(path, threads=1)  # a word is small: one core, the rest for the vision tower
        self.layers, self.heads, self.size = layers, heads, size
        self.bos, self.eos, self.pad = bos, eos, pad
        self.inputs, self.outputs = step_names(layers)

    def generate(self, cross: list[np.ndarray], min_new_tokens: int, max_new_tokens: int,
                 should_stop: Callable[[], bool] | None = None, run_options=None) -> np.ndarray | None:
        """Greedy word ids ([B, 1 + words], the [DEC] prompt first) for the images whose cross-attention
        keys and values (2 x layers arrays [B, H, N, d], C-contiguous float32: keys of every layer, then
        values) are given; None as soon as `should_stop()` is true (asked before each word)."""
        batch = cross[0].shape[0]
        binding = self.session.io_binding()
        for name, value in zip(self.inputs[2 + 2 * self.layers:], cross, strict=True):
            binding.bind_cpu_input(name, value)
        empty = np.zeros((batch, self.heads, 0, self.size), np.float32)
        past: list = [empty] * (2 * self.layers)
        words = np.full((batch, 1), self.bos, np.int64)
        ended = np.zeros(batch, bool)
        for step in range(max_new_tokens):
            if should_stop is not None and should_stop():
                return None
            binding.bind_cpu_input("input_ids", np.ascontiguousarray(words[:, -1:]))
            binding.bind_cpu_input("position", np.full((1, 1), words.shape[1] - 1, np.int64))
            for name, value in zip(self.inputs[2:2 + 2 * self.layers], past, strict=True):
                if isinstance(value, np.ndarray):
                    binding.bind_cpu_input(name, value)
                else:
                    binding.bind_ortvalue_input(name, value)
            for name in self.outputs:
                binding.bind_output(name, "cpu")
            self.session.run_with_iobinding(binding, run_options)
            out = binding.get_outputs()
            logits = out[0].numpy()
            if step < min_new_tokens:
                logits[:, self.eos] = -np.inf
            word = np.where(ended, self.pad, logits.argmax(-1))
            ended |= word == self.eos
            words = np.concatenate([words, word[:, None]], axis=1)
            past = list(out[1:])
            if ended.all():
                break
        return words
