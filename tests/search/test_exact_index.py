"""The exact-match step of search reads an FTS5 index (search/exact.py, migrations.py v10): it finds
exactly what the scan it replaced found, and stays in step with every write (tag edits, tag and person
renames, folder renames, moves, trash and restore, faces, deleting a photo); so do the timeline's
month counts and the folder tree's counts."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from jaicat.db import Face, Person, Photo, PhotoTag, Tag, database
from jaicat.migrations import PHOTO_TEXT, fill_photo_text
from jaicat.people import persons
from jaicat.photos import library, tags, trash
from jaicat.search import browse
from jaicat.search.exact import exact_matches
from jaicat.search.query import filtered_photos, parse_query

QUERIES = ["dog", "Dog", "amy h", "amy", "family", "Family/2024", "2024", "grandma candles", "candles grandma",
           "img_001", "img", "jpg", "beach sunset", "a dog on the beach", "élan", "Élan vital", "straße",
           "café", "summer", "Trips", "trips/lake", "lake", "Ben", "birthday cake", "nothing-here", "h",
           "receipt", "kitchen_sink", "kitchen", "sink", "b", "the", "zoë", "Zoë K"]


@pytest.fixture
def catalogue(settings, add_photos):
    """A dozen photos with captions, descriptions, odd file names, folders, tags and people."""
    photos = add_photos(12, names=["img_000.jpg", "IMG_001.JPG", "beach day.jpg", "kitchen_sink.jpg",
                                   "café.jpg", "Élan.png", "x.jpg", "y.jpg", "zoë.jpg", "z.jpg", "w.jpg",
                                   "v.jpg"])
    ids = [p.id for p in photos]
    captions = ["a dog on the beach at sunset", "Grandma blowing out candles", "birthday cake with candles",
                None, "Élan vital in the Straße", "a café terrace", "sunset over the lake", "the dog's ball",
                "dogs playing", None, "receipt from the bakery", "Summer picnic"]
    for i, c in zip(ids, captions, strict=True):
        Photo.update(caption=c).where(Photo.id == i).execute()
    Photo.update(description="Our summer in Trips").where(Photo.id == ids[9]).execute()
    for n, folder in ((0, "Family"), (1, "Family/2024"), (2, "Familyfriends"), (3, "Trips/2019-07 Lake"),
                      (4, "Trips/Lake Garda/Day_1"), (5, "Summer")):
        library.move_photos([Photo.get_by_id(ids[n])], folder, settings, create=True)
    tags.add_tag(ids[0], "dog")
    tags.add_tag(ids[3], "Dog")
    tags.add_tag(ids[4], "dog")
    tags.remove_tag(ids[4], "dog")
    tags.add_tag(ids[6], "beach")
    tags.add_tag(ids[7], "birthday")
    amy, zoe = Person.create(name="Amy H"), Person.create(name="Zoë K")
    Person.create(name="Ben")
    Face.create(photo=ids[3], x=0, y=0, w=0.1, h=0.1, encoding=b"", person=amy)
    Face.create(photo=ids[8], x=0, y=0, w=0.1, h=0.1, encoding=b"", person=zoe)
    Face.create(photo=ids[8], x=0.5, y=0, w=0.1, h=0.1, encoding=b"", person=amy)
    return ids


def _both(text: str, query: str = "") -> tuple[list, list]:
    base = filtered_photos(parse_query(query))
    return exact_matches(text, base), exact_matches(text, base, index=False)


def _assert_same():
    for text in QUERIES:
        indexed, scanned = _both(text)
        assert indexed == scanned, text


def test_index_finds_what_the_scan_finds(catalogue):
    _assert_same()
    assert {i for i, _ in _both("dog")[0]} == {catalogue[0], catalogue[3], catalogue[1 - 1], catalogue[7]}
    assert _both("kitchen_sink")[0] == [(catalogue[3], "words")]
    assert _both("Trips/2019-07 Lake")[0] == [(catalogue[3], "folder")]
    for query in ("tag:dog", "folder:Family", "person:\"Amy H\"", "status:inbox"):
        for text in ("dog", "family", "amy", "candles"):
            indexed, scanned = _both(text, query)
            assert indexed == scanned, (text, query)


def test_index_follows_every_write(settings, catalogue):
    ids = catalogue
    # tag edits
    tags.edit_photo_tags(ids[9], ["Lighthouse", "kitchen"])
    tags.change_tags(ids[0], add=["lighthouse"], remove=["dog"])
    assert {i for i, _ in _both("lighthouse")[0]} == {ids[0], ids[9]}
    # a tag renamed, a tag deleted
    Tag.update(name="Seaside").where(Tag.name == "beach").execute()
    assert [i for i, _ in _both("seaside")[0]] == [ids[6]] and not _both("beach sunset")[0][1:]
    Tag.delete().where(Tag.name == "birthday").execute()
    # people: renamed, a face reassigned, a person forgotten
    persons.rename_person("Amy H", "Amelia H")
    assert {i for i, _ in _both("amelia")[0]} == {ids[3], ids[8]} and not _both("amy h")[0]
    Face.update(person=Person.get(Person.name == "Ben")).where(Face.photo == ids[3]).execute()
    Person.delete().where(Person.name == "Zoë K").execute()
    # captions, folders renamed and photos moved
    Photo.update(caption="a red kite").where(Photo.id == ids[11]).execute()
    library.rename_folder(settings, "Trips", "Holidays")
    library.move_photos([Photo.get_by_id(ids[0])], "Holidays/Kite", settings, create=True)
    assert {i for i, _ in _both("holidays")[0]} == {ids[0], ids[3], ids[4]} and not _both("trips/lake")[0]
    # the trash and back
    trash.trash_photo(Photo.get_by_id(ids[1]), settings)
    assert ids[1] not in {i for i, _ in _both("candles")[0]}
    trash.restore_photo(Photo.get_by_id(ids[1]), settings)
    assert ids[1] in {i for i, _ in _both("candles")[0]} and ids[1] in {i for i, _ in _both("2024")[0]}
    # a photo deleted for good
    Photo.delete().where(Photo.id == ids[10]).execute()
    assert not _both("bakery")[0]
    _assert_same()
    # and the rows themselves are what a rebuild from the catalogue writes
    before = database.execute_sql(f"SELECT rowid, * FROM {PHOTO_TEXT} ORDER BY rowid").fetchall()
    fill_photo_text(database)
    assert database.execute_sql(f"SELECT rowid, * FROM {PHOTO_TEXT} ORDER BY rowid").fetchall() == before
    assert PhotoTag.select().count() > 0
    # the timeline's months and the folder tree's counts, kept by triggers, are what counting gives
    def counted():  # by capture date; a file's modification time is none (undated)
        months = Counter(p.captured_at.strftime("%Y-%m") if p.captured_at else None for p in Photo.live())
        undated = months.pop(None, 0)
        return [{"month": m, "count": n} for m, n in sorted(months.items(), reverse=True)], undated
    assert browse.months() == counted()
    trash.trash_photo(Photo.get_by_id(ids[3]), settings)
    assert counted()[1] == 10  # every photo is dated only by its file (ingested without EXIF)
    Photo.update(taken_at=dt.datetime(1999, 5, 1), date_source="exif:DateTimeOriginal").where(Photo.id == ids[4]).execute()
    Photo.update(taken_at=dt.datetime(1998, 5, 1)).where(Photo.id == ids[5]).execute()
    assert browse.months() == counted() and counted()[0] == [{"month": "1999-05", "count": 1}]
    Photo.update(date_source="exif:DateTimeOriginal").where(Photo.id == ids[5]).execute()
    assert browse.months() == counted() and counted()[0][-1] == {"month": "1998-05", "count": 1}
    folders = {}
    for (path,) in Photo.select(Photo.path).where(Photo.root == "library").tuples():
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        folders[parent] = folders.get(parent, 0) + 1

    def tree_counts(node, out):
        if node["count"]:
            out[node["path"]] = node["count"]
        for child in node["children"]:
            tree_counts(child, out)
        return out

    assert tree_counts(library.folder_tree(settings), {}) == folders and "Holidays/Kite" in folders
