"""The trash: delete moves a photo (and its sidecar) into the data dir's trash, restore puts it back
where it was, emptying is explicit; a crash between the move and the commit is settled at start-up."""

from __future__ import annotations

import os

import pytest

from jaicat.db import Meta, Photo
from jaicat.errors import InvalidInput
from jaicat.photos import library, trash
from jaicat.photos.ingest import ingest_file, thumb_path
from jaicat.search.query import search


@pytest.fixture
def filed(settings, media_dir):
    photo = ingest_file(media_dir / "exif" / "orientation_3.jpg", settings).photo
    library.file_photo(photo, "Trips/2024", settings)
    return Photo.get_by_id(photo.id)


def test_trash_and_restore_a_filed_photo_with_its_sidecar(settings, filed):
    here = library.photo_file(filed, settings)
    sidecar = here.with_name(here.name + ".xmp")
    sidecar.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    trash.trash_photo(filed, settings)
    p = Photo.get_by_id(filed.id)
    assert p.root == "trash" and p.trashed_at is not None
    assert not here.exists() and not sidecar.exists()
    in_trash = library.photo_file(p, settings)
    assert in_trash.is_file() and in_trash.parent.parent == settings.trash
    assert in_trash.with_name(in_trash.name + ".xmp").is_file()
    # gone from every listing and search
    assert [h.photo.id for h in search(settings, "folder:Trips")] == []
    # a name taken meanwhile is not overwritten: restore picks a free one beside it
    here.write_bytes(b"someone else's file")
    trash.restore_photo(p, settings)
    back = Photo.get_by_id(filed.id)
    assert back.root == "library" and back.status == "filed" and back.folder == "Trips/2024"
    assert back.path == "Trips/2024/orientation_3 (1).jpg"
    assert here.read_bytes() == b"someone else's file"
    restored = library.photo_file(back, settings)
    assert restored.is_file() and restored.with_name(restored.name + ".xmp").is_file()
    assert not (settings.trash / filed.sha256).exists()
    assert [h.photo.id for h in search(settings, "folder:Trips")] == [filed.id]


def test_inbox_photo_leaves_the_review_queue_and_comes_back(settings, media_dir):
    photo = ingest_file(media_dir / "exif" / "orientation_1.jpg", settings).photo
    trash.trash_photo(photo, settings)
    assert library.review_queue(10)[2] == 0
    with pytest.raises(InvalidInput):
        library.file_photo(Photo.get_by_id(photo.id), "Pets", settings)
    trash.restore_photo(Photo.get_by_id(photo.id), settings)
    rows, _, count = library.review_queue(10)
    assert count == 1 and rows[0].id == photo.id and rows[0].root == "inbox"


def test_empty_deletes_rows_files_and_thumbnails_only_when_asked(settings, filed, media_dir):
    other = ingest_file(media_dir / "exif" / "orientation_1.jpg", settings).photo
    trash.trash_photo(filed, settings)
    trash.trash_photo(other, settings)
    thumbs = [thumb_path(settings, filed, s) for s in settings.thumb_sizes]
    assert all(t.is_file() for t in thumbs)
    assert trash.empty_trash(settings, photo_ids=[other.id]) == 1
    assert Photo.get_or_none(Photo.id == other.id) is None
    assert Photo.get_by_id(filed.id).root == "trash"
    assert trash.empty_trash(settings) == 1
    assert Photo.get_or_none(Photo.id == filed.id) is None
    assert not any(t.exists() for t in thumbs)
    assert list(settings.trash.iterdir()) == []


def test_reconcile_finishes_a_move_a_crash_interrupted(settings, filed):
    src = library.photo_file(filed, settings)
    to_dir = settings.trash / filed.sha256
    trash._write_intent(filed, "trash", (filed.root, filed.path), to_dir)
    to_dir.mkdir(parents=True)
    os.link(src, to_dir / src.name)
    src.unlink()  # the crash came after the file moved, before the catalogue said so
    assert trash.reconcile(settings) == 1
    p = Photo.get_by_id(filed.id)
    assert p.root == "trash" and library.photo_file(p, settings).is_file()
    assert p.trashed_from["path"] == "Trips/2024/orientation_3.jpg"
    assert not Meta.select().where(Meta.key.startswith("trash-intent:")).exists()
    trash.restore_photo(p, settings)
    assert library.photo_file(Photo.get_by_id(filed.id), settings) == src


def test_reconcile_rolls_back_a_move_that_never_finished(settings, filed):
    src = library.photo_file(filed, settings)
    to_dir = settings.trash / filed.sha256
    trash._write_intent(filed, "trash", (filed.root, filed.path), to_dir)
    to_dir.mkdir(parents=True)
    os.link(src, to_dir / src.name)  # linked, but the source was never unlinked
    assert trash.reconcile(settings) == 1
    p = Photo.get_by_id(filed.id)
    assert p.root == "library" and src.is_file() and p.trashed_at is None
    assert not to_dir.exists()


def test_cli_trash_put_list_restore_empty(settings, filed, capsys):
    from jaicat.cli.main import main

    d = ["--data-dir", str(settings.data_dir)]
    assert main([*d, "trash", "put", str(filed.id)]) == 0
    assert main([*d, "trash", "list"]) == 0
    assert "orientation_3.jpg" in capsys.readouterr().out
    assert main([*d, "trash", "restore", str(filed.id)]) == 0
    assert Photo.get_by_id(filed.id).root == "library"
    assert main([*d, "trash", "put", str(filed.id)]) == 0
    capsys.readouterr()
    assert main([*d, "trash", "empty"]) == 2  # not a terminal and no --yes: nothing deleted
    assert "--yes" in capsys.readouterr().err
    assert Photo.get_by_id(filed.id).root == "trash"
    assert main([*d, "trash", "empty", "--yes"]) == 0
    assert Photo.get_or_none(Photo.id == filed.id) is None


def test_sending_a_trashed_photo_again_brings_it_back(settings, filed, media_dir):
    """Emptying the trash must not delete a photo the user just sent again: the same bytes, imported or
    announced by the phone, take it out of the trash (back where it was)."""
    from jaicat.photos.uploads import check_known, create_upload

    trash.trash_photo(filed, settings)
    assert check_known([filed.sha256]) == ([], [filed.sha256])  # the phone will send it
    again = ingest_file(media_dir / "exif" / "orientation_3.jpg", settings)
    assert again.duplicate and again.photo.id == filed.id and again.photo.trashed_at is None
    assert Photo.get_by_id(filed.id).folder == "Trips/2024"
    trash.trash_photo(Photo.get_by_id(filed.id), settings)
    up = create_upload(settings, None, "orientation_3.jpg", filed.size, sha256=filed.sha256)
    assert up.error == "duplicate" and Photo.get_by_id(filed.id).root == "library"
    assert trash.empty_trash(settings) == 0
