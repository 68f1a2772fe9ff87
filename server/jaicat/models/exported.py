"""Image towers run by ONNX Runtime: exported once from the loaded torch weights, int8-quantised
(dynamic: int8 weights, activations quantised per batch), cached on disk and reloaded from there.

Why: on a CPU the vision transformer of CLIP and of BLIP's captioner is most of the pipeline's time;
ONNX Runtime's fused kernels with int8 matrix products run it several times faster than eager torch
(bench/pipeline.py prints the figures), and the embeddings stay within cosine 0.99 of the float ones
(tests/pipeline/test_exported.py checks it on real photos with a real CLIP architecture).

The runtime of a model is the setting `model_runtime`:
  auto       ONNX Runtime int8 on a CPU when onnxruntime is installed, torch otherwise (a GPU runs
             torch in fp16: int8 CPU kernels would only slow it down)
  torch      the float torch model, as trained
  onnx       ONNX Runtime, float weights (bit-for-bit close to torch, ~1.5x faster on a CPU)
  onnx-int8  ONNX Runtime, int8 weights
BLIP's text decoder is exported as one graph per word (models/caption_decoder.py): in torch its
few hundred small operations per word cost about as much to dispatch as to compute. Where it stays in
torch (a generation config that asks for more than greedy decoding), its Linear layers become torch's
dynamic int8 ones on onnx-int8 (`int8_linears`). Its one large product, the keys and values of the
image features, is exported with the vision tower (models/captioner.py).
Exports live in `<models_dir>/.cache/onnx/<family>-<fingerprint>-<runtime>.onnx`, keyed by the
weights' fingerprint, written to a temporary name and renamed into place, so a crash mid-export
leaves nothing that is later loaded; a damaged export is rebuilt.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from ..config import MODEL_RUNTIMES as RUNTIMES
from ..errors import InvalidInput

log = logging.getLogger(__name__)

EXPORT_FORMAT = 2  # bump when the exported graph changes, so old caches are not loaded
_export_lock = threading.Lock()  # exports are memory-heavy: one at a time per process


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_runtime(preference: str, device: str) -> str:
    """The runtime a model runs on for `preference` (setting model_runtime) on `device`."""
    pref = (preference or "auto").lower()
    if pref not in RUNTIMES:
        raise InvalidInput(f"config key 'model_runtime': expected one of {', '.join(RUNTIMES)}, not {preference!r}")
    if device == "cuda":
        if pref.startswith("onnx"):
            log.warning("model_runtime=%s runs on the CPU only; using torch in fp16 on the GPU", pref)
        return "torch"
    if pref == "auto":
        return "onnx-int8" if onnxruntime_available() else "torch"
    if pref.startswith("onnx") and not onnxruntime_available():
        log.warning("model_runtime=%s but onnxruntime is not installed; using torch", pref)
        return "torch"
    return pref


def export_path(cache_dir: Path, family: str, fingerprint: str, runtime: str) -> Path:
    return Path(cache_dir) / "onnx" / f"{family}-{fingerprint}-v{EXPORT_FORMAT}-{runtime}.onnx"


def export_tower(module, example, dest: Path, quantise: bool) -> Path:
    """Export `module` (one tensor in, one tensor out, batch axis 0 dynamic) to `dest` as ONNX,
    int8-quantised when `quantise`; returns `dest`. Atomic: a temporary file renamed into place."""
    return export_graph(module, (example,), dest, quantise, ["pixel_values"], ["output"],
                        {"pixel_values": {0: "batch"}, "output": {0: "batch"}})


def export_graph(module, args: tuple, dest: Path, quantise: bool, input_names: list[str],
                 output_names: list[str], dynamic_axes: dict) -> Path:
    """Export `module` called on `args` to `dest` as ONNX (named inputs and outputs, with the given
    dynamic axes), int8-quantised when `quantise`; returns `dest`. Atomic: a temporary file renamed
    into place."""
    import torch

    dest = Path(dest)
    with _export_lock:
        if dest.is_file():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".export-") as tmp:
            fp32 = Path(tmp) / "model.onnx"
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(module.eval(), args, str(fp32), input_names=input_names,
                                  output_names=output_names, opset_version=17, dynamo=False,
                                  dynamic_axes=dynamic_axes)
            out = fp32
            if quantise:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                out = Path(tmp) / "model-int8.onnx"
                # The quantiser logs every tensor at INFO on the root logger: hundreds of lines in the
                # server log for one export. Quiet it for the duration (we hold the export lock).
                root = logging.getLogger()
                level = root.level
                root.setLevel(max(level, logging.WARNING))
                try:
                    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
                finally:
                    root.setLevel(level)
            part = dest.with_name(dest.name + ".partial")
            os.replace(out, part)
            os.replace(part, dest)
    log.info("exported %s (%.0f MB)", dest.name, dest.stat().st_size / 1e6)
    return dest


def cpu_session(path: Path, threads: int | None = None):
    """An ONNX Runtime session of the export at `path` on the CPU, fully optimised, each run on
    `threads` threads (None: one per core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    # Idle pool threads sleep instead of spinning: the models share the cores with each other, decode
    # threads, the face pass and, on a household PC, everything else.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxTower:
    """An exported tower: `tower(pixels)` -> numpy output, batch in, batch out.

    An int8 tower runs one image at a time: dynamic quantisation scales activations by the range of
    the whole input, so in a batch one photo's embedding would depend on the others (and differ
    between the worker, `jaicat analyse` and a Ray worker). A ViT's matrices are large per image
    already, so batching buys little on a CPU."""

    def __init__(self, path: Path, threads: int | None = None):
        self.path = Path(path)
        self.session = cpu_session(path, threads)
        self._name = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name
        self.per_image = self.path.stem.endswith("int8")

    def __call__(self, pixels: np.ndarray, run_options=None) -> np.ndarray:
        """The tower's output for `pixels`; `run_options` (an onnxruntime.RunOptions) lets another
        thread end the run early (`run_options.terminate = True`: the call raises)."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        if self.per_image and len(pixels) > 1:
            return np.concatenate([self.session.run(None, {self._name: pixels[i:i + 1]}, run_options)[0]
                                   for i in range(len(pixels))])
        return self.session.run(None, {self._name: pixels}, run_options)[0]

    def run_into(self, pixels: np.ndarray, out: np.ndarray, run_options=None) -> None:
        """The tower's output for `pixels` written into `out` (C-contiguous float32, of the output's
        shape) instead of a new array: a caller that gathers many outputs into one batch neither
        copies them nor has fresh memory paged in for each (a 384 px BLIP image's output is 44 MB)."""
        if out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError("run_into needs a C-contiguous float32 output array")
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        binding = self.session.io_binding()
        binding.bind_cpu_input(self._name, pixels)
        binding.bind_output(self._output, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
        self.session.run_with_iobinding(binding, run_options)


def load_tower(module, example, cache_dir: Path, family: str, fingerprint: str, runtime: str,
               threads: int | None = None) -> OnnxTower:
    """The ONNX Runtime tower of `module` for `runtime` ("onnx" or "onnx-int8"): the cached export when
    there is a sound one, else a fresh export. Each run uses `threads` threads (None: one per core)."""
    dest = export_path(cache_dir, family, fingerprint, runtime)
    return load_or_export(dest, lambda: OnnxTower(dest, threads),
                          lambda: export_tower(module, example, dest, quantise=runtime == "onnx-int8"))


def load_or_export(dest: Path, load, export):
    """`load()` of the cached export at `dest` when it is sound; else (none, or a damaged one, which is
    removed) `export()` to `dest`, then `load()`."""
    if dest.is_file():
        try:
            return load()
        except Exception as e:  # noqa: BLE001 - a damaged cache file is rebuilt, not fatal
            log.warning("cached export %s cannot be loaded (%s); exporting again", dest, e)
            dest.unlink(missing_ok=True)
    export()
    return load()


def int8_linears(module):
    """A copy of `module` whose nn.Linear layers are int8 (weights quantised per tensor once, activations
    per call: torch's dynamic quantisation), for torch models that run on a CPU."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao's eager quantisation names torchao as its successor; it is still torch's own CPU path
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
