"""A catalogue made by an older Jaicat is upgraded in place without losing anything."""

from __future__ import annotations

import sqlite3

import pytest

from jaicat import migrations
from jaicat.db import Photo, database, open_db


def _make_v1_catalogue(path):
    """Build a catalogue as version 1 wrote it: the current schema minus the photo columns of v2 and later."""
    open_db(path)
    database.close()
    con = sqlite3.connect(path)
    # v10 (the search index, month and folder counts, browse indexes): triggers and indexes first
    for kind, name in con.execute("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'index') "
                                  "AND sql IS NOT NULL").fetchall():
        if kind == "trigger" or name in ("photo_when", "photo_captured", "photo_root_path", "photo_place",
                                         "phototag_tag_removed",
                                         "face_person_photo", "face_cover"):
            con.execute(f'DROP {kind.upper()} "{name}"')
    for table in ("phototext", "photomonth", "photofolder"):
        con.execute(f"DROP TABLE {table}")
    for col in ("caption", "embedding", "analysed_at", "analysis_error", "suggestions"):
        con.execute(f"ALTER TABLE photo DROP COLUMN {col}")
    # v4 (videos, Live Photos, date source, description); SQLite cannot drop live_of_id, a foreign key
    con.execute("DROP INDEX photo_live_id")
    for col in ("media", "duration", "taken_offset", "date_source", "description", "live_id"):
        con.execute(f"ALTER TABLE photo DROP COLUMN {col}")
    # v6 (favourites, trash)
    for col in ("favourite", "trashed_at"):
        con.execute(f"DROP INDEX photo_{col}")
    for col in ("favourite", "trashed_at", "trashed_from"):
        con.execute(f"ALTER TABLE photo DROP COLUMN {col}")
    con.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    con.execute(
        "INSERT INTO photo (sha256, phash, original_filename, size, mime, width, height, orientation,"
        " status, root, path, created_at) VALUES ('ab'||hex(randomblob(31)), '0000000000000000',"
        " 'IMG_1.jpg', 10, 'image/jpeg', 4, 3, 1, 'filed', 'library', 'Family/IMG_1.jpg', '2024-01-01')"
    )
    con.commit()
    con.close()


def test_v1_catalogue_is_upgraded_and_keeps_its_rows(tmp_path):
    db = tmp_path / "old.db"
    _make_v1_catalogue(db)
    cols = {r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(photo)")}
    assert "caption" not in cols
    open_db(db)
    try:
        assert migrations.schema_version(database) == migrations.LATEST
        p = Photo.get()
        assert p.original_filename == "IMG_1.jpg" and p.folder == "Family"
        p.caption = "a dog on a beach"
        p.save()
        assert Photo.get().caption == "a dog on a beach"
        assert (p.media, p.live_of_id, p.description) == ("photo", None, None)  # v4 defaults for old rows
        assert [r[2] for r in database.execute_sql("PRAGMA index_info(photo_live_id)")] == ["live_id"]
    finally:
        database.close()


def test_a_newer_catalogue_is_refused_not_damaged(tmp_path):
    db = tmp_path / "new.db"
    open_db(db)
    database.close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(RuntimeError, match="newer"):
        open_db(db)
    database.close()
    assert sqlite3.connect(db).execute("SELECT value FROM meta").fetchone()[0] == "999"


def test_v7_catalogue_gets_the_caption_pass_column_and_keeps_captions(tmp_path):
    """v8: photos captioned before are done; analysed photos without a caption join the caption queue."""
    db = tmp_path / "v7.db"
    open_db(db)
    database.close()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE photo DROP COLUMN captioned_at")
    con.execute("UPDATE meta SET value='7' WHERE key='schema_version'")  # the version before v8
    for i, caption in enumerate(("a dog on a beach", None)):
        con.execute(
            "INSERT INTO photo (sha256, phash, original_filename, size, mime, width, height, orientation,"
            " status, root, path, created_at, caption, analysed_at, favourite) VALUES (?, '0000000000000000', ?, 10,"
            " 'image/jpeg', 4, 3, 1, 'suggested', 'inbox', ?, '2024-01-01', ?, '2024-01-02', 0)",
            (f"{i:064x}", f"IMG_{i}.jpg", f"IMG_{i}.jpg", caption))
    con.commit()
    con.close()
    open_db(db)
    try:
        assert migrations.schema_version(database) == migrations.LATEST
        done, todo = Photo.select().order_by(Photo.id)
        assert done.caption == "a dog on a beach" and done.captioned_at is not None
        assert todo.captioned_at is None
        assert [p.id for p in Photo.caption_pending()] == [todo.id]
    finally:
        database.close()


def test_v5_adds_face_passes_and_people_marks_to_an_older_catalogue(tmp_path):
    """Photos analysed before v5 get faces_pass 0, so the thorough face pass visits them."""
    db = tmp_path / "v4.db"
    open_db(db)
    database.close()
    con = sqlite3.connect(db)
    for table, col in (("photo", "faces_pass"), ("person", "hidden"), ("person", "cover_face"), ("face", "not_face")):
        con.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
    con.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    con.execute(
        "INSERT INTO photo (sha256, phash, original_filename, size, mime, width, height, orientation,"
        " status, root, path, created_at, analysed_at, favourite) VALUES ('cd'||hex(randomblob(31)),"
        " '0000000000000000', 'IMG_2.jpg', 10, 'image/jpeg', 4, 3, 1, 'filed', 'library', 'Family/IMG_2.jpg',"
        " '2024-01-01', '2024-01-02', 0)")
    con.execute("INSERT INTO person (name, created_at) VALUES ('Amy', '2024-01-01')")
    con.commit()
    con.close()
    open_db(db)
    try:
        from jaicat.db import Person
        from jaicat.people.passes import pending_thorough

        assert migrations.schema_version(database) == migrations.LATEST
        assert Photo.get().faces_pass == 0 and [p.original_filename for p in pending_thorough()] == ["IMG_2.jpg"]
        amy = Person.get()
        assert amy.hidden is False and amy.cover_face is None
    finally:
        database.close()


def test_v8_catalogue_gets_the_person_change_log(tmp_path):
    """v9: person renames, merges and forgets are logged, so the suggester's lessons follow people."""
    db = tmp_path / "v8.db"
    open_db(db)
    database.close()
    con = sqlite3.connect(db)
    con.execute("DROP TABLE personchange")
    con.execute("UPDATE meta SET value='8' WHERE key='schema_version'")  # the version before v9
    con.execute("INSERT INTO person (name, created_at, hidden) VALUES ('Amy', '2024-01-01', 0)")
    con.commit()
    con.close()
    open_db(db)
    try:
        from jaicat.db import Person, PersonChange
        from jaicat.people import persons

        assert migrations.schema_version(database) == migrations.LATEST >= 9
        amy = Person.get()
        persons.rename_person(amy.id, "Amelia")
        change = PersonChange.get()
        assert (change.kind, change.person, change.old_name, change.new_name) == ("rename", amy.id, "Amy", "Amelia")
    finally:
        database.close()


def test_v10_catalogue_learns_who_filed_its_photos(tmp_path):
    """v11: photos filed by a decision were filed by the user; other rows say nobody (null)."""
    db = tmp_path / "v10.db"
    open_db(db)
    database.close()
    con = sqlite3.connect(db)
    con.execute("DROP INDEX photo_filed_by")
    con.execute("ALTER TABLE photo DROP COLUMN filed_by")
    con.execute("ALTER TABLE decision DROP COLUMN filed_by")
    con.execute("UPDATE meta SET value='10' WHERE key='schema_version'")  # the version before v11
    for i, (status, root, path) in enumerate((("filed", "library", "Family/IMG_0.jpg"),
                                              ("filed", "library", "Old/IMG_1.jpg"),
                                              ("suggested", "inbox", "IMG_2.jpg"))):
        con.execute(
            "INSERT INTO photo (sha256, phash, original_filename, size, mime, width, height, orientation,"
            " status, root, path, created_at, favourite) VALUES (?, '0000000000000000', ?, 10, 'image/jpeg',"
            " 4, 3, 1, ?, ?, ?, '2024-01-01', 0)", (f"{i:064x}", f"IMG_{i}.jpg", status, root, path))
    con.execute("INSERT INTO decision (photo_id, action, chosen_folder, from_root, from_path, to_root, to_path,"
                " created_at, undone) VALUES (1, 'accept', 'Family', 'inbox', 'IMG_0.jpg', 'library',"
                " 'Family/IMG_0.jpg', '2024-01-02', 0)")
    con.commit()
    con.close()
    open_db(db)
    try:
        from jaicat.db import Decision

        assert migrations.schema_version(database) == migrations.LATEST >= 11
        assert [p.filed_by for p in Photo.select().order_by(Photo.id)] == ["user", None, None]
        assert Decision.get().filed_by is None  # read as the user's
        assert [r[2] for r in database.execute_sql("PRAGMA index_info(photo_filed_by)")] == ["filed_by"]
        assert Photo.select().where(Photo.filed_by == "user").count() == 1
    finally:
        database.close()
