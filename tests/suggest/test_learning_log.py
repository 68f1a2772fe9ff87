"""Importing the desktop scripts' tag_learning_log.json: every shape it has had, unknown fields tolerated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jaicat.errors import InvalidInput
from jaicat.suggest import SuggestEngine
from jaicat.suggest.features import PhotoFeatures
from jaicat.suggest.learning_log import load_learning_log


def dump(tmp_path: Path, doc) -> Path:
    p = tmp_path / "tag_learning_log.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    return p


def folders(rows):
    return [f for _, f, _ in rows]


def test_list_of_entries_in_timestamp_order(tmp_path):
    rows = load_learning_log(dump(tmp_path, [
        {"image": "b.jpg", "tags": {"beach": 0.9, "sea": 0.4}, "destination": "Holidays/2024 Greece",
         "timestamp": "2024-08-02T10:00:00", "mood": "happy"},
        {"filename": "a.jpg", "tags": ["receipt", "paper"], "folder": "Receipts", "timestamp": "2024-08-01T10:00:00"},
        {"filename": "c.jpg", "tags": [], "folder": "Nothing to learn"},
        {"filename": "d.jpg", "tags": ["cat"]},  # no folder: skipped
    ]))
    assert folders(rows) == ["Receipts", "Holidays/2024 Greece"]
    rec = rows[1][0]
    assert rec.id == "b.jpg" and rec.tags == {"beach": 0.9, "sea": 0.4}
    assert rows[0][0].tags == {"receipt": 1.0, "paper": 1.0}


def test_dict_keyed_by_filename_and_wrapped_lists(tmp_path):
    rows = load_learning_log(dump(tmp_path, {
        "IMG_1.jpg": {"tags": "dog, grass", "folder": "Pets/Rex", "people": ["Amy H"]},
        "IMG_2.jpg": {"labels": {"dog": 80}, "target": "Pets/Rex"},
    }))
    assert folders(rows) == ["Pets/Rex", "Pets/Rex"]
    assert rows[0][0].people == ["Amy H"] and rows[1][0].tags == {"dog": 1.0}
    rows = load_learning_log(dump(tmp_path, {"version": 2, "entries": [{"file": "x.png", "tags": ["text"],
                                                                      "category": "Screenshots"}]}))
    assert folders(rows) == ["Screenshots"]


def test_tag_counts_per_folder(tmp_path):
    rows = load_learning_log(dump(tmp_path, {"Family/Amy": {"person": 12, "smile": 4}, "Receipts": {"receipt": 3}}))
    assert sorted(folders(rows)) == ["Family/Amy", "Receipts"]
    assert dict((f, w) for _, f, w in rows) == {"Family/Amy": 10.0, "Receipts": 3.0}


def test_absolute_destinations_become_library_folders(tmp_path):
    lib = tmp_path / "Pictures"
    rows = load_learning_log(dump(tmp_path, [
        {"image": "a.jpg", "tags": ["beach"], "destination": f"{lib}/Holidays/Greece/a.jpg"},
        {"image": "b.jpg", "tags": ["cat"], "destination": f"{lib}/Pets"},
    ]), library=lib)
    assert folders(rows) == ["Holidays/Greece", "Pets"]
    rows = load_learning_log(dump(tmp_path, [  # not under the library: relative to what they share
        {"image": "a.jpg", "tags": ["beach"], "destination": "/mnt/old/Sorted/Holidays"},
        {"image": "b.jpg", "tags": ["cat"], "destination": "/mnt/old/Sorted/Pets"},
    ]))
    assert folders(rows) == ["Holidays", "Pets"]


def test_imported_history_drives_suggestions(tmp_path):
    rows = load_learning_log(dump(tmp_path, [{"image": f"{i}.jpg", "tags": ["receipt"], "folder": "Receipts"}
                                         for i in range(3)]))
    e = SuggestEngine()
    for rec, folder, weight in rows:
        e.learn(rec, folder, weight=weight)
    assert e.predict(PhotoFeatures.build("x", None, {"receipt": 0.7}))[0].folder == "Receipts"


@pytest.mark.parametrize("content", ["not json", "42"])
def test_unreadable_logs_are_clear_errors(tmp_path, content):
    p = tmp_path / "log.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_learning_log(p)
    with pytest.raises(InvalidInput, match="not found"):
        load_learning_log(tmp_path / "missing.json")
