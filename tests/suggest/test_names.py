"""New-folder names in the household's own style (suggest/names.py)."""

import datetime as dt

import numpy as np
import pytest

from jaicat.suggest import names
from jaicat.suggest.engine import SuggestEngine
from jaicat.suggest.features import PhotoFeatures

DAY = dt.date(2024, 7, 2)


@pytest.mark.parametrize("folders, text, expected", [
    (["Events/2023-08-14 Camping", "Events/2024-05-10 Paris", "Family/Amy", "Receipts"], "Beach",
     "Events/2024-07-02 Beach"),
    (["Events/2023-08 Camping", "Events/2024-05 Paris", "Pets/Rex"], "Beach", "Events/2024-07 Beach"),
    (["2023/2023-08 Camping", "2024/2024-05 Paris", "2024/Misc", "Kids/Amy/2024"], "Beach", "2024/2024-07 Beach"),
    (["Camping 2023", "Paris 2024", "Amy", "Screenshots"], "Beach", "Beach 2024"),
    (["Trips/July 2023 - Rome", "Trips/May 2024 - Paris"], "Beach", "Trips/July 2024 - Beach"),
    (["Trips/aug 2023 rome", "Trips/may 2024 paris"], "beach", "Trips/jul 2024 beach"),
    (["Photos/2023_08_14_camping", "Photos/2024_05_10_paris"], "beach", "Photos/2024_07_02_beach"),
    (["20230814 Camping", "20240510 Paris"], "Beach", "20240702 Beach"),
    (["Camping (2023.08)", "Paris (2024.05)"], "Beach", None),  # text on both sides: not learned
    (["Archive/2023-08", "Archive/2023-09", "Archive/2024-01"], "", "Archive/2024-07"),  # dates only
])
def test_the_pattern_is_learned_from_several_styles(folders, text, expected):
    pattern = names.pattern_of(folders)
    if expected is None:
        assert pattern is None
    else:
        assert pattern.name(DAY, text) == expected


@pytest.mark.parametrize("folders", [
    [],
    ["Family/Amy", "Pets/Rex", "Receipts", "Screenshots"],  # no dates at all
    ["Events/2023-08-14 Camping", "Family/Amy"],  # one dated folder is not a pattern
    ["Receipts 2022", "Receipts 2023", "Receipts 2024"],  # the same text every year: a topic
    ["Kids/Amy/2023", "Kids/Amy/2024", "Receipts/2024"],  # bare years sort topics, they name no events
])
def test_no_pattern_no_proposal(folders):
    assert names.pattern_of(folders) is None
    eng = SuggestEngine()
    for f in folders:
        eng.add_folder(f, created=False)
    assert eng.name_pattern() is None
    rec = photo("p", "2024-07-02T10:00:00", {"beach": 0.9})
    assert names.proposals(eng, None, [rec], eng.evidence_many([rec]), eng.predict_many([rec])) == [None]


def test_the_most_common_shape_wins_and_ties_go_to_capitals():
    pattern = names.pattern_of(["Events/2023-08-14 Camping", "Events/2024-05-10 Paris", "Events/2022-01-01 Skiing",
                                "2023-08 x", "2024-01 y"])
    assert pattern.shape.parent == "Events" and pattern.shape.fmt == "%Y-%m-%d" and len(pattern.folders) == 3
    assert pattern.title_case


def photo(pid, when, tags=None, people=None, gps=None, emb=None):
    return PhotoFeatures.build(pid, when, tags or {}, people or [], None, "Pixel 7", gps, emb)


def household() -> SuggestEngine:
    """A household that names events `Events/YYYY-MM-DD <text>` and files everyday photos by topic."""
    rng = np.random.default_rng(3)
    look = {k: rng.standard_normal(32) for k in ("beach", "paris", "home", "receipt", "xmas")}
    eng = SuggestEngine()

    def emb(k):
        v = look[k] + 0.3 * rng.standard_normal(32)
        return v / np.linalg.norm(v)

    t = dt.datetime(2023, 1, 5, 9)
    for i in range(60):  # everyday life at home
        t += dt.timedelta(hours=13)
        eng.learn(photo(f"r{i}", t, {"receipt": 0.9, "paper": 0.5}, emb=emb("receipt")), "Receipts")
        eng.learn(photo(f"a{i}", t + dt.timedelta(hours=2), {"person": 0.9, "smile": 0.6}, ["Amy"], (52.0, 0.1),
                        emb("home")), "Family/Amy")
    for i in range(12):  # two events away
        eng.learn(photo(f"p{i}", dt.datetime(2023, 5, 10, 10) + dt.timedelta(hours=i), {"city": 0.8, "building": 0.6},
                        gps=(48.86, 2.35), emb=emb("paris")), "Events/2023-05-10 Paris")
        eng.learn(photo(f"b{i}", dt.datetime(2023, 8, 14, 10) + dt.timedelta(hours=i), {"beach": 0.8, "sea": 0.7},
                        gps=(43.3, 5.4), emb=emb("beach")), "Events/2023-08-14 Marseille")
        eng.learn(photo(f"x{i}", dt.datetime(2023, 12, 24, 17) + dt.timedelta(minutes=20 * i),
                        {"christmas tree": 0.8, "gift": 0.7}, ["Amy"], (52.0, 0.1), emb("xmas")),
                  "Events/2023-12-24 Christmas")
    eng.emb = emb
    return eng


def propose(eng, recs):
    ev = eng.evidence_many(recs)
    return names.proposals(eng, eng.name_pattern(), recs, ev, eng.predict_many(recs, 3, evidence=ev))


def test_a_new_event_gets_a_name_in_the_households_style():
    eng = household()
    # back in Paris a year later: the place lends its name; the event started the day before
    day1 = photo("n1", "2024-06-01T18:00:00", {"street": 0.7}, gps=(48.85, 2.34), emb=eng.emb("paris"))
    day2 = photo("n2", "2024-06-02T11:00:00", {"city": 0.6}, gps=(48.87, 2.36), emb=eng.emb("paris"))
    got = propose(eng, [day2, day1])
    assert got[0]["folder"] == "Events/2024-06-01 Paris" and got[0]["new"] is True
    assert got[1]["folder"] == "Events/2024-06-01 Paris"
    assert "Paris" in got[0]["reason"]
    # Christmas again, at home: the look and the tags name it
    xmas = photo("n3", "2024-12-24T18:00:00", {"christmas tree": 0.7, "gift": 0.5}, ["Amy"], (52.0, 0.1),
                 eng.emb("xmas"))
    assert propose(eng, [xmas])[0]["folder"] == "Events/2024-12-24 Christmas"
    # somewhere never seen: its most telling tag, in the household's capitals
    ski = photo("n4", "2024-02-10T10:00:00", {"snow": 0.8, "person": 0.9, "mountain": 0.6}, gps=(45.9, 6.9),
                emb=eng.emb("beach") * 0 + eng.emb("paris"))
    assert propose(eng, [ski])[0]["folder"] == "Events/2024-02-10 Snow"


def test_no_proposal_where_an_existing_folder_fits():
    eng = household()
    receipt = photo("e1", "2024-03-01T10:00:00", {"receipt": 0.9, "paper": 0.4}, emb=eng.emb("receipt"))
    during = photo("e2", "2023-08-15T12:00:00", {"beach": 0.7}, gps=(43.3, 5.4), emb=eng.emb("beach"))
    undated = photo("e3", None, {"beach": 0.9}, gps=(43.3, 5.4), emb=eng.emb("beach"))
    assert propose(eng, [receipt, during, undated]) == [None, None, None]
    # the name it would get exists already: the engine suggests that folder by its name and date
    eng.add_folder("Events/2024-06-01 Paris")
    back = photo("e4", "2024-06-01T18:00:00", {"city": 0.7}, gps=(48.85, 2.34), emb=eng.emb("paris"))
    assert propose(eng, [back]) == [None]


def test_the_outcome_of_a_proposal():
    prop = {"folder": "Events/2024-07-02 Beach", "score": 0.1, "reason": "", "new": True}
    shown = [{"folder": "Family/Amy", "score": 0.3, "reason": ""}, prop]
    assert names.outcome(shown, "Events/2024-07-02 Beach") == "unchanged"
    assert names.outcome(shown, "Events/2024-07-02 Marseille") == "edited"
    assert names.outcome(shown, "Family/Amy") == "other"
    assert names.outcome(shown, "Events/2024-07-09 Beach") == "other"  # another date: another event
    assert names.outcome(shown[:1], "Family/Amy") is None
    assert names.outcome(None, "Family/Amy") is None


def test_the_first_photo_of_a_new_burst_starts_an_event():
    """Receipts fit a topic folder well; three photos captured within minutes of one another are
    an event all the same, so the first gets a proposal; one alone does not."""
    eng = household()
    t = dt.datetime(2024, 3, 1, 10)
    shots = [photo(f"k{i}", t + dt.timedelta(minutes=2 * i), {"receipt": 0.9, "paper": 0.4}, emb=eng.emb("receipt"))
             for i in range(3)]
    assert propose(eng, shots[:1]) == [None]
    got = propose(eng, shots)
    assert got[0] is not None and got[0]["folder"].startswith("Events/2024-03-01 "), got[0]


def test_a_new_person_gets_a_folder_named_like_the_others():
    eng = household()
    eng.add_folder("Family/Ben")
    people = names.person_folders(eng.known_folders(), ["Amy", "Ben", "Cleo"])
    assert people == ("Family", {"amy": "Family/Amy", "ben": "Family/Ben"})
    known = set(eng.known_folders())
    cleo = photo("c1", "2024-03-02T10:00:00", {"person": 0.9}, ["Cleo"])
    got = names.person_proposal(eng, people, cleo, known)
    assert got["folder"] == "Family/Cleo" and got["new"] is True and "Family/Amy" in got["reason"]
    with_amy = photo("c2", "2024-03-02T10:00:00", {"person": 0.9}, ["Cleo", "Amy"])
    assert names.person_proposal(eng, people, with_amy, known) is None  # Amy's folder is suggested
    assert names.person_folders(["Family/Amy", "Receipts"], ["Amy", "Cleo"]) is None  # one is no pattern
