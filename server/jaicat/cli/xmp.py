"""XMP commands: `jaicat xmp write|read`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("xmp", help="XMP sidecars for digiKam, Lightroom, darktable, PhotoPrism, Immich")
    xsub = p.add_subparsers(dest="xmp_command", metavar="ACTION", required=True)
    w = xsub.add_parser("write", help="write sidecars for library photos that have none (--all: update every one)")
    w.add_argument("photo_ids", nargs="*", type=int, help="only these photos")
    w.add_argument("--all", action="store_true", help="also update sidecars that already exist")
    w.set_defaults(func=cmd_xmp_write, writes=True)
    r = xsub.add_parser("read", help="print what Jaicat reads from a sidecar or a photo's embedded XMP (JSON)")
    r.add_argument("file")
    r.set_defaults(func=cmd_xmp_read)


def cmd_xmp_write(args, runtime) -> int:
    from .remote import perform

    result = perform(args, runtime, "xmp-write", {"photo_ids": args.photo_ids, "all": args.all}, unit="photo")
    print(result["line"])
    for photo_id, reason in result["failed"]:
        print(f"  photo {photo_id}: {reason}", file=sys.stderr)
    return 1 if result["failed"] else 0


def cmd_xmp_read(args, runtime) -> int:
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
