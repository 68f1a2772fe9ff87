"""Operations commands: `jaicat backup`, `jaicat restore`, `jaicat xmp write|read`."""

from __future__ import annotations

import json
import sys

from . import open_catalogue


def register(sub) -> None:
    p = sub.add_parser("backup", help="write a consistent snapshot of the data directory (safe while serving)")
    p.add_argument("dest", help="new directory to create, or an existing one to put a timestamped snapshot in")
    p.add_argument("--no-thumbs", action="store_true", help="leave thumbnails out (restore regenerates none)")
    p.add_argument("--with-library", action="store_true", help="also copy the filed photos and their sidecars")
    p.add_argument("--keep", type=int, metavar="N",
                   help="then delete all but the newest N backups in DEST (DEST must be an existing folder)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="bring a backup back into an empty data directory")
    p.add_argument("src", help="a directory written by `jaicat backup`")
    p.add_argument("--force", action="store_true",
                   help="restore over an existing catalogue (the old data is kept aside, never deleted)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("xmp", help="XMP sidecars for digiKam, Lightroom, darktable, PhotoPrism, Immich")
    xsub = p.add_subparsers(dest="xmp_command", metavar="ACTION", required=True)
    w = xsub.add_parser("write", help="write sidecars for library photos that have none (--all: update every one)")
    w.add_argument("photo_ids", nargs="*", type=int, help="only these photos")
    w.add_argument("--all", action="store_true", help="also update sidecars that already exist")
    w.set_defaults(func=cmd_xmp_write)
    r = xsub.add_parser("read", help="print what Jaicat reads from a sidecar or a photo's embedded XMP (JSON)")
    r.add_argument("file")
    r.set_defaults(func=cmd_xmp_read)


def cmd_backup(args, settings) -> int:
    from pathlib import Path

    from ..backup import backup, prune_backups
    from ..errors import InvalidInput

    if args.keep is not None and not (Path(args.dest).is_dir() and args.keep >= 1):
        raise InvalidInput("--keep needs DEST to be an existing folder and N of at least 1")
    report = backup(settings, args.dest, config_file=args.config, thumbs=not args.no_thumbs,
                    library=args.with_library, progress=lambda m: print(m, file=sys.stderr))
    print(f"backup written to {report.path}")
    for line in report.summary():
        print(f"  {line}")
    if args.keep is not None:
        for old in prune_backups(args.dest, args.keep):
            print(f"  removed old backup {old}")
    return 1 if report.manifest["problems"] else 0


def cmd_restore(args, settings) -> int:
    from ..restore import restore

    report = restore(settings, args.src, force=args.force, progress=lambda m: print(m, file=sys.stderr))
    print(f"restored {args.src} into {settings.data_dir}")
    for line in report.summary():
        print(f"  {line}")
    return 0


def cmd_xmp_write(args, settings) -> int:
    from .. import xmp

    open_catalogue(settings)
    result = xmp.write_sidecars(settings, photo_ids=args.photo_ids or None, all=args.all)
    print(f"{result['written']} written, {result['unchanged']} unchanged, {len(result['failed'])} failed")
    for photo_id, reason in result["failed"]:
        print(f"  photo {photo_id}: {reason}", file=sys.stderr)
    return 1 if result["failed"] else 0


def cmd_xmp_read(args, settings) -> int:
    from pathlib import Path

    from .. import xmp
    from ..errors import InvalidInput

    path = Path(args.file)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    try:
        data = xmp.read_sidecar(path) if path.suffix.lower() == ".xmp" else xmp.read_embedded(path)
    except xmp.XMPError as e:
        raise InvalidInput(f"{path}: {e}") from None
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0
