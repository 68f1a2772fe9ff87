"""The auto-filer's guards and outcomes: a photo the suggester is sure of files itself through the
user's filing path, and only then (never a new folder, an unstable or unsure first choice, faces
still pending, or with auto_file off); the suggester learns it only once it is kept."""

from __future__ import annotations

import datetime as dt

import pytest

from jaicat import events
from jaicat.config import load_settings
from jaicat.db import Decision, Photo, utcnow
from jaicat.errors import InvalidInput
from jaicat.photos import library
from jaicat.suggest.autofile import AutoFileRule
from jaicat.suggest.autofiler import AutoFiler
from jaicat.suggest.review import Review
from jaicat.suggest.service import Suggester

STABLE = 5.0


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FixedSuggester:
    """Answers what the test says each photo's suggestions are."""

    def __init__(self):
        self.answers: dict[int, list] = {}

    def suggest_for_photos(self, photos, k=None):
        return {p.id: self.answers.get(p.id, []) for p in photos}


def choice(folder: str, score: float, new: bool = False) -> list[dict]:
    out = {"folder": folder, "score": score, "reason": "test"}
    return [dict(out, new=True) if new else out, {"folder": "Other", "score": 0.01, "reason": "test"}]


def sure_rule() -> AutoFileRule:
    """A household whose first choices at 0.9 and above were right 200 times."""
    rule = AutoFileRule(0.05)
    for _ in range(200):
        rule.record(0.95, True)
    return rule


@pytest.fixture
def waiting(settings, add_photos):
    """Three photos waiting for review, analysed, and the folders Beach and Other."""
    photos = add_photos(3)
    Photo.update(status="suggested", analysed_at=utcnow(), suggestions=choice("Other", 0.2)).execute()
    for folder in ("Beach", "Other"):
        library.create_folder(settings, folder)
    return [p.id for p in photos]


@pytest.fixture
def filer(settings):
    settings.auto_file = "0.05"
    clock = Clock()
    suggester = FixedSuggester()
    f = AutoFiler(settings, Review(settings, suggester), stable_seconds=STABLE, clock=clock)
    f._rule = sure_rule()
    f.clock_, f.answers = clock, suggester.answers
    return f


def ripe(filer, pid: int, suggestions: list) -> str:
    """The photo's suggestion computed, then left alone for the stable time: what the filer does."""
    filer.answers[pid] = suggestions
    filer.note(pid, suggestions)
    filer.clock_.now += STABLE
    return filer.consider(pid)


def test_a_sure_photo_files_itself_like_an_accept(settings, waiting, filer):
    hub = events.Hub()
    q = hub.subscribe()
    pid = waiting[0]
    assert ripe(filer, pid, choice("Beach", 0.97)) == "filed"
    photo = Photo.get_by_id(pid)
    assert (photo.folder, photo.status, photo.filed_by) == ("Beach", "filed", "auto")
    assert (settings.library / photo.path).is_file()
    d = Decision.get(Decision.photo == pid)
    assert (d.action, d.filed_by, d.chosen_folder, d.suggested[0]["folder"]) == ("accept", "auto", "Beach", "Beach")
    published = []
    while not q.empty():
        published.append(q.get_nowait())
    hub.unsubscribe(q)
    seen = [e for e in published if e["type"] == events.PHOTO_AUTO_FILED]
    assert seen and seen[0]["photo_id"] == pid and seen[0]["folder"] == "Beach" and seen[0]["decision_id"] == d.id
    library.undo(settings, d.id)  # the user's undo puts it back, and it is never auto-filed again
    assert Photo.get_by_id(pid).status == "suggested" and Photo.get_by_id(pid).filed_by is None
    assert ripe(filer, pid, choice("Beach", 0.97)) == "corrected_before"


def test_off_files_nothing(settings, waiting, filer):
    settings.auto_file = "off"
    assert ripe(filer, waiting[0], choice("Beach", 0.99)) == "off"
    assert Photo.get_by_id(waiting[0]).status == "suggested"


def test_never_a_new_folder(settings, waiting, filer):
    assert ripe(filer, waiting[0], choice("Events/2024-07-02 Beach", 0.99, new=True)) == "new_folder"
    assert ripe(filer, waiting[1], choice("Gone", 0.99)) == "new_folder"  # named, but not on disk
    assert not (settings.library / "Events").exists() and not (settings.library / "Gone").exists()
    assert Photo.select().where(Photo.status == "filed").count() == 0


def test_an_unstable_first_choice_waits(settings, waiting, filer):
    pid = waiting[0]
    filer.answers[pid] = choice("Beach", 0.97)
    filer.note(pid, choice("Other", 0.97))
    filer.clock_.now += STABLE - 1
    filer.note(pid, choice("Beach", 0.97))  # changed a moment ago
    filer.clock_.now += 1
    assert filer.run_due() == 0 and filer.consider(pid) == "unstable"
    filer.clock_.now += STABLE - 2
    assert filer.consider(pid) == "unstable"
    assert Photo.get_by_id(pid).status == "suggested"
    filer.clock_.now += 1  # unchanged for STABLE seconds now
    assert filer.run_due() == 1 and Photo.get_by_id(pid).folder == "Beach"


def test_faces_still_pending_wait(settings, waiting, filer):
    Photo.update(analysed_at=None).where(Photo.id == waiting[0]).execute()
    assert ripe(filer, waiting[0], choice("Beach", 0.99)) == "faces_pending"
    settings.worker, settings.face_thorough = True, True  # the thorough pass runs: it is waited for
    assert ripe(filer, waiting[1], choice("Beach", 0.99)) == "faces_pending"
    Photo.update(faces_pass=2).where(Photo.id == waiting[1]).execute()
    assert ripe(filer, waiting[1], choice("Beach", 0.99)) == "filed"


def test_unsure_paused_skipped_and_fresh_households_go_to_the_user(settings, waiting, filer):
    assert ripe(filer, waiting[0], choice("Beach", 0.6)) == "not_sure"
    library.skip_photo(Photo.get_by_id(waiting[1]), settings)
    assert ripe(filer, waiting[1], choice("Beach", 0.99)) == "not_waiting"
    for _ in range(800):
        filer._rule.record(0.95, True, qualified=False)
    for _ in range(10):
        filer._rule.record(0.95, False, qualified=True)  # the recent auto-filings corrected: paused
    assert filer._rule.qualifies(0.99) and filer._rule.paused
    assert ripe(filer, waiting[2], choice("Beach", 0.99)) == "paused"
    filer._rule = AutoFileRule(0.05)  # nothing observed yet
    assert ripe(filer, waiting[2], choice("Beach", 0.99)) == "not_sure"


def test_outcomes_count_for_the_rule_and_are_kept(settings, waiting, filer):
    rule = filer.rule()
    n0 = sum(rule.n)
    for pid in waiting[:2]:
        assert ripe(filer, pid, choice("Beach", 0.97)) == "filed"
    library.decision_made.connect(filer.decided)
    try:
        # a correction: the user moves one elsewhere (the strip's move is a fix)
        Review(settings, filer.review.suggester).fix(waiting[0], "Other")
        assert Photo.get_by_id(waiting[0]).filed_by == "user"
        assert sum(rule.n) == n0 + 1 and sum(rule.wrong) == 1 and list(rule.recent)[-1] == 1
        # the other one is seen in the strip: kept, counted right; seeing it twice keeps it once
        assert filer.seen([waiting[1], waiting[1], waiting[0]]) == 1
        assert Decision.select().where(Decision.action == "confirm").count() == 1
        assert sum(rule.n) == n0 + 2 and sum(rule.wrong) == 1
        # a user's own review decision is an outcome too (first choice not taken)
        filer.answers[waiting[2]] = choice("Beach", 0.8)
        Review(settings, filer.review.suggester).fix(waiting[2], "Other")
        assert sum(rule.n) == n0 + 3 and sum(rule.wrong) == 2
        # moved elsewhere from the library (the viewer's Move) after it was seen: a fix, counted wrong
        [moved] = library.move_photos([Photo.get_by_id(waiting[1])], "Other", settings)
        assert moved.action == "fix" and sum(rule.n) == n0 + 3 and sum(rule.wrong) == 3
    finally:
        library.decision_made.disconnect(filer.decided)
    again = AutoFiler(settings, filer.review)  # the counts outlive the process (catalogue Meta)
    assert again.rule().n == rule.n and again.rule().wrong == rule.wrong


def test_the_suggester_learns_an_auto_filing_only_once_kept(settings, waiting, filer):
    suggester = Suggester(settings).connect()
    try:
        assert ripe(filer, waiting[0], choice("Beach", 0.97)) == "filed"
        assert str(waiting[0]) not in suggester.engine().learned
        assert filer.seen([waiting[0]]) == 1
        assert str(waiting[0]) in suggester.engine().learned
        # a rebuild from the catalogue agrees: the kept one is learned, an unseen one is not
        assert ripe(filer, waiting[1], choice("Beach", 0.97)) == "filed"
        suggester._rebuild(respect_reset=False, force=True)
        assert str(waiting[1]) not in suggester.engine().learned
        assert suggester.engine().history_size == 1
    finally:
        suggester.close()


def test_an_auto_filing_nobody_corrected_is_kept_after_a_while(settings, waiting, filer):
    assert ripe(filer, waiting[0], choice("Beach", 0.97)) == "filed"
    assert filer.confirm_old() == 0
    Decision.update(created_at=utcnow() - dt.timedelta(days=8)).execute()
    assert filer.confirm_old() == 1 and filer.confirm_old() == 0
    # undoing it undoes its confirmation with it; the photo waits for the user again
    auto = Decision.get((Decision.photo == waiting[0]) & (Decision.action == "accept"))
    library.undo(settings)  # the latest undoable decision is the filing, not its confirmation
    assert Decision.select().where(Decision.undone == False).count() == 0  # noqa: E712
    assert Decision.get_by_id(auto.id).undone and Photo.get_by_id(waiting[0]).root == "inbox"


def test_the_setting_is_checked_and_kept(settings, filer):
    with pytest.raises(InvalidInput, match="auto_file"):
        filer.set_target("0.7")
    with pytest.raises(InvalidInput, match="auto_file"):
        load_settings(data_dir=settings.data_dir, env={"JAICAT_AUTO_FILE": "often"})
    assert load_settings(data_dir=settings.data_dir, env={"JAICAT_AUTO_FILE": "0.02"}).auto_file_rate == 0.02
    assert filer.set_target("off") == "off" and settings.auto_file_rate is None
    assert filer.set_target(0.1) == "0.1"
    fresh = load_settings(data_dir=settings.data_dir, env={})
    AutoFiler(fresh, filer.review).load_target()  # the phone's choice outlives a restart
    assert fresh.auto_file == "0.1"


def test_an_auto_filing_cut_short_by_a_crash_is_settled_as_one(settings, waiting):
    """Intent, act, commit: a crash after the move rolls forward at start-up, still marked automatic."""
    from jaicat.photos import journal

    photo = Photo.get_by_id(waiting[0])
    plan = {"action": "accept", "suggested": choice("Beach", 0.97), "folder": "Beach", "from_root": photo.root,
            "from_path": photo.path, "name": photo.original_filename, "tags": [], "people": [], "device": None,
            "filed_by": "auto"}
    journal.write_intent(photo, plan)
    src = settings.root_path(photo.root) / photo.path
    library.transfer(src, settings.library / "Beach", photo.original_filename, photo.sha256, keep_source=False)
    assert journal.settle(settings)["rolled_forward"] == 1  # the crash came before the commit
    photo = Photo.get_by_id(waiting[0])
    d = Decision.get(Decision.photo == photo.id)
    assert (photo.folder, photo.filed_by, d.filed_by, d.action) == ("Beach", "auto", "auto", "accept")
