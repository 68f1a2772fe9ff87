"""Image captioning (BLIP by default; any transformers image-to-text model that can `generate`).

On a CPU, BLIP's vision transformer (most of a caption's cost) runs on ONNX Runtime, int8 by default
(setting model_runtime, models/exported.py), together with the decoder's projections of the image
features (the cross-attention keys and values of every layer, once per caption); the text decoder
runs on ONNX Runtime too, one exported graph per word on one thread, greedy with its key/value cache
(models/caption_decoder.py; transformers' `generate` in torch, int8 Linear layers on onnx-int8,
where the model's generation config asks for more than greedy decoding). Captions are batched across
photos (DECODER_BATCH at a time on a CPU). Each image goes through the vision tower in a run of its
own, as many at once as there are cores (up to a batch), a batch ahead of the decoder: independent
one-thread runs share the cores with the decoder without waiting on each other, where one run split
over every core waits at each step for the thread that shares its core with the decoder. A batch
stops as soon as every caption has ended, and `caption(images, should_stop)` abandons the rest when
something more urgent arrives (the worker's caption pass: a new photo's suggestion must never wait for
captions): the decoder between words, the tower's runs where they are.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from PIL import Image

from .clip import image_processor_kwargs
from .base import InferenceModel
from .exported import int8_linears
from .caption_decoder import OnnxDecoder, export_step, plain_greedy
from .exported import export_path, load_or_export

log = logging.getLogger(__name__)

# BLIP trained on web alt-text sometimes opens with these non-words.
_JUNK_PREFIX = re.compile(r"^(?:arafed|araffe|arafe|araf)\s+", re.I)

# Captions decoded together on a CPU: the one-thread decoder's per-word cost is shared by the batch
# (8 gained ~5% over 4), and the vision tower of the next batch runs while this one is decoded.
DECODER_BATCH = 4
VISION_POLL_S = 0.02  # how often a caption batch waiting for the vision tower asks whether to give up


class CaptionsInterrupted(Exception):
    """A caption batch was abandoned because `should_stop()` said so; its photos are captioned later."""


def tidy_caption(text: str) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    text = _JUNK_PREFIX.sub("", text)
    return text[:1].upper() + text[1:] if text else ""


def _onnx_vision(tower, projections: list, hidden: int):
    """A torch module standing in for BLIP's vision model: the exported tower behind BLIP's own call
    (`vision_model(pixel_values=...)[0]`), so `generate` and the decoder are unchanged.

    The captioner runs the tower ahead of `generate` (on its vision threads, an image a run) and
    puts the batch's output in `seen`; the next call of the module (from `generate`) takes that
    output instead of running the tower again. The output also holds the decoder's cross-attention
    keys and values of the image features (see `_vision_tower`); they are handed to `projections`
    (the decoder's CrossProjections, in order)."""
    import numpy as np
    import torch

    class OnnxVision(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen: np.ndarray | None = None

        def forward(self, pixel_values, **_):
            seen, self.seen = self.seen, None
            if seen is None or len(seen) != len(pixel_values):
                pixels = pixel_values.float().cpu().numpy()
                seen = np.concatenate([tower(pixels[i:i + 1]) for i in range(len(pixels))])
            out = torch.from_numpy(seen)
            if not projections:  # nothing to hand them to: the image features alone
                return (out[..., :hidden],)
            width = projections[0].linear.out_features
            states, *computed = out.split([out.shape[-1] - width * len(projections)] + [width] * len(projections), -1)
            for projection, value in zip(projections, computed, strict=True):
                projection.ready = (states, value)
            return (states,)

    return OnnxVision()


def _cross_attentions(text_decoder) -> list:
    """The cross-attention modules of BLIP's text decoder (each with its `key` and `value`
    projections of the image features), in layer order."""
    return [m for name, m in text_decoder.named_modules() if name.endswith("crossattention.self")]


def _vision_tower(vision_model, projections: list):
    """BLIP's vision model as one exportable module, `pixel_values` -> the image features followed
    (along the last axis) by their projections (the decoder's cross-attention keys and values).

    The decoder projects the 577 image features of every photo once per layer at its first word: a
    quarter of a caption's time when it ran in torch on the decoder's one thread; here it runs with
    the vision tower (int8 on ONNX Runtime, on every core it is given)."""
    import torch

    class VisionTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vision_model = vision_model
            self.projections = torch.nn.ModuleList(projections)

        def forward(self, pixel_values):
            states = self.vision_model(pixel_values=pixel_values)[0]
            return torch.cat([states] + [p(states) for p in self.projections], dim=-1)

    return VisionTower()


def _cross_projection(linear):
    """`linear` (a cross-attention key or value projection of the decoder) that returns the values
    the vision tower computed for the batch's image features (`ready`: (features, values)) instead
    of computing them again; other inputs (a decoder called on its own) go through `linear`."""
    import torch

    class CrossProjection(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = linear
            self.ready = None

        def forward(self, x):
            if self.ready is not None:
                states, values = self.ready
                if x.shape == states.shape and x.data_ptr() == states.data_ptr():
                    return values
            return self.linear(x)

    return CrossProjection()


def _stop_when(should_stop: Callable[[], bool]):
    import torch
    from transformers import StoppingCriteria

    class StopWhen(StoppingCriteria):
        fired = False

        def __call__(self, input_ids, scores, **kwargs):
            self.fired = self.fired or bool(should_stop())
            return torch.full((input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device)

    return StopWhen()


@contextmanager
def _torch_threads(n: int | None):
    """torch's intra-op threads set to `n` for the duration (unchanged when None)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Captioner(InferenceModel):
    """`predict(images)` -> one caption string per image (greedy decoding, short)."""

    family = "caption"
    onnx_decoder = True  # BLIP's text decoder on ONNX Runtime where its vision tower runs there (tests turn it off)
    max_new_tokens = 30
    min_new_tokens = 0  # benchmarks force a fixed length (random weights may stop at once)

    def _load(self, path: Path) -> None:
        from transformers import AutoConfig, AutoProcessor

        config = AutoConfig.from_pretrained(path)
        if config.model_type == "blip":
            from transformers import BlipForConditionalGeneration as model_cls
        else:
            from transformers import AutoModelForImageTextToText as model_cls
        self._attach(model_cls.from_pretrained(path, dtype=self.dtype),
                     AutoProcessor.from_pretrained(path, **image_processor_kwargs()))

    @classmethod
    def from_model(cls, model, processor, device: str = "cpu", batch_size: int = 16) -> Captioner:
        """Wrap an already built model and processor (benchmarks)."""
        cap = cls("<in-memory>", ".", device=device, batch_size=batch_size)
        cap.device = device
        cap._attach(model, processor)
        cap.loaded = True
        return cap

    def _attach(self, model, processor) -> None:
        import torch

        self.model = model.to(self.device, self.dtype).eval()
        self.processor = processor
        self._torch = torch
        self._should_stop: Callable[[], bool] | None = None
        self._vision = None  # BLIP's vision tower on ONNX Runtime (_onnx_vision), when it runs there
        self._tower = None  # ... and the exported.OnnxTower behind it
        self._buffers: list | None = None  # the vision tower's outputs, a batch each (_batch_buffers)
        self._projections: list = []  # the decoder's cross-attention projections the vision tower computes
        self._decoder = None  # BLIP's text decoder on ONNX Runtime (caption_decoder.OnnxDecoder), when it runs there
        cores = os.cpu_count() or 1
        self._vision_threads = max(1, min(DECODER_BATCH, cores))  # images in the vision tower at once
        if getattr(model.config, "model_type", "") == "blip" and hasattr(self.model, "vision_model"):
            side = int(model.config.vision_config.image_size)
            cross = [p for m in _cross_attentions(self.model.text_decoder) for p in (m.key, m.value)]
            tower = self._accelerate(_vision_tower(self.model.vision_model, cross), torch.zeros(1, 3, side, side),
                                     threads=max(1, cores // self._vision_threads))
            if tower is None:
                return
            self._tower = tower
            vision = model.config.vision_config
            tokens = (int(vision.image_size) // int(vision.patch_size)) ** 2 + 1  # the patches and [CLS]
            self._seen_shape = (tokens, int(vision.hidden_size) + sum(p.out_features for p in cross))
            self._cross_width = cross[0].out_features
            self._decoder = self._onnx_decoder() if self.onnx_decoder else None  # from the float weights
            if self._decoder is not None:
                # transformers' decoder is not used: its memory is let go (the tower projects the features)
                self.model.text_decoder = None
                self.model.vision_model = self._vision = _onnx_vision(tower, [], int(vision.hidden_size))
                return
            if self.runtime == "onnx-int8":

                self.model.text_decoder = int8_linears(self.model.text_decoder)
            for m in _cross_attentions(self.model.text_decoder):
                m.key, m.value = _cross_projection(m.key), _cross_projection(m.value)
                self._projections += [m.key, m.value]
            self.model.vision_model = self._vision = _onnx_vision(tower, self._projections, int(vision.hidden_size))

    def _onnx_decoder(self):
        """BLIP's text decoder exported for ONNX Runtime (models/caption_decoder.py), from the cache
        when it holds a sound export; None (transformers' generate decodes) where the generation config
        asks for more than greedy decoding, or the export fails."""

        decoder = self.model.text_decoder
        if not (plain_greedy(self.model.generation_config) and plain_greedy(decoder.generation_config)):
            return None
        cfg = decoder.config
        dest = export_path(self.cache_dir, "caption-decoder", InferenceModel.fingerprint(self), self.runtime)

        def load():
            return OnnxDecoder(dest, cfg.num_hidden_layers, cfg.num_attention_heads,
                               cfg.hidden_size // cfg.num_attention_heads, bos=self.model.config.text_config.bos_token_id,
                               eos=self.model.config.text_config.sep_token_id, pad=self.model.config.text_config.pad_token_id)

        try:
            return load_or_export(dest, load, lambda: export_step(decoder, dest, quantise=self.runtime == "onnx-int8"))
        except Exception as e:  # noqa: BLE001 - exporter/runtime gaps: transformers' generate decodes
            log.warning("caption decoder: %s export failed (%s: %s); decoding with torch", self.runtime,
                        type(e).__name__, e)
            return None

    def caption(self, images: list[Image.Image], should_stop: Callable[[], bool] | None = None,
                on_captions: Callable[[int, list[str]], None] | None = None) -> list[str]:
        """One caption per image; raises CaptionsInterrupted as soon as `should_stop()` is true (checked
        between batches, between the vision tower's images and between words). `on_captions(i, texts)`
        is given each batch's captions as soon as they are decoded (texts of images[i:i + len(texts)]),
        so that what is done before an interruption can be kept. A GPU decodes the whole list together
        (in batches sized to its memory); a CPU DECODER_BATCH at a time.

        With the vision tower on ONNX Runtime, captions are decoded in batches of DECODER_BATCH in two
        stages that overlap: the vision threads run the tower on the next batch's images, one each,
        while this thread decodes the words of the current one."""
        self.load()
        if self._vision is not None:
            return self._caption_overlapped(images, should_stop, on_captions)
        # torch: a GPU takes the whole list (in batches sized to its memory), a CPU DECODER_BATCH at a time
        size = max(1, len(images) if self.device == "cuda" else min(DECODER_BATCH, self.batch_size))
        texts: list[str] = []
        self._should_stop = should_stop
        try:
            for i in range(0, len(images), size):
                words = self.predict(images[i:i + size])
                if on_captions is not None:
                    on_captions(i, words)
                texts += words
        finally:
            self._should_stop = None
        return texts

    def _caption_overlapped(self, images: list[Image.Image], should_stop, on_captions) -> list[str]:
        import onnxruntime as ort
        import torch

        size = min(DECODER_BATCH, self.batch_size)
        batches = [images[i:i + size] for i in range(0, len(images), size)]
        if not batches:
            return []
        tower = self._tower
        buffers = self._batch_buffers(size)
        run = ort.RunOptions()  # `terminate` ends the vision threads' tower runs where they are
        abandoned = threading.Event()

        def see(image: Image.Image, out):
            # on a vision thread: one image's pixels, its tower output written into its batch's buffer.
            # The vision threads ask nothing of the catalogue: the decoding thread asks `should_stop()`
            # while it waits for them.
            if abandoned.is_set():
                raise CaptionsInterrupted()
            pixels = self._pixels([image])
            tower.run_into(pixels.float().cpu().numpy(), out, run)
            return pixels

        def submit(k: int) -> list:
            out = buffers[k % 2]  # batch k-2 is decoded by the time batch k is submitted
            return [vision.submit(see, image, out[i:i + 1]) for i, image in enumerate(batches[k])]

        def seen(futures: list):
            pixels = []
            for future in futures:
                while True:
                    try:
                        pixels.append(future.result(timeout=VISION_POLL_S))
                        break
                    except FutureTimeout:
                        if should_stop is not None and should_stop():
                            raise CaptionsInterrupted() from None
            return torch.cat(pixels)

        texts: list[str] = []
        vision = ThreadPoolExecutor(max_workers=self._vision_threads, thread_name_prefix="caption-vision")
        try:
            ahead = submit(0)
            for k in range(len(batches)):
                pixels = seen(ahead)
                self._vision.seen = buffers[k % 2][:len(pixels)]
                if k + 1 < len(batches):
                    ahead = submit(k + 1)
                words = self._decode(pixels, should_stop)
                if on_captions is not None:
                    on_captions(len(texts), words)
                texts += words
        finally:
            # abandoned (or failed): the runs under way end now, the waiting images never start
            abandoned.set()
            run.terminate = True
            vision.shutdown(wait=True, cancel_futures=True)
        return texts

    def _batch_buffers(self, size: int) -> list:
        """Two arrays, each for the vision tower's output of a batch of `size` images, written by the
        vision threads and read by the decoder in turn. They are kept from one caption call to the
        next (paging in a fresh 180 MB costs more than the copy it saves) until `release()`."""
        import numpy as np

        shape = (size, *self._seen_shape)
        if self._buffers is None or self._buffers[0].shape != shape:
            self._buffers = [np.empty(shape, np.float32) for _ in range(2)]
        return self._buffers

    def release(self) -> None:
        """Free the memory kept between caption calls (the caption pass has nothing left to do)."""
        self._buffers = None

    def _cross_keys_values(self, seen) -> list:
        """The cross-attention keys of every layer, then the values, of a batch's vision tower output
        (the image features, then each layer's key and value projections: `_vision_tower`), each
        [batch, heads, tokens, head size] and contiguous: the decoder reads them at every word."""
        import numpy as np

        text = self.model.config.text_config
        heads, width, count = text.num_attention_heads, self._cross_width, 2 * text.num_hidden_layers
        first = seen.shape[-1] - width * count
        parts = [seen[..., first + i * width:first + (i + 1) * width] for i in range(count)]
        heads_first = [np.ascontiguousarray(p.reshape(*p.shape[:2], heads, width // heads).transpose(0, 2, 1, 3))
                       for p in parts]
        return heads_first[0::2] + heads_first[1::2]

    def _pixels(self, images: list[Image.Image]):
        inputs = self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt")
        return inputs["pixel_values"].to(self.device, self.dtype)

    def _predict(self, images: list[Image.Image]) -> list[str]:
        stop = self._should_stop
        if stop is not None and stop():
            raise CaptionsInterrupted()
        if self._vision is not None:
            return self._caption_overlapped(images, stop, None)
        return self._decode(self._pixels(images), stop)

    def _decode(self, pixels, stop: Callable[[], bool] | None) -> list[str]:
        """The captions of a batch (its vision tower already run into self._vision.seen, or not)."""
        if self._decoder is not None:  # _caption_overlapped has run the batch's vision tower
            seen, self._vision.seen = self._vision.seen, None
            ids = self._decoder.generate(self._cross_keys_values(seen), self.min_new_tokens, self.max_new_tokens, stop)
            if ids is None:
                raise CaptionsInterrupted()
            return [tidy_caption(t) for t in self.processor.batch_decode(ids, skip_special_tokens=True)]
        torch = self._torch
        extra = {}
        criteria = None
        if stop is not None:
            from transformers import StoppingCriteriaList

            criteria = _stop_when(stop)
            extra["stopping_criteria"] = StoppingCriteriaList([criteria])
        # With the vision tower on ONNX Runtime, torch runs only the decoder: a few hundred tiny operations
        # per word, each of which, split over the cores, waits at a barrier for every thread. On one
        # thread four 20-word captions took 4.0 s instead of 12.7 s on a busy 2-core machine.
        threads = 1 if self.runtime.startswith("onnx") else None
        try:
            with torch.inference_mode(), _torch_threads(threads):
                ids = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens,
                                          min_new_tokens=self.min_new_tokens, num_beams=1, do_sample=False,
                                          use_cache=True, **extra)
        finally:
            for projection in self._projections:  # the batch's keys and values are not kept
                projection.ready = None
            if self._vision is not None:
                self._vision.seen = None
        if criteria is not None and criteria.fired:
            raise CaptionsInterrupted()
        return [tidy_caption(t) for t in self.processor.batch_decode(ids, skip_special_tokens=True)]
