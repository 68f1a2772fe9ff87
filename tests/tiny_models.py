"""Tiny random-weight CLIP and BLIP models for plumbing tests (no download, ~1 s to build).

Use from any test suite:

    from tiny_models import build_tiny_models      # tests/ is on sys.path via rootdir conftest
    paths = build_tiny_models(tmp_path)            # {"clip": Path, "caption": Path}

or the `tiny_models` fixture (import it into your conftest: `from tiny_models import tiny_models`),
which builds once per session and returns the same dict. Point settings at them with
`load_settings(data_dir=..., clip_model=str(paths["clip"]), caption_model=str(paths["caption"]))`.
Weights are random: scores are arbitrary, shapes and plumbing are real.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest

CLIP_DIM = 16  # projection_dim of the tiny CLIP


def build_tiny_clip(dest: Path, seed: int = 0) -> Path:
    """A 2-layer CLIP (32-px images, character-level BPE vocab) saved with save_pretrained."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:  # transformers 4
        from transformers import CLIPImageProcessor as ImageProcessor

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # Character vocabulary without merges: every lowercase text tokenises, no training needed.
    chars = string.ascii_lowercase + string.digits + ".,'-"
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    for s in ("<|startoftext|>", "<|endoftext|>"):
        vocab[s] = len(vocab)
    work = dest / "_tok"
    work.mkdir(exist_ok=True)
    (work / "vocab.json").write_text(json.dumps(vocab))
    (work / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(work / "vocab.json"), str(work / "merges.txt"))
    eot = vocab["<|endoftext|>"]
    torch.manual_seed(seed)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77,
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=eot, pad_token_id=eot),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=CLIP_DIM,
    )
    model = CLIPModel(cfg).eval()
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    ImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(dest)
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    return dest


def build_tiny_blip(dest: Path, seed: int = 0) -> Path:
    """A 2-layer BLIP captioner (32-px images, small word+letter WordPiece vocab)."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor

    try:
        from transformers import BlipImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import BlipImageProcessor as ImageProcessor

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    words += "a an the photo of dog cat on beach with person people in at and is sitting".split()
    words += list(string.ascii_lowercase)
    (dest / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = BertTokenizer(str(dest / "vocab.txt"))
    tok.add_special_tokens({"bos_token": "[DEC]"})
    (dest / "vocab.txt").unlink()
    torch.manual_seed(seed)
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, encoder_hidden_size=32, max_position_embeddings=64,
                         bos_token_id=words.index("[DEC]"), pad_token_id=0, sep_token_id=3, eos_token_id=3),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    model = BlipForConditionalGeneration(cfg).eval()
    model.save_pretrained(dest)
    BlipProcessor(image_processor=ImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok).save_pretrained(dest)
    return dest


def build_tiny_siglip(dest: Path, seed: int = 0) -> Path:
    """A 2-layer SigLIP (sigmoid-scored dual encoder) sharing the tiny CLIP's character tokenizer."""
    import shutil
    import tempfile

    import torch
    from transformers import SiglipConfig, SiglipModel

    try:
        from transformers import SiglipImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import SiglipImageProcessor as ImageProcessor

    dest = Path(dest)
    with tempfile.TemporaryDirectory() as tmp:
        clip = build_tiny_clip(Path(tmp) / "clip", seed)
        vocab = json.loads((clip / "tokenizer.json").read_text())["model"]["vocab"]
        torch.manual_seed(seed)
        eot = vocab["<|endoftext|>"]
        cfg = SiglipConfig(
            text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, max_position_embeddings=64, pad_token_id=eot,
                             bos_token_id=vocab["<|startoftext|>"], eos_token_id=eot),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=32, patch_size=8),
        )
        SiglipModel(cfg).eval().save_pretrained(dest)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(clip / f, dest / f)
    ImageProcessor(size={"height": 32, "width": 32}).save_pretrained(dest)
    return dest


def build_tiny_models(root: Path) -> dict[str, Path]:
    """Both tiny models under `root` (creates `root/tiny-clip` and `root/tiny-blip`)."""
    root = Path(root)
    return {"clip": build_tiny_clip(root / "tiny-clip"), "caption": build_tiny_blip(root / "tiny-blip")}


_built: dict[str, Path] | None = None


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Session fixture: {"clip": Path, "caption": Path}, built once per test session. Read-only."""
    global _built
    if _built is None:
        _built = build_tiny_models(tmp_path_factory.mktemp("tiny-models"))
    return _built
