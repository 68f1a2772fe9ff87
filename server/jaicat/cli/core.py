"""Core commands: import, file, undo, dupes, tree, doctor."""

from __future__ import annotations

import json
import platform
import sys

from tqdm import tqdm

from .. import __version__
from ..config import settings_dict
from ..errors import InvalidInput, NotFound
from . import open_catalogue


def register(sub) -> None:
    p = sub.add_parser("import", help="import photos (files or folder trees) into the inbox")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--device", help="record this source device name on the photos")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("file", help="file a photo into a library folder")
    p.add_argument("photo", help="photo id or sha256 (prefix of at least 8 characters)")
    p.add_argument("folder", help="library-relative folder, e.g. 'Family/Holidays 2024'")
    p.set_defaults(func=cmd_file)

    p = sub.add_parser("rename-folder", help="rename or move a library folder with its photos")
    p.add_argument("old", help="library-relative folder, e.g. 'Holidays 2024'")
    p.add_argument("new", help="its new name, e.g. 'Family/Holidays 2024'")
    p.set_defaults(func=cmd_rename_folder)

    p = sub.add_parser("undo", help="undo the last filing decision (or --decision ID)")
    p.add_argument("--decision", type=int)
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("dupes", help="list exact and near-duplicate groups")
    p.add_argument("--max-distance", type=int, default=6, help="perceptual-hash bits that may differ")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dupes)

    p = sub.add_parser("tree", help="print the library folder tree with photo counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tree)

    p = sub.add_parser("doctor", help="check configuration, paths, GPU/CPU, models and versions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def find_photo(ref: str):
    """A photo by numeric id or by sha256 (prefix of at least 8 hex characters)."""
    from ..db import Photo

    ref = str(ref).strip()
    if ref.isdigit():
        p = Photo.get_or_none(Photo.id == int(ref))
        if p is not None:
            return p
    if len(ref) >= 8 and all(c in "0123456789abcdef" for c in ref.lower()):
        rows = list(Photo.select().where(Photo.sha256.startswith(ref.lower())).limit(2))
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise InvalidInput(f"{ref!r} matches several photos; give more of the sha256")
    raise NotFound(f"no photo {ref!r}")


def cmd_import(args, settings) -> int:
    from ..ingest import ingest_paths

    open_catalogue(settings)
    bar = tqdm(total=0, unit="file", desc="importing", disable=args.json)

    def progress(done, total, path, outcome):
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(1)

    summary = ingest_paths(args.paths, settings, progress=progress, source_device=args.device)
    bar.close()
    if args.json:
        print(json.dumps({
            "imported": summary.imported, "duplicates": [list(d) for d in summary.duplicates],
            "rejected": [{"path": p, "reason": r} for p, r in summary.rejected],
            "skipped": summary.skipped,
        }, indent=2))
    else:
        for path, reason in summary.rejected:
            print(f"rejected: {path}: {reason}")
        print(summary.line())
    return 1 if summary.rejected and not (summary.imported or summary.duplicates) else 0


def cmd_file(args, settings) -> int:
    from ..library import file_photo

    open_catalogue(settings)
    photo = find_photo(args.photo)
    d = file_photo(photo, args.folder, settings, action="file", device="cli")
    print(f"filed photo {photo.id} -> {d.to_path}")
    return 0


def cmd_rename_folder(args, settings) -> int:
    from ..library import rename_folder
    from ..suggest import service

    open_catalogue(settings)
    service.install(settings)  # the suggester's history follows the new name
    n = rename_folder(settings, args.old, args.new)
    print(f"renamed {args.old!r} -> {args.new!r} ({n} photos)")
    return 0


def cmd_undo(args, settings) -> int:
    from ..library import undo

    open_catalogue(settings)
    d = undo(settings, args.decision)
    from ..db import Photo

    p = Photo.get_by_id(d.photo_id)
    print(f"undid decision {d.id} ({d.action}): photo {p.id} is back at {p.root}/{p.path}")
    return 0


def cmd_dupes(args, settings) -> int:
    from ..search import near_duplicate_groups

    open_catalogue(settings)
    groups = near_duplicate_groups(max_hamming=args.max_distance)
    if args.json:
        print(json.dumps(groups, indent=2))
        return 0
    if not groups:
        print("no near-duplicates (exact duplicates are never stored twice)")
    for i, g in enumerate(groups, 1):
        print(f"group {i}: " + ", ".join(f"#{m['id']} {m['path']}" for m in g))
    return 0


def cmd_tree(args, settings) -> int:
    from ..library import folder_tree, format_tree

    open_catalogue(settings)
    tree = folder_tree(settings)
    if args.json:
        print(json.dumps(tree, indent=2))
        return 0
    print(f"{settings.library}/  ({tree['total']})")
    for line in format_tree(tree):
        print(line)
    return 0


def doctor_report(settings) -> dict:
    """Everything `jaicat doctor` checks, as a dict (also used by tests and the health page)."""
    import importlib.metadata as md

    from ..ml.models import list_local_models
    from ..sysinfo import gpu_report

    report: dict = {"jaicat": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    report["config"] = settings_dict(settings)
    paths = {}
    for name in ("data_dir", "library", "inbox", "thumbs", "models"):
        p = getattr(settings, name)
        paths[name] = {"path": str(p), "exists": p.exists(), "writable": _writable(p)}
    report["paths"] = paths
    versions = {}
    for pkg in ("torch", "transformers", "Pillow", "pillow-heif", "peewee", "Flask", "flask-sock",
                "gunicorn", "zeroconf", "annoy", "dlib-bin", "face_recognition_models", "numpy"):
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
    try:
        import face_recognition_models as frm

        report["face_models"] = {"ok": True, "path": str(frm.face_recognition_model_location())}
    except Exception as e:  # noqa: BLE001 - doctor reports whatever is wrong
        report["face_models"] = {"ok": False, "error": str(e)}
    return report


def _writable(p) -> bool:
    import os

    while not p.exists() and p != p.parent:
        p = p.parent
    return os.access(p, os.W_OK)


def cmd_doctor(args, settings) -> int:
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
    print("versions:")
    for k, v in report["versions"].items():
        print(f"  {k}: {v or 'not installed'}")
    return 0 if ok else 1
