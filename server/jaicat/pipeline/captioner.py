"""Image captioning (BLIP by default; any transformers image-to-text model that can `generate`)."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from .clip import image_processor_kwargs
from .models import InferenceModel

# BLIP trained on web alt-text sometimes opens with these non-words.
_JUNK_PREFIX = re.compile(r"^(?:arafed|araffe|arafe|araf)\s+", re.I)


def tidy_caption(text: str) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    text = _JUNK_PREFIX.sub("", text)
    return text[:1].upper() + text[1:] if text else ""


class Captioner(InferenceModel):
    """`predict(images)` -> one caption string per image (greedy decoding, short)."""

    family = "caption"
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

    def _predict(self, images: list[Image.Image]) -> list[str]:
        torch = self._torch
        inputs = self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            ids = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens,
                                      min_new_tokens=self.min_new_tokens, num_beams=1, do_sample=False)
        return [tidy_caption(t) for t in self.processor.batch_decode(ids, skip_special_tokens=True)]
