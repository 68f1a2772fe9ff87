"""The engine learns from every decision: what a user relies on when swiping through the inbox."""

from __future__ import annotations

import numpy as np
import pytest

from jaicat.suggest import PhotoFeatures, SuggestEngine
from jaicat.suggest.features import folder_date, folder_name_tokens


def photo(id, when=None, tags=None, people=None, caption=None, camera="Apple iPhone 12", gps=None, emb=None):
    return PhotoFeatures.build(id, when, tags or {}, people or [], caption, camera, gps, emb)


def names(suggestions):
    return [s.folder for s in suggestions]


def test_empty_engine_suggests_nothing():
    assert SuggestEngine().predict(photo("a", "2024-07-15T10:00:00", {"beach": 0.9})) == []


def test_one_decision_changes_the_next_suggestion():
    e = SuggestEngine()
    e.learn(photo("a", "2024-03-01T09:00:00", {"receipt": 0.8, "paper": 0.6}), "Receipts")
    e.learn(photo("b", "2024-03-02T12:00:00", {"dog": 0.9}, ["Amy H"]), "Family/Amy")
    before = names(e.predict(photo("c", "2024-05-01T10:00:00", {"cat": 0.9, "sofa": 0.4})))
    assert "Pets/Milo" not in before
    e.learn(photo("d", "2024-05-01T09:00:00", {"cat": 0.9, "sofa": 0.5}), "Pets/Milo")
    after = e.predict(photo("e", "2024-06-01T10:00:00", {"cat": 0.85, "floor": 0.3}))
    assert after[0].folder == "Pets/Milo"
    assert 0 < after[0].score <= 1 and after[0].score >= after[-1].score
    # ...and a photo of what went to Receipts still goes there
    assert e.predict(photo("f", "2024-06-02T10:00:00", {"receipt": 0.7}))[0].folder == "Receipts"


def test_a_correction_weighs_more_than_an_accept():
    def run(correction_weight):
        e = SuggestEngine(correction_weight=correction_weight)
        e.learn(photo("a", None, {"cat": 0.9}), "Animals", corrected=True)  # the user fixed our guess
        e.learn(photo("b", None, {"cat": 0.9}), "Pets", corrected=False)  # accepted
        return e.predict(photo("c", None, {"cat": 0.9}))

    assert run(1.0)[0].folder == "Pets"  # equal weights: the latest decision wins
    assert run(2.0)[0].folder == "Animals"  # the correction counts double


def test_capture_time_groups_a_burst_with_its_event():
    e = SuggestEngine()
    for i in range(5):
        e.learn(photo(f"r{i}", f"2024-0{i + 1}-10T12:00:00", {"receipt": 0.9}), "Receipts")
    for i in range(5):
        e.learn(photo(f"p{i}", f"2024-06-0{i + 1}T10:00:00", {"person": 0.6}, ["Ben K"]), "Family/Ben")
    for i in range(3):
        e.learn(photo(f"w{i}", f"2024-07-20T14:0{i}:00", {"cake": 0.5, "person": 0.5}, ["Ben K"]),
                "Events/2024-07-20 Wedding")
    s = e.predict(photo("x", "2024-07-20T14:09:00", {"person": 0.6}, ["Ben K"]))
    assert s[0].folder == "Events/2024-07-20 Wedding"
    assert "minutes" in s[0].reason or "minute" in s[0].reason
    # the same photo a month later is Ben's, not the wedding's
    assert e.predict(photo("y", "2024-08-25T10:00:00", {"person": 0.6}, ["Ben K"]))[0].folder == "Family/Ben"


def test_reason_names_the_people_and_tags_that_decided():
    e = SuggestEngine()
    for i in range(4):
        e.learn(photo(f"a{i}", None, {"beach": 0.8}, ["Amy H"]), "Family/Holidays 2024")
    for i in range(4):
        e.learn(photo(f"b{i}", None, {"receipt": 0.8}), "Receipts")
    for i in range(4):
        e.learn(photo(f"c{i}", None, {"car": 0.8}, ["Tom K"]), "Cars")
    top = e.predict(photo("x", None, {"beach": 0.9}, ["Amy H"]))[0]
    assert top.folder == "Family/Holidays 2024"
    assert "4 earlier photos with" in top.reason and "Family/Holidays 2024" in top.reason
    assert "Amy H" in top.reason or "'beach'" in top.reason


def test_embeddings_and_gps_find_the_folder_without_tags():
    rng = np.random.default_rng(0)
    centres = {f: rng.standard_normal(32) for f in ("Garden", "Pets/Rex", "Cars")}
    gps = {"Garden": (51.5, -0.1), "Pets/Rex": (48.8, 2.3), "Cars": (40.4, -3.7)}
    e = SuggestEngine()
    for i in range(60):
        f = list(centres)[i % 3]
        e.learn(photo(f"{i}", None, emb=centres[f] + 0.3 * rng.standard_normal(32)), f)
    assert e.predict(photo("x", None, emb=centres["Pets/Rex"] + 0.3 * rng.standard_normal(32)))[0].folder == "Pets/Rex"
    g = SuggestEngine()
    for i in range(30):
        f = list(gps)[i % 3]
        g.learn(photo(f"{i}", None, gps=(gps[f][0] + 0.001 * i, gps[f][1])), f)
    top = g.predict(photo("y", None, gps=(48.801, 2.301)))[0]
    assert top.folder == "Pets/Rex" and "taken within" in top.reason


def test_cold_start_suggests_only_real_folders_from_the_tree_by_date_and_name():
    e = SuggestEngine()
    for f in ("2023/2023-08 Cornwall", "2024/2024-07 Paris", "2024/Misc", "Receipts", "Pets/Rex"):
        e.add_folder(f, created=False)
    s = e.predict(photo("a", "2024-07-15T10:00:00", {"tree": 0.4}))
    assert s[0].folder == "2024/2024-07 Paris"
    assert set(names(s)) <= set(e.known_folders())
    assert "2023/2023-08 Cornwall" not in names(s)  # another year is evidence against
    assert names(e.predict(photo("b", None, {"receipts": 0.8})))[:1] == ["Receipts"]
    assert e.predict(photo("c", None, {"tree": 0.4})) == []  # nothing fits: nothing made up
    assert all(s.score < 0.9 for s in e.predict(photo("d", "2024-07-15T10:00:00")))  # no false certainty


def test_a_new_folder_is_suggestible_at_once():
    e = SuggestEngine()
    for i in range(20):
        e.learn(photo(f"a{i}", None, {"dog": 0.8, "grass": 0.3}), "Family/Misc")
    e.add_folder("Pets/Dog walks")  # the user just created it
    s = e.predict(photo("b", None, {"dog": 0.8, "grass": 0.3}))
    assert "Pets/Dog walks" in names(s)
    e.learn(photo("c", None, {"dog": 0.8, "leash": 0.5}), "Pets/Dog walks", corrected=True)
    e.learn(photo("d", None, {"dog": 0.8, "leash": 0.5}), "Pets/Dog walks", corrected=True)
    assert e.predict(photo("e", None, {"dog": 0.8, "leash": 0.6}))[0].folder == "Pets/Dog walks"


def test_renamed_folders_keep_their_history():
    e = SuggestEngine()
    for i in range(5):
        e.learn(photo(f"a{i}", f"2024-07-0{i + 1}T10:00:00", {"beach": 0.9}), "Holidays/Greece")
        e.learn(photo(f"b{i}", f"2024-07-0{i + 1}T11:00:00", {"receipt": 0.9}), "Receipts")
    before = e.predict(photo("x", "2024-07-03T10:30:00", {"beach": 0.9}))[0]
    assert e.rename_folder("Holidays", "Trips") == 1  # subfolders follow their parent
    after = e.predict(photo("x", "2024-07-03T10:30:00", {"beach": 0.9}))[0]
    assert after.folder == "Trips/Greece" and after.score == pytest.approx(before.score)
    assert "Holidays/Greece" not in e.known_folders()
    e.rename_folder("Receipts", "Trips/Greece")  # onto an existing folder: the histories merge
    assert e.known_folders() == ["Trips/Greece"]
    assert e.raw[e.index["Trips/Greece"]] == 10


def test_forget_undoes_a_decision_and_reset_forgets_everything():
    e = SuggestEngine()
    e.learn(photo("a", None, {"cat": 0.9}), "Pets")
    e.learn(photo("b", None, {"cat": 0.9}), "Oops")
    assert e.predict(photo("c", None, {"cat": 0.9}))[0].folder == "Oops"
    assert e.forget("b")
    assert names(e.predict(photo("c", None, {"cat": 0.9}))) == ["Pets"]
    e.reset()
    assert e.predict(photo("c", None, {"cat": 0.9})) == [] and e.history_size == 0


def test_snapshot_round_trip_keeps_what_was_learned():
    e = SuggestEngine()
    for i in range(10):
        e.learn(photo(f"{i}", f"2024-01-0{i % 9 + 1}T10:00:00", {"cat" if i % 2 else "car": 0.9},
                      emb=np.ones(8) + i % 2), "Pets" if i % 2 else "Cars")
    q = photo("q", "2024-01-05T10:00:00", {"cat": 0.9}, emb=np.ones(8) * 2)
    again = SuggestEngine.from_bytes(e.to_bytes())
    assert [(s.folder, s.score, s.reason) for s in again.predict(q)] == \
        [(s.folder, s.score, s.reason) for s in e.predict(q)]


def test_single_signal_baselines_use_only_their_signal():
    e = SuggestEngine(signals=["tags"])
    e.learn(photo("a", "2024-01-01T10:00:00", {"cat": 0.9}), "Pets")
    e.learn(photo("b", "2024-01-01T10:01:00", {"car": 0.9}), "Cars")
    assert e.predict(photo("c", "2024-01-01T10:02:00", {"cat": 0.9}))[0].folder == "Pets"
    with pytest.raises(ValueError):
        SuggestEngine(signals=["telepathy"])


def test_folder_names_and_dates_are_parsed():
    assert folder_date("2024/2024-07 Paris") == (2024, 7, None)
    assert folder_date("Events/2023-05-12 Tom's birthday") == (2023, 5, 12)
    assert folder_date("Holidays/July 2022") == (2022, 7, None)
    assert folder_date("Kids/Leo/2021") == (2021, None, None)
    assert folder_date("Receipts") is None
    assert folder_name_tokens("Pets/Dogs & Cats") == {"pet", "dog", "cat"}
