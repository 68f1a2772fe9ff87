"""Proposed new-folder names: how often the name Jaicat proposes for a new event is the one the
household gives it.

Household histories from bench/histories.py in its three naming styles (`Events/YYYY-MM-DD <event>`,
`<year>/<year>-<mm> <event>`, `<Event> <year>`) are replayed decision by decision: before each filing
the engine suggests (top 3) and suggest/names.py may propose a new folder, with the next --waiting
photos of the history waiting beside it (the review page). Counted:
  new events     filings into a folder never seen before that is named in the household's pattern;
                 offered: a proposal was made; unchanged: it is exactly the folder the user made
                 (the accepted-unchanged rate); edited: same date, other text (names.outcome);
  other filings  filings into existing folders (or new folders of another kind) that still got a
                 proposal (an extra choice on the card, never the first one).

    .venv/bin/python bench/folder_names.py                    # 3 styles x 2 households, 3000 each
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from histories import household  # noqa: E402

from jaicat.suggest import names  # noqa: E402
from jaicat.suggest.engine import SuggestEngine  # noqa: E402
from jaicat.suggest.features import parse_record  # noqa: E402


def replay(seed: int, scheme: str, n: int, waiting: int, warmup: int) -> tuple[Counter, list[tuple]]:
    objs = household(seed, n, dim=64, scheme=scheme)
    recs = [parse_record(o, f"record {i}") for i, o in enumerate(objs)]
    engine = SuggestEngine()
    tally: Counter = Counter()
    misses = []
    for i, (rec, folder) in enumerate(recs):
        if i >= warmup:
            pattern = engine.name_pattern()
            ev = engine.evidence(rec)
            answer = engine.predict_many([rec], 3, explain=False, evidence=[ev])[0]
            context = [rec] + [r for r, _ in recs[i + 1:i + 1 + waiting]]
            prop = names.proposals(engine, pattern, [rec], [ev], [answer], context)[0]
            new = folder not in engine.index or engine.raw[engine.index[folder]] == 0
            shape = names.shape_of(folder)
            event = new and pattern is not None and shape is not None and shape[0] == pattern.shape
            kind = "event" if event else "other"
            tally[kind] += 1
            if prop is not None:
                tally[kind + " offered"] += 1
                how = names.outcome([*(s.as_dict() for s in answer), prop], folder)
                tally[f"{kind} {how}"] += 1
                if event and how != "unchanged":
                    misses.append((prop["folder"], folder))
        engine.learn(rec, folder)
    return tally, misses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=3000)
    ap.add_argument("--households", type=int, default=2, help="per naming style")
    ap.add_argument("--waiting", type=int, default=40, help="photos waiting beside each one")
    ap.add_argument("--warmup", type=int, default=300, help="decisions learned before counting")
    ap.add_argument("--show", type=int, default=0, help="print this many proposals that were not taken")
    args = ap.parse_args(argv)

    total: Counter = Counter()
    rates = []
    t0 = time.perf_counter()
    for scheme in ("people", "yearly", "flat"):
        for h in range(args.households):
            seed = 11 + h * 3 + ("people", "yearly", "flat").index(scheme)
            tally, misses = replay(seed, scheme, args.decisions, args.waiting, args.warmup)
            total += tally
            ev = tally["event"]
            rate = tally["event unchanged"] / ev if ev else 0.0
            rates.append(rate)
            print(f"{scheme:6s} household {seed}: {ev} new events, proposal offered on {tally['event offered']}, "
                  f"accepted unchanged {tally['event unchanged']} ({rate:.0%}), edited {tally['event edited']}; "
                  f"{tally['other offered']} of {tally['other']} other filings got a proposal")
            for got, want in misses[:args.show]:
                print(f"    proposed {got!r}, filed in {want!r}")
    ev = total["event"]
    print(f"all: {ev} new events; proposal offered {total['event offered'] / max(ev, 1):.0%}, accepted unchanged "
          f"{total['event unchanged']} = {total['event unchanged'] / max(ev, 1):.0%} of new events "
          f"({total['event unchanged'] / max(total['event offered'], 1):.0%} of proposals made; per household "
          f"median {statistics.median(rates):.0%}), edited (same date, other text) "
          f"{total['event edited'] / max(ev, 1):.0%}; other filings with a proposal "
          f"{total['other offered'] / max(total['other'], 1):.1%} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
