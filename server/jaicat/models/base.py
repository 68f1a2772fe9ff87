"""Model loading: where weights come from, which device runs them, one loaded instance per cache.

A model is named by a Hugging Face hub id ("openai/clip-vit-base-patch32") or a local folder.
Resolution order (first hit wins, nothing is ever downloaded here):
  1. the name itself as a local folder holding a `config.json`;
  2. `<settings.models>/<hub id with "/" replaced by "--">` (what `jaicat models pull` writes);
  3. the Hugging Face cache (`local_files_only=True`).
Missing weights raise ModelUnavailable naming `jaicat models pull`.

Every model family subclasses InferenceModel (Immich-style): `load()` is idempotent and runs under a
lock, `predict(batch)` splits the batch by `batch_size` and calls `_predict`. A `ModelCache` keeps one
loaded instance per (family, name, device, runtime); the runtime holds one, so the worker and the web
layer share the weights. Where a family's image tower can run on ONNX Runtime (int8 on a CPU), the
setting `model_runtime` decides, through `exported.choose_runtime` (one place for every family). torch/transformers are imported lazily: the server starts fast without them.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInput, ModelUnavailable
from .exported import choose_runtime, load_tower

log = logging.getLogger(__name__)

MAX_GPU_BATCH = 256  # images per batch on a GPU, however much memory is free

# Weight formats we copy or download; other framework files (tf, flax, onnx) are skipped.
_FRAMEWORK_IGNORE = ["*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "*.mlmodel", "*.pb", "*.gguf", "coreml/*"]


def local_dir_name(name: str) -> str:
    """Folder name of a hub id inside the models dir: "openai/clip-vit-base-patch32" -> "openai--clip-vit-base-patch32"."""
    return name.strip().strip("/").replace("/", "--")


def _is_model_dir(p: Path) -> bool:
    return p.is_dir() and (p / "config.json").is_file()


def _hf_cache_path(name: str) -> Path | None:
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None
    try:
        from huggingface_hub import snapshot_download

        p = Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), malformed id, hub lib oddities
        return None
    return p if _is_model_dir(p) else None


def resolve_model_path(name: str, models_dir: str | Path) -> Path:
    """The local folder holding model `name`; raises ModelUnavailable when there is none."""
    if not name or not str(name).strip():
        raise ModelUnavailable("no model configured")
    name = str(name).strip()
    direct = Path(name).expanduser()
    if _is_model_dir(direct):
        return direct
    pulled = Path(models_dir) / local_dir_name(name)
    if _is_model_dir(pulled):
        return pulled
    cached = _hf_cache_path(name)
    if cached is not None:
        return cached
    raise ModelUnavailable(
        f"model {name!r} is not available on this machine (looked in {pulled} and the Hugging Face "
        f"cache); run `jaicat models pull {name}` on a machine with internet, or copy the weights "
        f"with `jaicat models pull --from DIR {name}`",
        model=name,
    )


def pick_device(preference: str = "auto") -> str:
    """"cuda" when asked for (or auto) and present, else "cpu"; a missing GPU is a warning, not an error."""
    pref = (preference or "auto").lower()
    if pref not in ("auto", "cpu", "cuda"):
        raise InvalidInput(f"config key 'device': expected auto, cpu or cuda, not {preference!r}")
    if pref == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if pref == "cuda":
        log.warning("device=cuda but no CUDA device is visible; running models on the CPU")
    return "cpu"


def _quiet_transformers() -> None:
    """No per-load progress bars or backend notices: they would cut through `jaicat scan`'s bar and
    the server log. Our own log line says what was loaded, from where, on which device."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


class InferenceModel:
    """One model family. Subclasses implement `_load(path)` and `_predict(batch)`.

    `_predict` returns either a list (one item per input) or a numpy array (one row per input);
    `predict` concatenates the chunks the same way.
    """

    family = "model"

    def __init__(self, name: str, models_dir: str | Path, device: str = "auto", batch_size: int = 16,
                 runtime: str = "torch"):
        self.name = str(name)
        self.models_dir = Path(models_dir)
        self.device_preference = device
        self.runtime_preference = runtime
        self.batch_size = max(1, int(batch_size))
        self.device = "cpu"
        self.runtime = "torch"  # what the image tower runs on once loaded (exported.RUNTIMES)
        self._sized = False  # on a GPU, the batch size is fitted to free memory at the first batch
        self.path: Path | None = None
        self.loaded = False
        self.load_seconds = 0.0
        self._lock = threading.Lock()

    @property
    def dtype(self):
        import torch

        return torch.float16 if self.device == "cuda" else torch.float32

    def load(self) -> InferenceModel:
        """Load weights once (thread-safe); raises ModelUnavailable when they are missing or broken."""
        if self.loaded:
            return self
        with self._lock:
            if self.loaded:
                return self
            path = self.resolve()
            self.device = self.choose_device()
            self.path = path
            t0 = time.perf_counter()
            try:
                self._load(path)
            except ModelUnavailable:
                raise
            except (OSError, ValueError, KeyError) as e:
                raise ModelUnavailable(
                    f"model {self.name!r} at {path} cannot be loaded ({e}); pull it again with "
                    f"`jaicat models pull {self.name}`",
                    model=self.name,
                ) from e
            self.path = path
            self.load_seconds = time.perf_counter() - t0
            self.loaded = True
            log.info("loaded %s %s from %s on %s (%s) in %.1fs", self.family, self.name, path, self.device,
                     self.runtime, self.load_seconds)
        return self

    @property
    def cache_dir(self) -> Path:
        """Where derived files of the weights live (exports, text-embedding matrices)."""
        return self.models_dir / ".cache"

    def fingerprint(self) -> str:
        """Stable id of the weights at self.path (config + weight files' names, sizes, times)."""
        cfg = (self.path / "config.json").read_bytes()
        weights = sorted(self.path.glob("*.safetensors")) + sorted(self.path.glob("*.bin"))
        stamp = ";".join(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights)
        return hashlib.sha256(cfg + stamp.encode() + self.name.encode()).hexdigest()[:16]

    def _accelerate(self, module, example, threads: int | None = None) -> object | None:
        """`module` (an image tower) on the chosen runtime: an exported.OnnxTower (running each call on
        `threads` threads; default: ONNX Runtime's, one per core), or None for torch. An export that
        fails falls back to torch with one warning: slower, never broken."""

        self.runtime = choose_runtime(self.runtime_preference, self.device)
        if self.runtime == "torch" or self.path is None:
            self.runtime = "torch"
            return None
        try:
            fingerprint = InferenceModel.fingerprint(self)  # not an override that would load() again
            return load_tower(module, example, self.cache_dir, self.family, fingerprint, self.runtime, threads)
        except Exception as e:  # noqa: BLE001 - exporter/runtime gaps for an unusual architecture
            log.warning("%s %s: %s export failed (%s: %s); running it on torch", self.family, self.name,
                        self.runtime, type(e).__name__, e)
            self.runtime = "torch"
            return None

    def predict(self, batch: Sequence[Any]):
        self.load()
        outs = []
        i = 0
        while i < len(batch):
            chunk = list(batch[i:i + self.batch_size])
            if self.device == "cuda" and not self._sized:
                outs.append(self._size_batch_to_memory(chunk))
            else:
                outs.append(self._predict(chunk))
            i += len(chunk)
        if not outs:
            return self._empty()
        if hasattr(outs[0], "shape"):
            return np.concatenate(outs, axis=0)
        return [x for chunk in outs for x in chunk]

    def _size_batch_to_memory(self, chunk: list):
        """Run the first chunk on the GPU measuring its peak memory, then size later batches to fill
        about half of what is free (the rest is for the other models and the allocator's slack),
        never below the configured batch size and at most MAX_GPU_BATCH."""
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        out = self._predict(chunk)
        torch.cuda.synchronize()
        per_item = max(1, (torch.cuda.max_memory_allocated() - before) // max(1, len(chunk)))
        free, _total = torch.cuda.mem_get_info()
        fit = int(free * 0.5 // per_item)
        self.batch_size = max(self.batch_size, min(MAX_GPU_BATCH, fit))
        self._sized = True
        log.info("%s %s: %.0f MB per image on the GPU, batch size %d", self.family, self.name, per_item / 1e6,
                 self.batch_size)
        return out

    # subclass hooks --------------------------------------------------------------------------------
    def resolve(self) -> Path:
        """The local folder (or file) of the weights; families with their own layout override it."""
        path = resolve_model_path(self.name, self.models_dir)
        _quiet_transformers()
        return path

    def choose_device(self) -> str:
        return pick_device(self.device_preference)

    def _load(self, path: Path) -> None:
        raise NotImplementedError

    def _predict(self, batch: list):
        raise NotImplementedError

    def _empty(self):
        return []


class ModelCache:
    """The loaded models of one running Jaicat: one instance per (family, name, models dir, device).

    Created at start-up and held by the runtime (`runtime.models`), so the analysis worker and the web
    layer's searches share the weights; tests and CLI commands make their own.
    """

    def __init__(self) -> None:
        self._models: dict[tuple, InferenceModel] = {}
        self._lock = threading.Lock()

    def get(self, cls: type[InferenceModel], name: str, settings) -> InferenceModel:
        """This cache's instance of `cls` for model `name` (created unloaded; call load()/predict())."""
        key = (cls, str(name), str(settings.models), settings.device, settings.model_runtime)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = cls(name, settings.models, device=settings.device, batch_size=settings.batch_size,
                            runtime=settings.model_runtime)
                self._models[key] = model
            return model

    def clear(self) -> None:
        """Forget the loaded models (e.g. after `models pull` in a long-running process)."""
        with self._lock:
            self._models.clear()


# --- getting weights onto this machine ------------------------------------------------------------
def _find_in_folder(src: Path, name: str, only: bool) -> Path | None:
    """Where model `name` sits inside a folder someone copied over (several layouts accepted)."""
    candidates = [src / local_dir_name(name), src / name, src / Path(name).name]
    cache = src / ("models--" + local_dir_name(name)) / "snapshots"
    if cache.is_dir():
        candidates += sorted(cache.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    if only:
        candidates.append(src)
    for c in candidates:
        if _is_model_dir(c):
            return c
    return None


def _install_tree(src: Path, dest: Path) -> Path:
    """Copy `src` to `dest` atomically (temp sibling, then rename), following cache symlinks."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=False, ignore=shutil.ignore_patterns(*_FRAMEWORK_IGNORE, ".git*"))
    old = dest.with_name(dest.name + ".old")
    if dest.exists():
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def pull_model(name: str, models_dir: str | Path, from_dir: str | Path | None = None,
               only: bool = False) -> Path:
    """Put model `name` into `models_dir` and return its folder.

    With `from_dir`, copy it from a local folder (a model folder itself when `only`, or a folder
    holding `org--name`, `org/name`, `name` or Hugging Face cache `models--org--name` entries);
    otherwise download it from the hub (needs internet).
    """
    dest = Path(models_dir) / local_dir_name(name)
    if from_dir is not None:
        src = Path(from_dir).expanduser()
        if not src.is_dir():
            raise InvalidInput(f"--from {src}: not a folder")
        found = _find_in_folder(src, name, only)
        if found is None:
            raise ModelUnavailable(f"model {name!r} not found in {src} (expected a folder with config.json)")
        return _install_tree(found, dest)
    try:
        from huggingface_hub import HfApi, snapshot_download

        files = HfApi().list_repo_files(name)
        ignore = list(_FRAMEWORK_IGNORE)
        if any(f.endswith(".safetensors") for f in files):
            ignore.append("*.bin")
        tmp = dest.with_name(dest.name + ".download")
        snapshot_download(name, local_dir=str(tmp), ignore_patterns=ignore)
    except Exception as e:  # network down, unknown repo, auth: all mean "not pulled"
        raise ModelUnavailable(
            f"cannot download {name!r} ({type(e).__name__}: {e}); on a machine without internet copy "
            f"the model folder over and run `jaicat models pull --from DIR {name}`",
            model=name,
        ) from e
    shutil.rmtree(tmp / ".cache", ignore_errors=True)
    try:
        return _install_tree(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def list_local_models(models_dir: str | Path, configured: dict[str, str]) -> list[dict]:
    """Configured models (role -> name) and anything else pulled into `models_dir`, with where they are."""
    rows = []
    seen = set()
    for role, name in configured.items():
        try:
            path = resolve_model_path(name, models_dir)
            rows.append({"role": role, "name": name, "available": True, "path": str(path),
                         "bytes": _tree_size(path)})
            seen.add(path.resolve())
        except ModelUnavailable:
            rows.append({"role": role, "name": name, "available": False, "path": None, "bytes": 0})
    root = Path(models_dir)
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if _is_model_dir(p) and p.resolve() not in seen:
                rows.append({"role": "", "name": p.name.replace("--", "/", 1), "available": True,
                             "path": str(p), "bytes": _tree_size(p)})
    return rows


def _tree_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
