"""Filing: photos move into the user's tree safely, never overwrite, never escape, can be undone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from jaicat import errors
from jaicat.photos import library
from jaicat.db import Decision, Folder, Photo
from jaicat.photos.ingest import ingest_file, ingest_stream


@pytest.fixture
def photos(settings, media_dir):
    return [ingest_file(media_dir / "exif" / f"orientation_{i}.jpg", settings).photo for i in (1, 3, 6)]


def test_file_moves_the_photo_and_logs_a_decision(settings, photos):
    p = photos[0]
    inbox_file = settings.inbox / p.path
    d = library.file_photo(p, "Family/Holidays 2024", settings, action="accept",
                           suggested=[{"folder": "Family/Holidays 2024", "score": 0.9, "reason": "x"}])
    p = Photo.get_by_id(p.id)
    assert p.root == "library" and p.status == "filed" and p.folder == "Family/Holidays 2024"
    dest = settings.library / "Family/Holidays 2024/orientation_1.jpg"
    assert dest.is_file() and not inbox_file.exists()
    assert d.action == "accept" and d.chosen_folder == "Family/Holidays 2024"
    assert d.suggested[0]["score"] == 0.9
    assert Folder.get(Folder.path == "Family/Holidays 2024")


def test_name_collisions_get_a_suffix_and_nothing_is_overwritten(settings, media_dir, photos):
    folder = settings.library / "Trip"
    folder.mkdir(parents=True)
    (folder / "orientation_1.jpg").write_bytes(b"the user's own file")
    library.file_photo(photos[0], "Trip", settings)
    # a different photo that arrived under the same name
    other = ingest_stream(open(media_dir / "exif" / "orientation_3.jpg", "rb"), "orientation_1.jpg",
                          settings).photo
    assert other.id == photos[1].id  # same bytes as photos[1]: deduplicated, name kept from first
    same_name = ingest_stream(open(media_dir / "heic" / "upright.heic", "rb"), "orientation_1.heic",
                              settings).photo
    library.file_photo(same_name, "Trip", settings)
    assert (folder / "orientation_1.jpg").read_bytes() == b"the user's own file"
    assert (folder / "orientation_1 (1).jpg").is_file()
    assert (folder / "orientation_1.heic").is_file()
    p3 = photos[2]
    Photo.update(original_filename="orientation_1.jpg").where(Photo.id == p3.id).execute()
    library.file_photo(Photo.get_by_id(p3.id), "Trip", settings)
    assert (folder / "orientation_1 (2).jpg").is_file()


@pytest.mark.parametrize("bad", [
    "../outside", "/etc", "a/../../b", "a\x00b", "CON", "a/lpt1.txt", "a\\b", "x/name.", "a/ lead",
    "C:/Windows", ".hidden", "a/b:c",
])
def test_folder_names_that_escape_or_break_are_refused(settings, photos, bad):
    p = photos[0]
    with pytest.raises((errors.PathOutsideLibrary, errors.InvalidFolderName)):
        library.file_photo(p, bad, settings)
    assert (settings.inbox / p.path).is_file()
    assert Decision.select().count() == 0


def test_symlink_out_of_the_library_is_refused(settings, photos, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (settings.library / "sneaky").symlink_to(outside)
    with pytest.raises(errors.PathOutsideLibrary):
        library.file_photo(photos[0], "sneaky/x", settings)
    assert list(outside.iterdir()) == []


def test_undo_puts_the_file_back(settings, photos):
    p = photos[0]
    where = settings.inbox / p.path
    library.file_photo(p, "A", settings)
    library.file_photo(Photo.get_by_id(p.id), "B/C", settings, action="fix")
    assert (settings.library / "B/C/orientation_1.jpg").is_file()
    library.undo(settings)
    assert (settings.library / "A/orientation_1.jpg").is_file()
    assert Photo.get_by_id(p.id).folder == "A"
    library.undo(settings)
    assert where.is_file()
    back = Photo.get_by_id(p.id)
    assert back.root == "inbox" and back.status == "inbox"
    with pytest.raises(errors.NothingToUndo):
        library.undo(settings)


def test_skip_is_logged_and_undoable(settings, photos):
    d = library.skip_photo(photos[1], settings)
    assert Photo.get_by_id(photos[1].id).status == "skipped" and d.action == "skip"
    library.undo(settings)
    assert Photo.get_by_id(photos[1].id).status == "inbox"


def test_copy_mode_keeps_the_original(settings, photos):
    settings.copy_mode = True
    p = photos[0]
    original = settings.inbox / p.path
    library.file_photo(p, "Kept", settings)
    assert original.is_file() and (settings.library / "Kept/orientation_1.jpg").is_file()
    library.undo(settings)
    assert original.is_file() and not (settings.library / "Kept/orientation_1.jpg").exists()


def _other_filesystem() -> Path | None:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != Path.cwd().stat().st_dev:
        return shm
    return None


def test_cross_filesystem_move_is_copied_verified_then_removed(settings, photos, tmp_path):
    other = _other_filesystem()
    if other is None or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem here")
    lib = Path(other) / f"jaicat-test-{os.getpid()}-{tmp_path.name}"
    try:
        settings.library_dir = lib
        p = photos[0]
        src = settings.inbox / p.path
        library.file_photo(p, "Elsewhere", settings)
        dest = lib / "Elsewhere/orientation_1.jpg"
        assert dest.is_file() and not src.exists()
        assert not [f for f in (lib / "Elsewhere").iterdir() if f.name.startswith(".jaicat-")]
        library.undo(settings)
        assert src.is_file() and not dest.exists()
    finally:
        shutil.rmtree(lib, ignore_errors=True)


def test_a_copy_that_does_not_verify_keeps_the_source(settings, photos, tmp_path, monkeypatch):
    other = _other_filesystem()
    if other is None:
        pytest.skip("no second filesystem here")
    lib = Path(other) / f"jaicat-test-bad-{os.getpid()}-{tmp_path.name}"
    try:
        settings.library_dir = lib
        monkeypatch.setattr(library, "sha256_file", lambda path: "0" * 64)
        p = photos[0]
        src = settings.inbox / p.path
        with pytest.raises(errors.VerifyFailed):
            library.file_photo(p, "Elsewhere", settings)
        assert src.is_file()
        assert Photo.get_by_id(p.id).root == "inbox"
        assert list((lib / "Elsewhere").iterdir()) == []
        assert Decision.select().count() == 0
    finally:
        shutil.rmtree(lib, ignore_errors=True)


def test_missing_file_changes_nothing(settings, photos):
    p = photos[0]
    (settings.inbox / p.path).unlink()
    with pytest.raises(errors.FileMissing):
        library.file_photo(p, "X", settings)
    assert Decision.select().count() == 0


def test_folder_tree_counts_and_created_folders(settings, photos):
    library.file_photo(photos[0], "Family/2024", settings)
    library.file_photo(photos[1], "Family", settings)
    library.create_folder(settings, "Receipts")
    tree = library.folder_tree(settings)
    names = {c["name"]: c for c in tree["children"]}
    assert set(names) == {"Family", "Receipts"}
    assert names["Family"]["count"] == 1 and names["Family"]["total"] == 2
    assert names["Family"]["children"][0]["path"] == "Family/2024"
    lines = library.format_tree(tree)
    assert any("2024/" in line for line in lines)


def test_rename_folder_moves_photos_and_keeps_the_catalogue_in_step(settings, photos):
    library.file_photo(photos[0], "Trips/2024", settings)
    library.file_photo(photos[1], "Trips", settings)
    seen = []

    def renamed(old, new):
        seen.append((old, new))

    library.folder_renamed.connect(renamed)
    try:
        assert library.rename_folder(settings, "Trips", "Family/Trips") == 2
    finally:
        library.folder_renamed.disconnect(renamed)
    assert (settings.library / "Family/Trips/2024/orientation_1.jpg").is_file()
    assert not (settings.library / "Trips").exists()
    assert Photo.get_by_id(photos[0].id).folder == "Family/Trips/2024"
    assert {f.path for f in Folder.select()} >= {"Family/Trips", "Family/Trips/2024"}
    assert ("Trips", "Family/Trips") in seen
    library.undo(settings)  # undo still finds the photo where it now is
    assert Photo.get_by_id(photos[1].id).root == "inbox"


def test_decision_receivers_hear_each_committed_filing_and_its_undo(settings, photos):
    heard = []

    def receiver(decision):
        # sent after the commit: the catalogue already says where the photo is
        heard.append((decision.id, decision.action, decision.undone, Photo.get_by_id(decision.photo_id).root))

    def failing(decision):
        raise RuntimeError("a receiver that breaks")

    library.decision_made.connect(failing)
    library.decision_made.connect(receiver)
    try:
        decision = library.file_photo(photos[0], "Pets", settings)
        library.undo(settings)
    finally:
        library.decision_made.disconnect(failing)
        library.decision_made.disconnect(receiver)
    did = decision.id
    # the failing receiver neither stopped the filing nor the next receiver
    assert heard == [(did, "file", False, "library"), (did, "file", True, "inbox")]
    library.file_photo(photos[1], "Pets", settings)
    assert len(heard) == 2  # disconnected receivers hear nothing more


def test_rename_folder_never_merges_or_nests_into_itself(settings, photos):
    library.file_photo(photos[0], "A", settings)
    library.file_photo(photos[1], "B", settings)
    with pytest.raises(errors.Conflict):
        library.rename_folder(settings, "A", "B")
    with pytest.raises(errors.InvalidFolderName):
        library.rename_folder(settings, "A", "A/inner")
    with pytest.raises(errors.NotFound):
        library.rename_folder(settings, "Nope", "C")
    assert (settings.library / "A/orientation_1.jpg").is_file()
    assert (settings.library / "B/orientation_3.jpg").is_file()
