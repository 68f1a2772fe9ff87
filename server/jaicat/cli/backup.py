"""Backup commands: backup, restore, check."""

from __future__ import annotations

import json
import sys
from pathlib import Path


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

    p = sub.add_parser("check", help="reconcile the catalogue with the files: interrupted filings and uploads, "
                                     "moved or missing photos, orphans, temp files")
    p.add_argument("--repair", action="store_true",
                   help="fix what is found (needs the data directory alone: stop the server, which repairs at start)")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=cmd_check)


def cmd_backup(args, runtime) -> int:
    settings = runtime.settings
    from ..backup.snapshot import backup, prune_backups
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


def cmd_restore(args, runtime) -> int:
    from ..backup.restore import restore

    settings = runtime.settings
    report = restore(settings, args.src, force=args.force, progress=lambda m: print(m, file=sys.stderr))
    print(f"restored {args.src} into {settings.data_dir}")
    for line in report.summary():
        print(f"  {line}")
    return 0


def cmd_check(args, runtime) -> int:
    """Exit 0 when everything agrees (or was repaired), 1 when something needs repair or is missing."""
    from ..backup.check import check

    if args.repair:
        runtime.lock.exclusive("jaicat check --repair", wait=0)  # no server, no other command
    runtime.open()
    report = check(runtime.settings, repair=args.repair)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        for line in report.lines():
            print(line)
    if report.missing or report.filings_unresolved:
        return 1
    return 0 if (report.clean or args.repair) else 1
