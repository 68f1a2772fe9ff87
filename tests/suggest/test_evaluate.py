"""`jaicat suggest eval HISTORY.jsonl`: the public evaluation format, run on histories we have not seen."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from jaicat.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from histories import household  # noqa: E402

LAST_LINE = re.compile(r"^top1=\d\.\d{3} top3=\d\.\d{3} n=\d+ new_folders=\d+$")


def write(path: Path, lines) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_output_is_exactly_one_summary_line_and_needs_no_data_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JAICAT_DATA_DIR", raising=False)
    hist = write(tmp_path / "h.jsonl", household(7, 400, dim=16))
    code, out, err = run(capsys, "suggest", "eval", str(hist))
    assert code == 0
    assert out.count("\n") == 1 and LAST_LINE.match(out.strip()), out
    assert "eval:" in err  # progress and latency go to stderr
    assert list(tmp_path.iterdir()) == [hist]  # no catalogue, no data dir created
    top1, top3 = (float(x) for x in re.findall(r"top\d=(\S+)", out))
    assert 0.5 < top1 <= top3 <= 1.0


def test_counts_new_folders_as_misses(tmp_path, capsys):
    hist = write(tmp_path / "h.jsonl", [
        {"id": "1", "taken_at": "2024-07-01T10:00:00", "tags": {"beach": 0.9}, "folder": "Holidays"},
        "",  # blank lines are skipped
        {"id": "2", "taken_at": "2024-07-01T10:02:00", "tags": {"beach": 0.8}, "folder": "Holidays",
         "some_future_field": {"x": 1}},
        {"id": "3", "taken_at": None, "tags": {"receipt": 0.9}, "folder": "Receipts"},
        {"id": "4", "tags": {"receipt": 0.8}, "people": [], "folder": "/Receipts/"},
    ])
    code, out, _ = run(capsys, "suggest", "eval", str(hist))
    assert code == 0
    assert out.strip() == "top1=0.500 top3=0.500 n=4 new_folders=2"


def test_other_k_appends_its_own_figure(tmp_path, capsys):
    hist = write(tmp_path / "h.jsonl", household(3, 200, dim=0))
    code, out, _ = run(capsys, "suggest", "eval", str(hist), "--k", "5")
    assert code == 0
    assert re.match(r"^top1=\d\.\d{3} top3=\d\.\d{3} n=200 new_folders=\d+ top5=\d\.\d{3}$", out.strip())
    code, out, _ = run(capsys, "suggest", "eval", str(hist), "--k", "1")
    assert LAST_LINE.match(out.strip())


@pytest.mark.parametrize("bad, message", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"id": "x", "tags": {"a": 1}}', "folder"),
    ('{"id": "x", "tags": 5, "folder": "A"}', "tags must be"),
    ('{"id": "x", "tags": {"a": "high"}, "folder": "A"}', "non-numeric score"),
    ('{"id": "x", "taken_at": "yesterday", "folder": "A"}', "ISO-8601"),
    ('{"id": "x", "gps": [200, 10], "folder": "A"}', "gps out of range"),
    ('{"id": "x", "embedding": ["a"], "folder": "A"}', "embedding"),
])
def test_a_bad_line_is_an_error_naming_its_line(tmp_path, capsys, bad, message):
    good = {"id": "ok", "tags": {"cat": 1.0}, "folder": "Pets"}
    hist = write(tmp_path / "h.jsonl", [good, "", bad, good])
    code, out, err = run(capsys, "suggest", "eval", str(hist))
    assert code == 2 and out == ""
    assert "h.jsonl:3:" in err and message in err


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    code, _, err = run(capsys, "suggest", "eval", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "not found" in err


def test_the_engine_beats_every_single_signal(tmp_path):
    """Acceptance, in small: the ensemble is better than any one signal on a realistic household."""
    from jaicat.suggest.engine import SIGNALS, SuggestEngine
    from jaicat.suggest.evaluate import evaluate
    from jaicat.suggest.features import parse_record

    recs = [(i, *parse_record(o)) for i, o in enumerate(household(11, 1200, dim=32))]
    full = evaluate(recs, engine=SuggestEngine())
    assert full.top(1, 200) >= 0.8 and full.top(3, 200) >= 0.9
    assert full.calibration_error(200) < 0.05  # the confidence shown means what it says
    for signal in SIGNALS:
        single = evaluate(recs, engine=SuggestEngine(signals=[signal]))
        assert full.top(1, 200) > single.top(1, 200), signal


def test_liberal_in_what_a_line_may_hold(tmp_path, capsys):
    hist = write(tmp_path / "h.jsonl", [
        {"id": 1, "taken_at": "2024:07:15 10:20:30", "tags": ["beach", "sea"], "people": [{"name": "Amy H"}],
         "gps": "37.44, 25.33", "camera": {"make": "Apple", "model": "iPhone 12"}, "folder": "Greece"},
        {"id": 2, "taken_at": "1721039000", "tags": {"beach": 87, "sea": 40}, "people": "Amy H",
         "gps": [37.44, 25.33, 12.0], "embedding": [0, 0, 0], "folder": "Greece\\"},
        {"id": 3, "taken_at": 1721039100000, "tags": [{"name": "beach", "score": 0.7}], "folder": "./Greece"},
    ])
    code, out, _ = run(capsys, "suggest", "eval", str(hist))
    assert code == 0 and out.strip() == "top1=0.667 top3=0.667 n=3 new_folders=1"
