"""Analysis commands: scan, analyse, models pull/list, doctor."""

from __future__ import annotations

import json
import platform
import sys

from .. import __version__
from ..config import settings_dict


def register(sub) -> None:
    p = sub.add_parser("scan", help="import PATHs and analyse everything pending (tags, captions, faces)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folder trees (none: only analyse)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _ray_arguments(p)
    p.set_defaults(func=cmd_scan, writes=True)

    p = sub.add_parser("analyse", help="analyse pending photos; --retry-failed / --missing / --all requeue first")
    p.add_argument("--retry-failed", action="store_true", help="photos whose analysis failed")
    p.add_argument("--missing", action="store_true", help="photos analysed without the CLIP model")
    p.add_argument("--all", action="store_true", help="every photo (e.g. after changing models)")
    p.add_argument("--quiet", action="store_true")
    _ray_arguments(p)
    p.set_defaults(func=cmd_analyse, writes=True)

    models = sub.add_parser("models", help="model weights: pull (download or copy) and list")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("pull", help="download NAMEs (default: the configured models) into the models dir")
    p.add_argument("names", nargs="*", metavar="NAME", help="hub id, e.g. openai/clip-vit-base-patch32")
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="copy from a local folder instead of downloading (offline machines)")
    p.set_defaults(func=cmd_models_pull)
    p = msub.add_parser("list", help="configured models and what is available locally")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_list)

    p = sub.add_parser("doctor", help="check configuration, paths, GPU/CPU, models and versions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def _ray_arguments(p) -> None:
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the models on a Ray cluster: local (a Ray runtime on this PC), auto, HOST:6379 "
                        "or ray://HOST:10001 (default: the ray_address setting, else this process)")
    p.add_argument("--ray-workers", type=int, default=None, metavar="N",
                   help="analysis workers on the cluster (default: ray_workers; 0 = one per GPU, else per 2 CPUs)")


def _ray(args) -> dict:
    return {"ray": args.ray, "ray_workers": args.ray_workers}


def print_analysis(r: dict) -> int:
    """What an analysis did, as `jaicat analyse` prints it (commands/analysis.py); its exit code."""
    if r["requeued"]:
        print(f"requeued {r['requeued']} photos")
    if r["serving"]:
        if not r["worker"]:
            print(f"the running server's worker is off (--no-worker): {r['pending']} photos wait for analysis")
            return 1 if r["pending"] else 0
        print(f"the running server analyses the {r['pending']} pending photos (progress in the app: job analyse)")
        return 0
    if r["analysed"] is None:
        print("nothing to analyse")
    else:
        print(f"analysed {r['analysed']} photos ({', '.join(r['ran'])}){'; ' + r['message'] if r['message'] else ''}")
        if r["failed"]:
            print(f"{r['failed']} photos have analysis errors (see `jaicat analyse --retry-failed`)")
    t = r["thorough"]
    if t:
        print(f"thorough face pass ({t['backend']}): {t['photos']} photos, {t['faces_added']} more faces")
    return 0


def cmd_scan(args, runtime) -> int:
    from .photos import import_params, print_import
    from .remote import perform

    r = perform(args, runtime, "scan", {"paths": import_params(args.paths)["paths"], **_ray(args)},
                unit="photo", quiet=args.quiet)
    if r["import"] is not None:
        print_import(r["import"])
    return print_analysis(r["analysis"])


def cmd_analyse(args, runtime) -> int:
    from .remote import perform

    return print_analysis(perform(args, runtime, "analyse", {
        "missing": args.missing, "retry_failed": args.retry_failed, "all": args.all, **_ray(args)},
        unit="photo", quiet=args.quiet))


def _configured(settings) -> dict[str, str]:
    out = {"clip": settings.clip_model}
    if settings.captions:
        out["caption"] = settings.caption_model
    return out


def cmd_models_pull(args, runtime) -> int:
    from ..models.base import pull_model

    from ..errors import ModelUnavailable
    from ..people.detect import pull_onnx_detector

    settings = runtime.settings
    names = args.names or [*_configured(settings).values(), settings.face_onnx_model]
    for name in names:
        if name == settings.face_onnx_model or name.endswith(".onnx"):
            try:
                dest = pull_onnx_detector(name, settings.models, from_dir=args.from_dir)
            except ModelUnavailable as e:
                if args.names:
                    raise
                # optional: without it faces use dlib's detectors, which need no download
                print(f"{name}: not pulled ({e.message}); faces use dlib's detectors")
                continue
        else:
            dest = pull_model(name, settings.models, from_dir=args.from_dir, only=len(names) == 1)
        print(f"{name}: installed at {dest}")
    return 0


def cmd_models_list(args, runtime) -> int:
    from ..models.base import list_local_models

    settings = runtime.settings
    rows = list_local_models(settings.models, _configured(settings))
    from ..errors import ModelUnavailable
    from ..people.detect import find_onnx_detector

    try:
        onnx = find_onnx_detector(settings.face_onnx_model, settings.models)
        rows.append({"role": "faces", "name": settings.face_onnx_model, "available": True, "path": str(onnx),
                     "bytes": onnx.stat().st_size, "optional": True})
    except ModelUnavailable:
        rows.append({"role": "faces", "name": settings.face_onnx_model, "available": False, "path": None,
                     "bytes": 0, "optional": True})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"models dir: {settings.models}")
    for r in rows:
        state = f"ok  {r['bytes'] / 1e6:8.1f} MB  {r['path']}" if r["available"] else \
            (f"not pulled, optional (jaicat models pull {r['name']})" if r.get("optional")
             else f"MISSING  (jaicat models pull {r['name']})")
        print(f"{(r['role'] or '-'):8} {r['name']:45} {state}")
    return 0 if all(r["available"] for r in rows if r["role"] and not r.get("optional")) else 1


def doctor_report(settings) -> dict:
    """Everything `jaicat doctor` checks, as a dict (also used by tests and the health page)."""
    import importlib.metadata as md

    from ..models.base import list_local_models
    from ..models.sysinfo import gpu_report
    from ..people import detect

    report: dict = {"jaicat": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    report["config"] = settings_dict(settings)
    paths = {}
    for name in ("data_dir", "library", "inbox", "thumbs", "models"):
        p = getattr(settings, name)
        paths[name] = {"path": str(p), "exists": p.exists(), "writable": _writable(p)}
    report["paths"] = paths
    versions = {}
    for pkg in ("torch", "onnxruntime", "transformers", "Pillow", "pillow-heif", "peewee", "Flask", "flask-sock",
                "gunicorn", "zeroconf", "annoy", "dlib-bin", "face_recognition_models", "numpy", "ray"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    report["versions"] = versions
    report["gpu"] = gpu_report()
    report["models"] = {
        m["role"] or m["name"]: (f"{m['name']}: available at {m['path']}" if m["available"]
                                 else f"{m['name']}: NOT AVAILABLE (run `jaicat models pull`)")
        for m in list_local_models(settings.models, {"clip": settings.clip_model,
                                                     "caption": settings.caption_model})
    }
    try:  # through detect's one import of face_recognition_models (it silences its pkg_resources warning)
        path = detect.dlib_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
        report["face_models"] = {"ok": path.is_file(), "path": str(path)}
    except Exception as e:  # noqa: BLE001 - doctor reports whatever is wrong
        report["face_models"] = {"ok": False, "error": str(e)}
    report["face_detectors"] = face_detector_report(settings)
    report["face_encoder"] = face_encoder_report(settings)
    return report


def face_encoder_report(settings) -> dict:
    """Which face encoder the passes use: dlib's ResNet on onnxruntime, or dlib's own (and why)."""
    from ..people.faces import FaceModels

    try:
        return FaceModels(models_dir=settings.models, device=settings.device).encoder()
    except Exception as e:  # noqa: BLE001 - doctor reports whatever is wrong
        return {"runtime": None, "error": f"{type(e).__name__}: {e}"}


def face_detector_report(settings) -> dict:
    """Each face detector measured on this machine, and the one each pass uses."""
    from ..people.faces import FaceModels
    from ..people.passes import choose_backend, measure_backends, measure_one_pass

    models = FaceModels(models_dir=settings.models, device=settings.device)
    try:
        measured = measure_backends(settings, models)
        thorough = choose_backend(settings, models)
        one = measure_one_pass(settings, models)
    except Exception as e:  # noqa: BLE001 - doctor reports whatever is wrong
        return {"error": f"{type(e).__name__}: {e}"}
    return {"one_pass": one, "thorough": thorough, "thorough_runs": bool(settings.face_thorough),
            "chosen_by": "measurement" if settings.face_model == "auto" else f"face_model = {settings.face_model}",
            "backends": measured}


def _writable(p) -> bool:
    import os

    while not p.exists() and p != p.parent:
        p = p.parent
    return os.access(p, os.W_OK)


def cmd_doctor(args, runtime) -> int:
    settings = runtime.settings
    report = doctor_report(settings)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"Jaicat {report['jaicat']} on Python {report['python']} ({report['platform']})")
    print("paths:")
    ok = True
    for name, info in report["paths"].items():
        state = "ok" if info["exists"] and info["writable"] else ("will be created" if info["writable"] else "NOT WRITABLE")
        ok &= info["writable"]
        print(f"  {name:9} {info['path']}  [{state}]")
    print("compute:")
    for k, v in report["gpu"].items():
        print(f"  {k}: {v}")
    print("models:")
    for k, v in (report["models"] or {}).items():
        print(f"  {k}: {v}")
    fm = report["face_models"]
    print(f"  face models: {'ok ' + fm.get('path', '') if fm['ok'] else 'MISSING: ' + fm['error']}")
    fe = report["face_encoder"]
    if fe["runtime"] == "onnxruntime":
        print("  face encoder: dlib's ResNet on onnxruntime (weights from dlib's model file)")
    elif fe["runtime"] == "dlib":
        print(f"  face encoder: dlib's own, about 15x slower (the onnxruntime port did not load: {fe['error']})")
    else:
        print(f"  face encoder: ERROR {fe['error']}")
    fd = report["face_detectors"]
    if "error" in fd:
        print(f"  face detectors: ERROR {fd['error']}")
    else:
        off = "" if fd["thorough_runs"] else ", OFF (face_thorough = false)"
        one = fd["one_pass"]
        print(f"  face detection: one pass {one['backend']} on {one['device']}, a copy {one['side']} px long, "
              f"~{one['ms']:.0f} ms a photo (a frame of noise, encoding aside); thorough pass, for the photos "
              f"it doubts: {fd['thorough']} ({fd['chosen_by']}{off})")
        for name, m in fd["backends"].items():
            state = (f"~{m['seconds']:.1f} s per 12 MP photo on {m['device']}, faces from {m['min_face_px']} px"
                     if m["available"] else f"unavailable: {m['error']}")
            print(f"    {name:5} {state}")
    print("versions:")
    for k, v in report["versions"].items():
        print(f"  {k}: {v or 'not installed'}")
    return 0 if ok else 1
