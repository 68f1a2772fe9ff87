"""`jaicat faces ...`: enrol, import/export .npy encodings, list and manage people and unknown faces."""

from __future__ import annotations

import json
import os

from tqdm import tqdm

from .remote import perform


def register(sub) -> None:
    faces = sub.add_parser("faces", help="face recognition: people, encodings, unknown faces")
    fsub = faces.add_subparsers(dest="faces_command", metavar="SUBCOMMAND", required=True)

    p = fsub.add_parser("enroll", help="learn people from PICTURES_DIR (one subfolder of photos per person)")
    p.add_argument("pictures_dir", metavar="PICTURES_DIR")
    p.add_argument("--no-rematch", action="store_true", help="do not re-match catalogued faces afterwards")
    p.set_defaults(func=cmd_enroll, writes=True)

    p = fsub.add_parser("import", help="import known encodings from FACES_DIR (<Person_Name>_<id>.npy)")
    p.add_argument("faces_dir", metavar="FACES_DIR")
    p.add_argument("--no-rematch", action="store_true", help="do not re-match catalogued faces afterwards")
    p.set_defaults(func=cmd_import, writes=True)

    p = fsub.add_parser("export", help="export all known encodings to FACES_DIR as .npy files")
    p.add_argument("faces_dir", metavar="FACES_DIR")
    p.set_defaults(func=cmd_export)

    p = fsub.add_parser("people", help="list people with face and encoding counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_people)

    p = fsub.add_parser("rename", help="rename a person (and their face tags)")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.set_defaults(func=cmd_rename, writes=True)

    p = fsub.add_parser("merge", help="merge person SRC into DST")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.set_defaults(func=cmd_merge, writes=True)

    p = fsub.add_parser("forget", help="forget a person: encodings, face links and face tags")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_forget, writes=True)

    p = fsub.add_parser("confirm", help="say whose face FACE_ID is (a new name creates the person)")
    p.add_argument("face_id", metavar="FACE_ID", type=int)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_confirm, writes=True)

    p = fsub.add_parser("reject", help="say FACE_ID is not the person it was matched to")
    p.add_argument("face_id", metavar="FACE_ID", type=int)
    p.set_defaults(func=cmd_reject, writes=True)

    p = fsub.add_parser("clusters", help="list groups of unknown faces")
    p.add_argument("--min-size", type=int, default=2, help="smallest group to list (default 2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_clusters)

    p = fsub.add_parser("name-cluster", help="give every face of an unknown group to NAME")
    p.add_argument("cluster", metavar="CLUSTER", type=int)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_name_cluster, writes=True)

    p = fsub.add_parser("recluster", help="regroup all unknown faces (chinese whispers)")
    p.set_defaults(func=cmd_recluster, writes=True)

    p = fsub.add_parser("rematch", help="match all unconfirmed faces again against the known encodings")
    p.set_defaults(func=cmd_rematch, writes=True)


def _progress(desc: str, unit: str):
    """A tqdm bar and the `progress(done, total, path, outcome)` callback that drives it."""
    bar = tqdm(total=0, desc=desc, unit=unit, disable=None)

    def progress(done, total, path=None, outcome=None):
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.n = done
        bar.refresh()

    return bar, progress


def _print_rematch(result: dict | None) -> None:
    if result and result["faces"]:
        print(f"re-matched {result['faces']} faces, {result['changed']} changed")


def cmd_enroll(args, runtime) -> int:
    result = perform(args, runtime, "faces-enroll", {"dir": os.path.abspath(args.pictures_dir),
                                                     "rematch": not args.no_rematch}, unit="photo")
    for path, reason in result["rejected"]:
        print(f"skipped {path}: {reason}")
    print(result["line"])
    _print_rematch(result["rematch"])
    return 0


def cmd_import(args, runtime) -> int:
    result = perform(args, runtime, "faces-import", {"dir": os.path.abspath(args.faces_dir),
                                                     "rematch": not args.no_rematch}, unit="file")
    for name, reason in result["rejected"]:
        print(f"skipped {name}: {reason}")
    print(result["line"])
    _print_rematch(result["rematch"])
    return 1 if result["rejected"] and not result["imported"] and not result["duplicates"] else 0


def cmd_export(args, runtime) -> int:
    from ..people.known import export_npy_dir

    runtime.open()
    bar, progress = _progress("exporting", "file")
    n = export_npy_dir(args.faces_dir, progress=progress)
    bar.close()
    print(f"exported {n} encodings to {args.faces_dir}")
    return 0


def cmd_people(args, runtime) -> int:
    from ..people.persons import list_people

    runtime.open()
    people = list_people()
    if args.json:
        print(json.dumps(people, indent=2))
        return 0
    if not people:
        print("no people yet (jaicat faces enroll / import)")
        return 0
    width = max(len(p["name"]) for p in people)
    print(f"{'id':>5}  {'name':<{width}}  {'faces':>6}  {'encodings':>9}")
    for p in people:
        print(f"{p['id']:>5}  {p['name']:<{width}}  {p['face_count']:>6}  {p['encoding_count']:>9}")
    return 0


def cmd_rename(args, runtime) -> int:
    r = perform(args, runtime, "faces-rename", {"person": args.old, "name": args.new})
    print(f"renamed {r['old']!r} to {r['name']!r}")
    return 0


def cmd_merge(args, runtime) -> int:
    r = perform(args, runtime, "faces-merge", {"person": args.src, "into": args.dst})
    print(f"merged {r['person']!r} into {r['into']!r}")
    return 0


def cmd_forget(args, runtime) -> int:
    r = perform(args, runtime, "faces-forget", {"person": args.name})
    print(f"forgot {r['person']!r}: {r['encodings']} encodings removed, {r['faces']} faces now unknown")
    return 0


def cmd_confirm(args, runtime) -> int:
    r = perform(args, runtime, "faces-confirm", {"face": args.face_id, "name": args.name})
    print(f"face {r['face']} is {r['person']}")
    return 0


def cmd_reject(args, runtime) -> int:
    r = perform(args, runtime, "faces-reject", {"face": args.face_id})
    print(f"face {r['face']} rejected; now {r['person'] or 'unknown'}")
    return 0


def cmd_clusters(args, runtime) -> int:
    from ..people.persons import unknown_clusters

    runtime.open()
    groups = unknown_clusters(min_size=args.min_size)
    if args.json:
        print(json.dumps(groups, indent=2))
        return 0
    if not groups:
        print("no groups of unknown faces")
    for g in groups:
        shown = ", ".join(str(i) for i in g["face_ids"][:10]) + (" ..." if g["size"] > 10 else "")
        print(f"cluster {g['cluster']}: {g['size']} faces ({shown})")
    return 0


def cmd_name_cluster(args, runtime) -> int:
    r = perform(args, runtime, "faces-name-cluster", {"cluster": args.cluster, "name": args.name})
    print(f"{r['faces']} faces are now {r['person']}")
    return 0


def cmd_recluster(args, runtime) -> int:
    print(perform(args, runtime, "faces-recluster", {}, unit="group")["line"])
    return 0


def cmd_rematch(args, runtime) -> int:
    _print_rematch(perform(args, runtime, "faces-rematch", {}, unit="face"))
    return 0
