"""ML commands: scan, analyse, models pull/list, search, tag add/remove/list, regions import/export/similar."""

from __future__ import annotations

import json

from tqdm import tqdm

from . import open_catalogue


def register(sub) -> None:
    p = sub.add_parser("scan", help="import PATHs and analyse everything pending (tags, captions, faces)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folder trees (none: only analyse)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("analyse", help="analyse pending photos; --retry-failed / --missing / --all requeue first")
    p.add_argument("--retry-failed", action="store_true", help="photos whose analysis failed")
    p.add_argument("--missing", action="store_true", help="photos analysed without the CLIP model")
    p.add_argument("--all", action="store_true", help="every photo (e.g. after changing models)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_analyse)

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

    p = sub.add_parser("search", help='search photos, e.g. \'beach tag:dog person:"Amy H" after:2024-01-01\'')
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    tag = sub.add_parser("tag", help="add, remove or list a photo's tags")
    tsub = tag.add_subparsers(dest="tag_command", metavar="ACTION", required=True)
    for name, help_ in (("add", "tag a photo"), ("remove", "remove tags (auto-taggers will not add them back)")):
        p = tsub.add_parser(name, help=help_)
        p.add_argument("photo", help="photo id or sha256 prefix")
        p.add_argument("tags", nargs="+", metavar="TAG")
        p.set_defaults(func=cmd_tag)
    p = tsub.add_parser("list", help="a photo's tags with source and score")
    p.add_argument("photo")
    p.add_argument("--all", action="store_true", help="include removed tags")
    p.set_defaults(func=cmd_tag_list)

    reg = sub.add_parser("regions", help="labelled regions: import/export annotation files, similar regions")
    rsub = reg.add_subparsers(dest="regions_command", metavar="ACTION", required=True)
    p = rsub.add_parser("import", help="create regions from an annotation JSON (shapes: see jaicat.regions)")
    p.add_argument("file")
    p.set_defaults(func=cmd_regions_import)
    p = rsub.add_parser("export", help="write all regions as annotation JSON")
    p.add_argument("file")
    p.set_defaults(func=cmd_regions_export)
    p = rsub.add_parser("similar", help="regions that look like REGION_ID")
    p.add_argument("region", type=int)
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_regions_similar)


def _analyse_pending(settings, quiet: bool) -> int:
    from ..analysis import Analyser, pending_count
    from ..db import Photo
    from ..worker import run_pending

    analyser = Analyser(settings)
    bar = tqdm(total=pending_count(), unit="photo", desc="analysing", disable=quiet)

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    job = run_pending(settings, progress=progress, analyser=analyser)
    bar.close()
    if job is None:
        print("nothing to analyse")
        return 0
    failed = Photo.select().where(Photo.analysis_error.is_null(False)).count()
    ran = ["decode"] + [s for s, ok in (("clip+tags", analyser.clip() is not None),
                                         ("caption", analyser.captioner() is not None),
                                         ("faces", analyser.people() is not None)) if ok]
    print(f"analysed {job.done} photos ({', '.join(ran)}){'; ' + job.message if job.message else ''}")
    if failed:
        print(f"{failed} photos have analysis errors (see `jaicat analyse --retry-failed`)")
    return 0


def cmd_scan(args, settings) -> int:
    from ..ingest import ingest_paths

    open_catalogue(settings)
    if args.paths:
        bar = tqdm(total=0, unit="file", desc="importing", disable=args.quiet)

        def progress(done, total, path, outcome):
            bar.total = total
            bar.update(1)

        summary = ingest_paths(args.paths, settings, progress=progress)
        bar.close()
        for path, reason in summary.rejected:
            print(f"rejected: {path}: {reason}")
        print(summary.line())
    return _analyse_pending(settings, args.quiet)


def cmd_analyse(args, settings) -> int:
    from ..analysis import requeue

    open_catalogue(settings)
    n = requeue(missing_embeddings=args.missing, failed=args.retry_failed, everything=args.all)
    if n:
        print(f"requeued {n} photos")
    return _analyse_pending(settings, args.quiet)


def _configured(settings) -> dict[str, str]:
    out = {"clip": settings.clip_model}
    if settings.captions:
        out["caption"] = settings.caption_model
    return out


def cmd_models_pull(args, settings) -> int:
    from ..ml.models import pull_model

    names = args.names or list(_configured(settings).values())
    for name in names:
        dest = pull_model(name, settings.models, from_dir=args.from_dir, only=len(names) == 1)
        print(f"{name}: installed at {dest}")
    return 0


def cmd_models_list(args, settings) -> int:
    from ..ml.models import list_local_models

    rows = list_local_models(settings.models, _configured(settings))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"models dir: {settings.models}")
    for r in rows:
        state = f"ok  {r['bytes'] / 1e6:8.1f} MB  {r['path']}" if r["available"] else \
            f"MISSING  (jaicat models pull {r['name']})"
        print(f"{(r['role'] or '-'):8} {r['name']:45} {state}")
    return 0 if all(r["available"] for r in rows if r["role"]) else 1


def cmd_search(args, settings) -> int:
    from ..search import search

    open_catalogue(settings)
    hits = search(settings, " ".join(args.query), limit=args.limit)
    if args.json:
        print(json.dumps([{"id": h.photo.id, "score": h.score, "path": f"{h.photo.root}/{h.photo.path}",
                           "caption": h.photo.caption} for h in hits], indent=2))
        return 0
    if not hits:
        print("no photos found")
    for h in hits:
        score = f"{h.score:6.3f}" if h.score is not None else "     -"
        print(f"{h.photo.id:6}  {score}  {h.photo.root}/{h.photo.path}  {h.photo.caption or ''}".rstrip())
    return 0


def cmd_tag(args, settings) -> int:
    from ..tags import add_tag, photo_tags, remove_tag
    from .core import find_photo

    open_catalogue(settings)
    photo = find_photo(args.photo)
    for t in args.tags:
        (add_tag if args.tag_command == "add" else remove_tag)(photo, t)
    print(f"photo {photo.id}: " + (", ".join(t["name"] for t in photo_tags(photo)) or "(no tags)"))
    return 0


def cmd_tag_list(args, settings) -> int:
    from ..tags import photo_tags
    from .core import find_photo

    open_catalogue(settings)
    for t in photo_tags(find_photo(args.photo), include_removed=args.all):
        removed = "  (removed)" if t.get("removed") else ""
        print(f"{t['name']:30} {t['source']:5} {t['score']:.3f}{removed}")
    return 0


def cmd_regions_import(args, settings) -> int:
    from ..regions import import_annotations

    open_catalogue(settings)
    report = import_annotations(settings, args.file)
    for name in report.unmatched:
        print(f"not in the catalogue: {name}")
    for name, reason in report.rejected:
        print(f"rejected region on {name}: {reason}")
    print(report.line())
    return 0


def cmd_regions_export(args, settings) -> int:
    from ..regions import export_annotations

    open_catalogue(settings)
    doc = export_annotations(settings, args.file)
    print(f"wrote {sum(len(v) for v in doc.values())} regions on {len(doc)} photos to {args.file}")
    return 0


def cmd_regions_similar(args, settings) -> int:
    from ..regions import similar_regions

    open_catalogue(settings)
    for r, score in similar_regions(settings, args.region, k=args.limit):
        print(f"region {r.id:6}  {score:6.3f}  photo {r.photo_id}  {r.label}")
    return 0
