"""The online auto-filing rule (suggest/autofile.py) and `jaicat suggest eval --auto-file`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from jaicat.cli.main import main
from jaicat.suggest.autofile import MIN_DECISIONS, AutoFileRule, wilson

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from histories import household  # noqa: E402


def feed(rule: AutoFileRule, confidence: float, n: int, wrong_every: int = 0, qualified: bool | None = False):
    """`n` decisions at `confidence`, one in `wrong_every` elsewhere; by default decided by the user
    (not filings that qualified, which also feed the pause window)."""
    for i in range(n):
        rule.record(confidence, not (wrong_every and i % wrong_every == 0), qualified=qualified)


def test_a_fresh_rule_files_nothing():
    rule = AutoFileRule(0.05)
    assert rule.threshold is None
    assert not rule.should_file(0.999)


def test_too_few_decisions_give_no_threshold_however_right():
    rule = AutoFileRule(0.05)
    feed(rule, 0.97, MIN_DECISIONS - 1)
    assert rule.threshold is None
    feed(rule, 0.97, 1)
    assert rule.threshold is not None and rule.should_file(0.97)


def test_the_threshold_is_the_lowest_whose_observed_error_is_within_target():
    rule = AutoFileRule(0.05)
    feed(rule, 0.95, 400, wrong_every=100)  # 1% wrong up there
    feed(rule, 0.75, 400, wrong_every=5)  # 20% wrong: pooled with the top, still too many
    feed(rule, 0.55, 400, wrong_every=2)
    assert rule.threshold == pytest.approx(0.94)
    assert rule.should_file(0.96) and not rule.should_file(0.80)
    feed(rule, 0.85, 400, wrong_every=50)  # 2% wrong: joins the top
    assert rule.threshold == pytest.approx(0.84)
    assert rule.should_file(0.86) and not rule.should_file(0.76)


def test_a_small_sample_needs_a_margin():
    """At 4% observed on 30 decisions, the upper bound is above 5%: not yet; on 1000 it is within."""
    assert wilson(1.2, 30, 0.5)[1] > 0.05 > wilson(40, 1000, 0.5)[1]


def test_it_pauses_when_recent_filings_are_corrected_too_often_and_resumes():
    rule = AutoFileRule(0.05)
    feed(rule, 0.97, 1000, wrong_every=100)
    assert rule.should_file(0.97)
    for _ in range(6):
        rule.record(0.97, False)  # the household keeps correcting them
    assert rule.paused and not rule.should_file(0.99)
    assert rule.qualifies(0.97)  # still above the threshold: outcomes keep feeding the window
    feed(rule, 0.97, 60, qualified=None)
    assert not rule.paused and rule.should_file(0.97)


def test_state_round_trips_and_a_bad_target_is_refused():
    rule = AutoFileRule(0.05)
    feed(rule, 0.9, 200, wrong_every=40)
    again = AutoFileRule.from_state(0.05, json.loads(json.dumps(rule.state())))
    assert again.threshold == rule.threshold and again.n == rule.n and list(again.recent) == list(rule.recent)
    for bad in (0, 1, -0.1, 2):
        with pytest.raises(ValueError):
            AutoFileRule(bad)


def test_eval_auto_file_appends_its_figures(tmp_path, capsys):
    hist = tmp_path / "h.jsonl"
    hist.write_text("".join(json.dumps(r) + "\n" for r in household(3, 900, dim=16)), encoding="utf-8")
    assert main(["suggest", "eval", str(hist), "--auto-file", "0.05"]) == 0
    out = capsys.readouterr().out.strip()
    m = re.match(r"^top1=\S+ top3=\S+ n=900 new_folders=\d+ auto_filed=(\d\.\d{3}) auto_wrong=(\d\.\d{3})$", out)
    assert m, out
    filed, wrong = float(m[1]), float(m[2])
    assert filed > 0.4 and wrong < 0.08, out


@pytest.mark.parametrize("rate", ["0", "1.5", "-0.05"])
def test_eval_refuses_a_rate_outside_0_1(tmp_path, capsys, rate):
    hist = tmp_path / "h.jsonl"
    hist.write_text(json.dumps(household(3, 5, dim=0)[0]) + "\n", encoding="utf-8")
    assert main(["suggest", "eval", str(hist), "--auto-file", rate]) != 0
    assert "--auto-file" in capsys.readouterr().err
