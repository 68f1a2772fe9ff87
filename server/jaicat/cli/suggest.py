"""`jaicat suggest ...`: evaluate, teach, reset and inspect the folder suggester."""

from __future__ import annotations

import os
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("suggest", help="folder suggestions: eval, learn-library, reset, import-log, show")
    sub = p.add_subparsers(dest="suggest_command", metavar="SUBCOMMAND", required=True)

    e = sub.add_parser("eval", help="replay a decision history (JSON Lines) and print top-1/top-3 accuracy",
                       description="Prequential replay: for each line predict, then learn the true folder. "
                       "Prints `top1=.. top3=.. n=.. new_folders=..` as the last line; with --k other than "
                       "1 or 3, ` topK=..` is appended. Needs no data directory.")
    e.add_argument("history", help="JSONL file, one decision per line")
    e.add_argument("--k", type=int, default=3, help="suggestions per photo (default 3)")
    e.add_argument("--signals", help="comma-separated signal groups to use (default: all)")
    e.add_argument("--auto-file", type=float, metavar="RATE", help="also replay auto-filing at this target "
                   "error rate (e.g. 0.05): appends ` auto_filed=F auto_wrong=W`")
    e.set_defaults(func=cmd_eval)

    ll = sub.add_parser("learn-library", help="learn from the photos already filed in the library")
    ll.set_defaults(func=cmd_learn_library, writes=True)

    r = sub.add_parser("reset", help="forget everything learned (the desktop scripts' 'delete tag_learning_log.json')")
    r.set_defaults(func=cmd_reset, writes=True)

    i = sub.add_parser("import-log", help="import the desktop scripts' tag_learning_log.json")
    i.add_argument("file")
    i.set_defaults(func=cmd_import_log, writes=True)

    s = sub.add_parser("show", help="print the suggestions for one photo")
    s.add_argument("photo_id", type=int)
    s.add_argument("--k", type=int, default=None)
    s.set_defaults(func=cmd_show)


def cmd_eval(args, runtime) -> int:
    from ..errors import InvalidInput
    from ..suggest.engine import SuggestEngine
    from ..suggest.evaluate import evaluate, read_history

    if args.k < 1:
        raise InvalidInput("--k must be at least 1")
    if args.auto_file is not None and not 0 < args.auto_file < 1:
        raise InvalidInput("--auto-file must be a target error rate between 0 and 1, such as 0.05")
    signals = [s.strip() for s in args.signals.split(",") if s.strip()] if args.signals else None
    try:
        engine = SuggestEngine(signals=signals)
    except ValueError as e:
        raise InvalidInput(str(e)) from None
    interactive = sys.stderr.isatty()

    def progress(n: int) -> None:
        if n % 1000 == 0:
            print(f"eval: {n} decisions replayed", end="\r" if interactive else "\n", file=sys.stderr, flush=True)

    res = evaluate(read_history(args.history), k=args.k, engine=engine, progress=progress,
                   auto_file=args.auto_file)
    if interactive:
        print(file=sys.stderr)
    print(f"eval: {res.n} decisions, p50 {res.latency_ms(50):.2f} ms, p99 {res.latency_ms(99):.2f} ms per "
          f"suggestion, calibration error {res.calibration_error():.3f}", file=sys.stderr)
    line = res.summary()
    if args.k not in (1, 3):
        line += f" top{args.k}={res.top(args.k):.3f}"
    print(line)
    return 0


def cmd_learn_library(args, runtime) -> int:
    """Learn the library with a progress bar: here, or as the running server's job, followed."""
    from .remote import perform

    print(perform(args, runtime, "learn-library", {}, unit="photo")["line"])
    return 0


def cmd_reset(args, runtime) -> int:
    from .remote import perform

    perform(args, runtime, "suggest-reset", {})
    print("suggestion learning reset: nothing learned is kept (learn-library or filing teaches it again)")
    return 0


def cmd_import_log(args, runtime) -> int:
    from .remote import perform

    result = perform(args, runtime, "suggest-import-log", {"file": os.path.abspath(args.file)}, unit="log")
    print(f"imported {result['decisions']} decisions from {args.file}")
    return 0


def cmd_show(args, runtime) -> int:
    from ..db import Photo

    runtime.connect()
    photo = Photo.get_or_404(args.photo_id)
    sugg = runtime.suggester.suggest_for_photo(photo, k=args.k)
    if not sugg:
        print("no suggestion yet (nothing learned that fits this photo)")
    for s in sugg:
        new = " [new folder]" if s.get("new") else ""
        print(f"{s['score']:.2f}  {s['folder']}{new}  ({s['reason']})")
    return 0
