"""A built annoy index on disk, so a restart reuses it instead of rebuilding (minutes at 1M vectors).

Files in the store's folder, for an index called `name`:
    <name>.json                  the commit point: format, dim, metric, tree count, item count, file names
    <name>-<gen>.ann             annoy's own file (mmapped on load, so loading is cheap)
    <name>-<gen>.ids.npy         row -> item id (int64)
    <name>-<gen>.fp.npy          row -> fingerprint (two fixed random projections of the unit vector)
Each file is written under a temporary name and os.replace'd; the JSON goes last and names the
generation, so a crash mid-save leaves the previous generation in force. Older generations are
deleted after the JSON moves on (an mmapped file stays readable after unlinking).

The fingerprints let a loader tell which saved rows still match the catalogue: a changed vector
(e.g. a region's box moved and was re-embedded) differs in its projections, and a sample of annoy's
stored vectors checked against them rejects a file that does not belong with its sidecar.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 1
METRIC = "angular"
FP_TOLERANCE = 1e-5  # float32 rounding of a 512-term dot product is ~1e-7; a real change is far larger


def fingerprints(vectors: np.ndarray) -> np.ndarray:
    """(n, 2) float32 projections of unit vectors on two fixed random unit directions."""
    d = vectors.shape[1]
    proj = np.random.default_rng(20240611).normal(size=(d, 2)).astype(np.float32)
    proj /= np.linalg.norm(proj, axis=0, keepdims=True)
    return np.asarray(vectors @ proj, dtype=np.float32)


@dataclass
class SavedIndex:
    annoy: object
    ids: np.ndarray  # (n,) int64
    fps: np.ndarray  # (n, 2) float32
    n_trees: int


class IndexStore:
    def __init__(self, folder: str | os.PathLike, name: str):
        self.folder = Path(folder)
        self.name = name

    @property
    def meta_path(self) -> Path:
        return self.folder / f"{self.name}.json"

    def _replace(self, tmp: Path, final: Path) -> None:
        with open(tmp, "rb") as f:  # durable before it becomes visible
            os.fsync(f.fileno())
        os.replace(tmp, final)

    def save(self, annoy, ids: np.ndarray, fps: np.ndarray, dim: int, n_trees: int) -> None:
        """Write a built annoy index with its ids and fingerprints. Call before the annoy object
        serves queries: annoy's save() unloads and re-mmaps it from the written file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        gen = uuid.uuid4().hex[:12]
        files = {"ann": f"{self.name}-{gen}.ann", "ids": f"{self.name}-{gen}.ids.npy",
                 "fingerprints": f"{self.name}-{gen}.fp.npy"}
        written: list[Path] = []
        try:
            tmp = self.folder / (files["ann"] + ".tmp")
            written.append(tmp)
            annoy.save(str(tmp))
            self._replace(tmp, self.folder / files["ann"])
            written[-1] = self.folder / files["ann"]
            for key, arr in (("ids", np.asarray(ids, np.int64)), ("fingerprints", np.asarray(fps, np.float32))):
                tmp = self.folder / (files[key] + ".tmp")
                written.append(tmp)
                with open(tmp, "wb") as f:
                    np.save(f, arr, allow_pickle=False)
                self._replace(tmp, self.folder / files[key])
                written[-1] = self.folder / files[key]
            meta = {"format": FORMAT, "metric": METRIC, "dim": int(dim), "n_trees": int(n_trees),
                    "count": len(ids), "ann_bytes": (self.folder / files["ann"]).stat().st_size, **files}
            tmp = self.folder / f"{self.name}.json.tmp"
            written.append(tmp)
            tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
            self._replace(tmp, self.meta_path)
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise
        keep = set(files.values()) | {self.meta_path.name}
        for p in self.folder.glob(f"{self.name}-*"):
            if p.name not in keep:
                p.unlink(missing_ok=True)

    def load(self, dim: int) -> SavedIndex | None:
        """The saved index if there is one for vectors of `dim`; None (logged) if missing, of another
        shape or unreadable — the caller rebuilds."""
        from annoy import AnnoyIndex

        if not self.meta_path.exists():
            return None
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("metric") != METRIC or meta.get("dim") != dim:
                log.info("index %s: saved index is for %s/%s-d vectors, format %s; rebuilding", self.name,
                         meta.get("metric"), meta.get("dim"), meta.get("format"))
                return None
            ann_path = self.folder / meta["ann"]
            count = int(meta["count"])
            if ann_path.stat().st_size != meta["ann_bytes"]:
                raise ValueError(f"{ann_path.name} is {ann_path.stat().st_size} bytes, expected {meta['ann_bytes']}")
            ids = np.load(self.folder / meta["ids"], allow_pickle=False)
            fps = np.load(self.folder / meta["fingerprints"], allow_pickle=False)
            if ids.dtype != np.int64 or ids.shape != (count,) or fps.shape != (count, 2):
                raise ValueError("id/fingerprint arrays do not match the item count")
            ann = AnnoyIndex(dim, METRIC)
            ann.load(str(ann_path))
            if ann.get_n_items() != count:
                raise ValueError(f"annoy holds {ann.get_n_items()} items, expected {count}")
            # a sample of stored vectors must match their fingerprints (wrong or garbled file otherwise)
            rows = np.random.default_rng(0).choice(count, size=min(count, 64), replace=False) if count else []
            if len(rows):
                got = np.array([ann.get_item_vector(int(r)) for r in rows], dtype=np.float32)
                got /= np.maximum(np.linalg.norm(got, axis=1, keepdims=True), 1e-12)
                if not np.allclose(fingerprints(got), fps[rows], atol=1e-4):
                    raise ValueError("stored vectors do not match their fingerprints")
            return SavedIndex(ann, ids, fps, int(meta.get("n_trees", 0)))
        except Exception as e:  # a torn or foreign file: never fatal, the index is rebuilt
            log.warning("index %s: ignoring unreadable saved index in %s (%s); rebuilding", self.name, self.folder, e)
            return None
