"""Photo commands: import, file, undo, rename-folder, tree, tag."""

from __future__ import annotations

import json
import os

from .remote import perform


def register(sub) -> None:
    p = sub.add_parser("import", help="import photos (files or folder trees) into the inbox")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--device", help="record this source device name on the photos")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_import, writes=True)

    p = sub.add_parser("file", help="file a photo into a library folder")
    p.add_argument("photo", help="photo id or sha256 (prefix of at least 8 characters)")
    p.add_argument("folder", help="library-relative folder, e.g. 'Family/Holidays 2024'")
    p.set_defaults(func=cmd_file, writes=True)

    p = sub.add_parser("rename-folder", help="rename or move a library folder with its photos")
    p.add_argument("old", help="library-relative folder, e.g. 'Holidays 2024'")
    p.add_argument("new", help="its new name, e.g. 'Family/Holidays 2024'")
    p.set_defaults(func=cmd_rename_folder, writes=True)

    p = sub.add_parser("undo", help="undo the last filing decision (or --decision ID)")
    p.add_argument("--decision", type=int)
    p.set_defaults(func=cmd_undo, writes=True)

    p = sub.add_parser("tree", help="print the library folder tree with photo counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tree)

    tag = sub.add_parser("tag", help="add, remove or list a photo's tags")
    tsub = tag.add_subparsers(dest="tag_command", metavar="ACTION", required=True)
    for name, help_ in (("add", "tag a photo"), ("remove", "remove tags (auto-taggers will not add them back)")):
        p = tsub.add_parser(name, help=help_)
        p.add_argument("photo", help="photo id or sha256 prefix")
        p.add_argument("tags", nargs="+", metavar="TAG")
        p.set_defaults(func=cmd_tag, writes=True)
    p = tsub.add_parser("list", help="a photo's tags with source and score")
    p.add_argument("photo")
    p.add_argument("--all", action="store_true", help="include removed tags")
    p.set_defaults(func=cmd_tag_list)


def import_params(paths: list[str], device: str | None = None) -> dict:
    """`import`/`scan` PATHs as the import job takes them: absolute (the server has its own folder)."""
    return {"paths": [os.path.abspath(p) for p in paths], "device": device}


def print_import(result: dict, as_json: bool = False) -> int:
    """An import's result as `jaicat import` prints it; its exit code."""
    if as_json:
        print(json.dumps({k: result[k] for k in ("imported", "duplicates", "rejected", "skipped", "counts")},
                         indent=2))
    else:
        for r in result["rejected"]:
            print(f"rejected: {r['path']}: {r['reason']}")
        more = result["counts"]["rejected"] - len(result["rejected"])
        if more > 0:
            print(f"... and {more} more rejected")
        print(result["line"])
    return 1 if result["rejected"] and not (result["imported"] or result["duplicates"]) else 0


def cmd_import(args, runtime) -> int:
    result = perform(args, runtime, "import", import_params(args.paths, args.device), unit="file", quiet=args.json)
    return print_import(result, args.json)


def cmd_file(args, runtime) -> int:
    r = perform(args, runtime, "file", {"photo": args.photo, "folder": args.folder})
    print(f"filed photo {r['photo_id']} -> {r['path']}")
    return 0


def cmd_rename_folder(args, runtime) -> int:
    r = perform(args, runtime, "rename-folder", {"from": args.old, "to": args.new})
    print(f"renamed {r['from']!r} -> {r['to']!r} ({r['moved']} photos)")
    return 0


def cmd_undo(args, runtime) -> int:
    r = perform(args, runtime, "undo", {"decision": args.decision})
    print(f"undid decision {r['decision_id']} ({r['action']}): photo {r['photo_id']} is back at {r['root']}/{r['path']}")
    return 0


def cmd_tree(args, runtime) -> int:
    from ..photos.library import folder_tree, format_tree

    settings = runtime.settings
    runtime.open()
    tree = folder_tree(settings)
    if args.json:
        print(json.dumps(tree, indent=2))
        return 0
    print(f"{settings.library}/  ({tree['total']})")
    for line in format_tree(tree):
        print(line)
    return 0


def cmd_tag(args, runtime) -> int:
    r = perform(args, runtime, "tags", {"photo": args.photo, args.tag_command: args.tags})
    print(f"photo {r['photo_id']}: " + (", ".join(r["tags"]) or "(no tags)"))
    return 0


def cmd_tag_list(args, runtime) -> int:
    from ..db import Photo
    from ..photos.tags import photo_tags

    runtime.open()
    for t in photo_tags(Photo.lookup(args.photo), include_removed=args.all):
        removed = "  (removed)" if t.get("removed") else ""
        print(f"{t['name']:30} {t['source']:5} {t['score']:.3f}{removed}")
    return 0
