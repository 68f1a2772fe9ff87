"""Zero-shot tagging: score a CLIP image embedding against a vocabulary of everyday photo concepts.

The vocabulary ships in `vocabulary.txt` (format documented there) and users extend it with
settings.vocabulary_file. Each concept's text embedding is the normalised mean of its prompts
(CLIP's prompt-ensembling); the matrix is cached on disk keyed by model fingerprint + vocabulary
hash, so it is computed once per model/vocabulary, not per start.

Scores: CLIP -> softmax over the whole vocabulary of logit_scale * cosine (so scores sum to 1 and
settings.tag_threshold, default 0.15, means "clearly the leading concepts"); SigLIP -> its own
per-concept sigmoid. Then top_k above threshold.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clip import ClipEncoder, l2_normalise

log = logging.getLogger(__name__)

PACKAGED_VOCABULARY = Path(__file__).with_name("vocabulary.txt")
TEMPLATES = ("a photo of {}.", "a photo of the {}.", "a picture showing {}.", "{}")


@dataclass
class Vocabulary:
    names: list[str]
    prompts: list[list[str]]

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for n, ps in zip(self.names, self.prompts, strict=True):
            h.update(n.encode() + b"\0" + "\0".join(ps).encode() + b"\n")
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.names)


def _parse(text: str, names: list[str], prompts: dict[str, list[str]]) -> None:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            drop = line[1:].strip().lower()
            if drop in prompts:
                names.remove(drop)
                del prompts[drop]
            continue
        name, _, custom = line.partition(":")
        name = re.sub(r"\s+", " ", name).strip().lower()
        if not name:
            continue
        ps = [p.strip() for p in custom.split("|") if p.strip()] or [t.format(name) for t in TEMPLATES]
        if name not in prompts:
            names.append(name)
        prompts[name] = ps


def load_vocabulary(extra_file: str | Path | None = None) -> Vocabulary:
    """The packaged vocabulary plus (optionally) the user's file; later lines override earlier ones."""
    names: list[str] = []
    prompts: dict[str, list[str]] = {}
    _parse(PACKAGED_VOCABULARY.read_text(encoding="utf-8"), names, prompts)
    if extra_file:
        p = Path(extra_file)
        if p.is_file():
            _parse(p.read_text(encoding="utf-8"), names, prompts)
        else:
            log.warning("vocabulary_file %s does not exist; using the packaged vocabulary only", p)
    return Vocabulary(names, [prompts[n] for n in names])


class ZeroShotTagger:
    """Tags for image embeddings from one ClipEncoder and one Vocabulary."""

    def __init__(self, encoder: ClipEncoder, vocabulary: Vocabulary, cache_dir: str | Path | None = None):
        self.encoder = encoder
        self.vocabulary = vocabulary
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    def text_matrix(self) -> np.ndarray:
        """(len(vocabulary), dim) concept embeddings, L2-normalised (computed once, cached on disk)."""
        if self._matrix is not None:
            return self._matrix
        with self._lock:
            if self._matrix is None:
                self._matrix = self._compute_or_load()
        return self._matrix

    def _compute_or_load(self) -> np.ndarray:
        key = f"text-{self.encoder.fingerprint()}-{self.vocabulary.digest}.npy"
        path = self.cache_dir / key if self.cache_dir else None
        if path is not None and path.is_file():
            try:
                m = np.load(path)
                if m.shape[0] == len(self.vocabulary):
                    return m
            except (OSError, ValueError):
                pass
        flat = [p for ps in self.vocabulary.prompts for p in ps]
        emb = self.encoder.embed_texts(flat)
        rows, i = [], 0
        for ps in self.vocabulary.prompts:
            rows.append(emb[i:i + len(ps)].mean(axis=0))
            i += len(ps)
        m = l2_normalise(np.stack(rows)) if rows else np.zeros((0, emb.shape[1]), np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, m)
            tmp.replace(path)
        return m

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, len(vocabulary)) scores in [0, 1] for L2-normalised image embeddings."""
        sims = np.atleast_2d(embeddings).astype(np.float32) @ self.text_matrix().T
        logits = sims * self.encoder.logit_scale + self.encoder.logit_bias
        if self.encoder.sigmoid_scores:
            return 1.0 / (1.0 + np.exp(-logits))
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def tag(self, embeddings: np.ndarray, top_k: int = 5, threshold: float = 0.15) -> list[list[tuple[str, float]]]:
        """Per image: up to `top_k` (name, score) with score >= threshold, best first."""
        out = []
        for row in self.scores(embeddings):
            order = np.argsort(-row, kind="stable")[:max(0, top_k)]
            out.append([(self.vocabulary.names[j], float(row[j])) for j in order if row[j] >= threshold])
        return out


def caption_tags(caption: str | None, vocabulary: Vocabulary) -> list[str]:
    """Vocabulary concepts named in a caption ("a dog on the beach" -> ["dog", "beach"]); plurals match."""
    if not caption:
        return []
    text = " " + re.sub(r"[^a-z0-9' -]+", " ", caption.lower()) + " "
    found = []
    for name in vocabulary.names:
        for form in (name, name + "s", name + "es"):
            if f" {form} " in text:
                found.append(name)
                break
    return found
