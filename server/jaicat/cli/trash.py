"""`jaicat trash`: move photos to the trash, list it, restore from it, empty it (explicitly)."""

from __future__ import annotations

import sys


def register(sub) -> None:
    trash = sub.add_parser("trash", help="the trash: put photos in it, list, restore, empty")
    tsub = trash.add_subparsers(dest="trash_command", metavar="ACTION", required=True)
    p = tsub.add_parser("put", help="move photos to the trash (restorable until it is emptied)")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo id or sha256 prefix")
    p.set_defaults(func=cmd_put, writes=True)
    p = tsub.add_parser("list", help="what is in the trash, most recently trashed first")
    p.set_defaults(func=cmd_list)
    p = tsub.add_parser("restore", help="put photos back where they were")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.set_defaults(func=cmd_restore, writes=True)
    p = tsub.add_parser("empty", help="delete what is in the trash for good")
    p.add_argument("--older-than", type=int, metavar="DAYS", help="only photos trashed at least DAYS ago")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_empty, writes=True)


def cmd_put(args, runtime) -> int:
    from .remote import perform

    for p in perform(args, runtime, "trash-put", {"photos": args.photos})["trashed"]:
        print(f"trashed photo {p['id']} ({p['filename']})")
    return 0


def cmd_list(args, runtime) -> int:
    from ..photos.trash import trashed

    runtime.open()
    rows, _ = trashed(100_000)
    if not rows:
        print("the trash is empty")
        return 0
    for p in rows:
        was = p.trashed_from or {}
        print(f"{p.id:>6}  {p.trashed_at:%Y-%m-%d %H:%M}  {p.original_filename}  (from {was.get('root')}/{was.get('path')})")
    return 0


def cmd_restore(args, runtime) -> int:
    from .remote import perform

    for p in perform(args, runtime, "trash-restore", {"photos": args.photos})["restored"]:
        print(f"restored photo {p['id']} to {p['root']}/{p['path']}")
    return 0


def cmd_empty(args, runtime) -> int:
    from ..photos.trash import trashed
    from .remote import perform

    runtime.open()
    n = len(trashed(100_000)[0])
    if not n:
        print("the trash is empty")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: emptying the trash deletes photos for good; add --yes to confirm", file=sys.stderr)
            return 2
        if input(f"Delete {n} photo(s) in the trash for good? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    deleted = perform(args, runtime, "trash-empty", {"older_than_days": args.older_than})["deleted"]
    print(f"deleted {deleted} photo(s) for good")
    return 0
