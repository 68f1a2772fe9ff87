"""What hardware acceleration this installation can actually use (printed by `jaicat doctor`).

Every probe is guarded: a missing or broken library is reported, never raised, because doctor is
what a user runs when something is wrong.
"""

from __future__ import annotations

import importlib.metadata as md
import platform


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _torch() -> dict:
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - an unusable torch is a finding, not a crash
        return {"torch": None, "torch_error": str(e), "cuda_available": False}
    out = {"torch": torch.__version__, "torch_cuda_build": torch.version.cuda,
           "cuda_available": False, "device_name": None, "device_count": 0}
    try:
        out["cuda_available"] = bool(torch.cuda.is_available())
        if out["cuda_available"]:
            out["device_count"] = torch.cuda.device_count()
            out["device_name"] = torch.cuda.get_device_name(0)
            free, total = torch.cuda.mem_get_info(0)
            out["device_memory_gib"] = round(total / 2**30, 1)
            out["cudnn"] = torch.backends.cudnn.version()
    except Exception as e:  # noqa: BLE001 - e.g. a driver too old for this CUDA build
        out["cuda_error"] = str(e)
    return out


def _dlib() -> dict:
    try:
        import dlib
    except Exception as e:  # noqa: BLE001
        return {"dlib": None, "dlib_error": str(e), "dlib_cuda": False}
    out = {"dlib": getattr(dlib, "__version__", None) or _version("dlib") or _version("dlib-bin"),
           "dlib_cuda": bool(getattr(dlib, "DLIB_USE_CUDA", False))}
    if out["dlib_cuda"]:
        try:
            out["dlib_cuda_devices"] = dlib.cuda.get_num_devices()
        except Exception as e:  # noqa: BLE001
            out["dlib_cuda_error"] = str(e)
    return out


def gpu_report() -> dict:
    """Versions and acceleration: torch (and whether it sees a CUDA GPU, which one), dlib (and whether
    it was built with CUDA: the pip `dlib-bin` wheel is CPU-only, so the CNN face detector is slow),
    pillow-heif (HEIC support) and annoy (the fast nearest-neighbour index)."""
    report = {"python": platform.python_version(), "machine": platform.machine()}
    report.update(_torch())
    report.update(_dlib())
    try:
        import pillow_heif

        report["pillow_heif"] = pillow_heif.__version__
        report["libheif"] = pillow_heif.libheif_version()
    except Exception as e:  # noqa: BLE001
        report["pillow_heif"] = None
        report["pillow_heif_error"] = str(e)
    try:
        import annoy  # noqa: F401

        report["annoy"] = _version("annoy") or True
    except Exception:  # noqa: BLE001
        report["annoy"] = None
    report["gpu_used"] = bool(report.get("cuda_available"))
    return report
