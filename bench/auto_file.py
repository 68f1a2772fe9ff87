"""Auto-filing on generated households: the share filed without asking (F) against the share of those
that went to another folder than the household's (W), for target rates 0.01-0.10.

The engine's learning does not depend on what the rule does (in a replay every record teaches its
recorded folder), so each household is replayed once and the rule (suggest/autofile.py, the one
`jaicat suggest eval --auto-file` and the server use) is run over its first choices for every rate.

    python bench/auto_file.py --households 6 --decisions 3000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from histories import household  # noqa: E402

from jaicat.suggest.autofile import AutoFileRule  # noqa: E402
from jaicat.suggest.evaluate import evaluate  # noqa: E402
from jaicat.suggest.features import parse_record  # noqa: E402

RATES = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10]


def replay_rule(rate: float, first: list[tuple[float, bool]]) -> tuple[float, float]:
    """(F, W) of the online rule at `rate` over a replay's (first-choice confidence, right) pairs."""
    rule, filed, wrong = AutoFileRule(rate), 0, 0
    for conf, right in first:
        qualified = rule.qualifies(conf)
        if qualified and not rule.paused:
            filed += 1
            wrong += not right
        rule.record(conf, right, qualified=qualified)
    return filed / len(first), (wrong / filed if filed else 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--households", type=int, default=6)
    ap.add_argument("--decisions", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    table = []
    for h in range(args.households):
        recs = household(args.seed + h, args.decisions)
        res = evaluate((i, *parse_record(r, str(i))) for i, r in enumerate(recs))
        first = [(c, r == 0) for c, r in zip(res.confidence, res.rank, strict=True) if c > 0]
        first += [(0.0, False)] * (res.n - len(first))  # no first choice: never filed, still counted
        table.append([replay_rule(rate, first) for rate in RATES])
        print(f"household {h}: top1={res.top(1):.3f} " + " ".join(
            f"{rate:.2f}:{f:.3f}/{w:.3f}" for rate, (f, w) in zip(RATES, table[-1], strict=True)), flush=True)
    print("rate  F(mean)  W(mean)  F(min)  W(max)")
    for j, rate in enumerate(RATES):
        fs = [row[j][0] for row in table]
        ws = [row[j][1] for row in table]
        print(f"{rate:.2f}  {sum(fs) / len(fs):.3f}    {sum(ws) / len(ws):.3f}    {min(fs):.3f}   {max(ws):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
