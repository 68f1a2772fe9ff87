"""CLIP-style dual encoders (CLIP, SigLIP, larger CLIPs): images and texts into one L2-normalised space.

Image preprocessing uses the PIL/numpy image processor, so torchvision is not needed. On CUDA the
weights run in fp16; on a CPU the image tower runs on ONNX Runtime (int8 by default, setting
model_runtime; models/exported.py) while the text tower, used for search and the tag vocabulary,
stays in torch. Embeddings always come back as float32 numpy arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .base import InferenceModel, ModelCache

CLIP_INPUT_SIDE = 448  # pre-shrink before the processor (224 px for ViT-B/32, 384 for BLIP)


def shrink(im: Image.Image, side: int = CLIP_INPUT_SIDE) -> Image.Image:
    """`im` no larger than `side` pixels on its long side (a copy when it must shrink)."""
    if max(im.size) <= side:
        return im
    small = im.copy()
    small.thumbnail((side, side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return small


def clip_for(settings, models: ModelCache) -> ClipEncoder:
    """The configured CLIP encoder, loaded; raises ModelUnavailable without weights."""
    return models.get(ClipEncoder, settings.clip_model, settings).load()


def embed_image_crops(settings, images: list[Image.Image], models: ModelCache) -> np.ndarray:
    """CLIP embeddings of arbitrary images (region crops); raises ModelUnavailable without weights."""
    return clip_for(settings, models).embed_images([shrink(im) for im in images])


def embed_text(settings, text: str, models: ModelCache) -> np.ndarray:
    """CLIP text embedding (1-D, normalised); raises ModelUnavailable without weights."""
    return clip_for(settings, models).embed_texts([text])[0]


def image_processor_kwargs() -> dict:
    """Ask transformers for the PIL (slow) image processor: the fast one needs torchvision."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    return {"backend": "pil"} if major >= 5 else {"use_fast": False}


def _features(out):
    """transformers 5 returns a ModelOutput (projected features in pooler_output); 4.x a tensor."""
    if hasattr(out, "pooler_output") and out.pooler_output is not None:
        return out.pooler_output
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def image_tower(model):
    """pixel_values -> projected image features of a dual encoder, as one torch module (what is
    exported to ONNX); shares the model's weights."""
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vision_model = model.vision_model
            self.visual_projection = model.visual_projection

        def forward(self, pixel_values):
            return self.visual_projection(self.vision_model(pixel_values=pixel_values).pooler_output)

    return ImageTower()


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


class ClipEncoder(InferenceModel):
    """`predict(images)` -> (n, dim) float32, L2-normalised; `embed_texts(texts)` likewise."""

    family = "clip"

    def _load(self, path: Path) -> None:
        from transformers import AutoConfig, AutoModel, AutoProcessor, AutoTokenizer

        config = AutoConfig.from_pretrained(path)
        model = AutoModel.from_pretrained(path, dtype=self.dtype)
        if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
            raise ValueError(f"{config.model_type} is not an image-text dual encoder")
        # AutoProcessor, not AutoImageProcessor: some transformers 5 releases mark AutoImageProcessor as
        # needing torchvision even when the PIL processor is asked for; AutoProcessor does not.
        processor = AutoProcessor.from_pretrained(path, **image_processor_kwargs())
        self._attach(model, getattr(processor, "image_processor", processor), AutoTokenizer.from_pretrained(path))

    @classmethod
    def from_model(cls, model, image_processor, tokenizer=None, device: str = "cpu",
                   batch_size: int = 16) -> ClipEncoder:
        """Wrap an already built model (benchmarks build random ViT-B/32-sized ones in memory)."""
        enc = cls("<in-memory>", ".", device=device, batch_size=batch_size)
        enc.device = device
        enc._attach(model, image_processor, tokenizer)
        enc.loaded = True
        return enc

    def _attach(self, model, image_processor, tokenizer) -> None:
        import torch

        config = model.config
        self.model_type = config.model_type
        self.model = model.to(self.device, self.dtype).eval()
        self.processor = image_processor
        self.tokenizer = tokenizer
        text_cfg = getattr(config, "text_config", config)
        self.max_text_tokens = int(getattr(text_cfg, "max_position_embeddings", 77) or 77)
        # SigLIP was trained on max_length padding and scores with a sigmoid, CLIP with a softmax.
        self.sigmoid_scores = hasattr(self.model, "logit_bias")
        self.dim = int(getattr(config, "projection_dim", 0) or text_cfg.hidden_size)
        with torch.no_grad():
            self.logit_scale = float(self.model.logit_scale.exp().float().cpu())
            self.logit_bias = float(self.model.logit_bias.float().cpu()) if self.sigmoid_scores else 0.0
        self._torch = torch
        self.tower = None
        if hasattr(self.model, "vision_model") and hasattr(self.model, "visual_projection"):
            side = int(getattr(getattr(config, "vision_config", config), "image_size", 224) or 224)
            self.tower = self._accelerate(image_tower(self.model), torch.zeros(1, 3, side, side))

    def _predict(self, images: list[Image.Image]) -> np.ndarray:
        torch = self._torch
        if self.tower is not None:
            pixels = self.processor(images=[im.convert("RGB") for im in images], return_tensors="np")["pixel_values"]
            return l2_normalise(self.tower(pixels))
        pixels = self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
        return l2_normalise(_features(out).float().cpu().numpy())

    def _empty(self) -> np.ndarray:
        return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return self.predict(images)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Text embeddings, batched like images; long texts are truncated to the model's context."""
        self.load()
        torch = self._torch
        out = []
        for i in range(0, len(texts), max(self.batch_size, 64)):
            chunk = texts[i:i + max(self.batch_size, 64)]
            if self.sigmoid_scores:
                enc = self.tokenizer(chunk, padding="max_length", truncation=True,
                                     max_length=min(64, self.max_text_tokens), return_tensors="pt")
            else:
                enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.max_text_tokens,
                                     return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            if self.sigmoid_scores:
                enc.pop("attention_mask", None)
            with torch.inference_mode():
                feats = self.model.get_text_features(**enc)
            out.append(l2_normalise(_features(feats).float().cpu().numpy()))
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def fingerprint(self) -> str:
        """Stable id of the loaded weights (for caches keyed by model)."""
        self.load()
        return super().fingerprint()
