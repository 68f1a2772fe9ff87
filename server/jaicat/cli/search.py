"""Search commands: search, dupes, regions import/export/similar."""

from __future__ import annotations

import json
import os


def register(sub) -> None:
    p = sub.add_parser("search", help='search photos, e.g. \'beach tag:dog person:"Amy H" after:2024-01-01\'')
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("dupes", help="list exact and near-duplicate groups")
    p.add_argument("--max-distance", type=int, default=6, help="perceptual-hash bits that may differ")
    p.add_argument("--clip-distance", type=float, default=None,
                   help="CLIP cosine distance under which photos are duplicates (default 0.01, as Immich; 0 = off)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dupes)

    reg = sub.add_parser("regions", help="labelled regions: import/export annotation files, similar regions")
    rsub = reg.add_subparsers(dest="regions_command", metavar="ACTION", required=True)
    p = rsub.add_parser("import", help="create regions from an annotation JSON (shapes: see jaicat.search.regions)")
    p.add_argument("file")
    p.set_defaults(func=cmd_regions_import, writes=True)
    p = rsub.add_parser("export", help="write all regions as annotation JSON")
    p.add_argument("file")
    p.set_defaults(func=cmd_regions_export)
    p = rsub.add_parser("similar", help="regions that look like REGION_ID")
    p.add_argument("region", type=int)
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_regions_similar)


def cmd_search(args, runtime) -> int:
    from ..search.query import search

    settings = runtime.settings
    runtime.open()
    hits = search(settings, " ".join(args.query), limit=args.limit, models=runtime.models, indexes=runtime.indexes)
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


def cmd_dupes(args, runtime) -> int:
    from ..search.query import near_duplicate_groups

    runtime.open()
    from ..search.query import CLIP_DUPLICATE_DISTANCE

    clip = CLIP_DUPLICATE_DISTANCE if args.clip_distance is None else args.clip_distance
    groups = near_duplicate_groups(max_hamming=args.max_distance, clip_distance=clip)
    if args.json:
        print(json.dumps(groups, indent=2))
        return 0
    if not groups:
        print("no near-duplicates (exact duplicates are never stored twice)")
    for i, g in enumerate(groups, 1):
        print(f"group {i}:")
        for m in g:  # what the user knows the photo by: its name and where it is filed
            where = f"in {m['folder'] or '(library root)'}" if m["folder"] is not None else "in the inbox"
            print(f"  #{m['id']:<6} {m['filename']}  {where}")
    return 0


def cmd_regions_import(args, runtime) -> int:
    from .remote import perform

    report = perform(args, runtime, "regions-import", {"file": os.path.abspath(args.file)}, unit="image")
    for name in report["unmatched"]:
        print(f"not in the catalogue: {name}")
    for name, reason in report["rejected"]:
        print(f"rejected region on {name}: {reason}")
    print(report["line"])
    return 0


def cmd_regions_export(args, runtime) -> int:
    from ..search.regions import export_annotations

    settings = runtime.settings
    runtime.open()
    doc = export_annotations(settings, args.file)
    print(f"wrote {sum(len(v) for v in doc.values())} regions on {len(doc)} photos to {args.file}")
    return 0


def cmd_regions_similar(args, runtime) -> int:
    from ..search.regions import similar_regions

    settings = runtime.settings
    runtime.open()
    for r, score in similar_regions(settings, args.region, k=args.limit, models=runtime.models,
                                     indexes=runtime.indexes):
        print(f"region {r.id:6}  {score:6.3f}  photo {r.photo_id}  {r.label}")
    return 0
