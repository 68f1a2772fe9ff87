"""The suggester inside Jaicat: learns from filing, survives restarts, resets, imports, explains."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import shutil
import subprocess
import sys

import pytest

from jaicat import events
from jaicat.photos import library
from jaicat.cli.main import main
from jaicat.db import Photo, PhotoTag, Tag
from jaicat.photos.ingest import ingest_file
from jaicat.suggest.service import Suggester


@pytest.fixture
def start(settings):
    """Start a suggester as `jaicat serve` does (connected to filing); all are closed at the end."""
    made = []

    def start_one() -> Suggester:
        made.append(Suggester(settings).connect())
        return made[-1]

    yield start_one
    for s in made:
        s.close()


@pytest.fixture
def photos(settings, media_dir):
    """Eight photos taken on different days (the test media share one EXIF time and place)."""
    out = []
    for i in range(1, 9):
        p = ingest_file(media_dir / "exif" / f"orientation_{i}.jpg", settings).photo
        p.taken_at = dt.datetime(2024, i, 10, 12, 0)
        p.gps_lat = p.gps_lon = None
        p.save()
        out.append(p)
    return out


def tag(photo, **scores):
    for name, score in scores.items():
        PhotoTag.create(photo=photo, tag=Tag.named(name), source="clip", score=score)
    return Photo.get_by_id(photo.id)


def restart(old: Suggester, start) -> Suggester:
    """What a restart does: a new suggester; the old one's process died without saving."""
    old.disconnect()
    old.save_now = lambda: None
    return start()


def test_filing_teaches_the_next_suggestion(settings, photos, start):
    suggester = start()
    suggester.connect()  # idempotent: each decision is learned once
    cat1, cat2, cat3, rec1, rec2 = (tag(photos[0], cat=0.9), tag(photos[1], cat=0.8), tag(photos[2], cat=0.85),
                                    tag(photos[3], receipt=0.9), tag(photos[4], receipt=0.8))
    assert suggester.suggest_for_photo(cat3) == []  # nothing learned, no tree: nothing made up
    library.file_photo(cat1, "Pets/Milo", settings)
    library.file_photo(rec1, "Receipts", settings)
    library.file_photo(cat2, "Pets/Milo", settings, action="accept")
    sugg = suggester.suggest_for_photo(cat3)
    assert sugg[0]["folder"] == "Pets/Milo" and 0 < sugg[0]["score"] <= 1 and sugg[0]["reason"]
    assert suggester.suggest_for_photo(rec2, k=1)[0]["folder"] == "Receipts"
    # undo unlearns: the latest decision (cat2 into Pets/Milo) no longer counts
    eng = suggester.engine()
    assert eng.history_size == 3
    library.undo(settings)
    assert eng.history_size == 2 and eng.raw[eng.index["Pets/Milo"]] == 1


def test_after_analysis_stores_marks_and_announces(settings, photos, start):
    suggester = start()
    library.file_photo(tag(photos[0], beach=0.9), "Holidays", settings)
    p = tag(photos[1], beach=0.8)
    hub = events.Hub()
    q = hub.subscribe()
    try:
        sugg = suggester.suggest_after_analysis(p)
        ev = q.get(timeout=1)
        while ev["type"] != "suggestion.ready":
            ev = q.get(timeout=1)
    except queue.Empty:
        pytest.fail("no suggestion.ready event")
    finally:
        hub.unsubscribe(q)
    p = Photo.get_by_id(p.id)
    assert p.status == "suggested" and p.suggestions == sugg and sugg[0]["folder"] == "Holidays"
    assert ev["photo_id"] == p.id and ev["suggestions"] == sugg
    assert ev["thumb_url"] == f"/api/photos/{p.id}/thumb?size=256"
    filed = Photo.get_by_id(photos[0].id)
    suggester.suggest_after_analysis(filed)
    assert Photo.get_by_id(filed.id).status == "filed"  # only inbox photos become "suggested"


def test_restart_loads_the_snapshot_and_catches_up(settings, photos, start):
    suggester = start()
    cats = [tag(p, cat=0.9) for p in photos[:3]]
    dog = tag(photos[3], dog=0.9)
    library.file_photo(cats[0], "Pets", settings)
    suggester.save_now()
    assert (settings.data_dir / "suggest" / "engine.pkl").is_file()
    library.file_photo(dog, "Dogs", settings)  # after the snapshot
    suggester = restart(suggester, start)
    assert suggester.engine().history_size == 2  # snapshot + the decision made after it
    assert suggester.suggest_for_photo(cats[1])[0]["folder"] == "Pets"
    # no snapshot at all: rebuilt from the filed photos
    shutil.rmtree(settings.data_dir / "suggest")
    suggester = restart(suggester, start)
    assert suggester.engine().history_size == 2


def test_a_new_folder_is_offered_at_once(settings, photos, start):
    suggester = start()
    library.file_photo(tag(photos[0], dog=0.9), "Misc", settings)
    library.create_folder(settings, "Dog walks")
    names = [s["folder"] for s in suggester.suggest_for_photo(tag(photos[1], dog=0.9))]
    assert "Dog walks" in names


def test_reset_forgets_and_stays_reset_after_a_rebuild(settings, photos, start):
    suggester = start()
    for p in photos[:2]:
        library.file_photo(tag(p, cat=0.9), "Pets", settings)
    probe = tag(photos[2], cat=0.9)
    assert suggester.suggest_for_photo(probe)
    suggester.reset_learning()
    assert suggester.suggest_for_photo(probe) == []
    shutil.rmtree(settings.data_dir / "suggest")
    suggester = restart(suggester, start)
    assert suggester.suggest_for_photo(probe) == []
    library.file_photo(tag(photos[3], cat=0.9), "Cats", settings)  # learning goes on after a reset
    assert suggester.suggest_for_photo(probe)[0]["folder"] == "Cats"


def test_learn_library_relearns_the_tree_and_uncatalogued_files(settings, photos, full_media_dir, start):
    suggester = start()
    for p in photos[:2]:
        library.file_photo(tag(p, cat=0.9), "Pets", settings)
    suggester.reset_learning()
    old = settings.library / "Old phone" / "2019"
    old.mkdir(parents=True)
    shutil.copy(full_media_dir / "exif_real" / "Landscape_0.jpg", old / "x.jpg")
    (old / "notes.txt").write_text("not a photo")
    assert suggester.learn_library() == 3
    assert suggester.suggest_for_photo(tag(photos[2], cat=0.9))[0]["folder"] == "Pets"
    assert "Old phone/2019" in suggester.engine().known_folders()


def test_rename_moves_history(settings, photos, start):
    suggester = start()
    library.file_photo(tag(photos[0], cat=0.9), "Pets", settings)
    assert library.rename_folder(settings, "Pets", "Animals/Pets") == 1
    assert suggester.suggest_for_photo(tag(photos[1], cat=0.9))[0]["folder"] == "Animals/Pets"
    assert suggester.serial == (1, 1, 0)  # one decision, one rename, no person change: its place in the logs


def test_an_older_snapshot_never_reverts_a_rename(settings, photos, start):
    server = start()
    library.file_photo(tag(photos[0], cat=0.9), "Pets", settings)
    server.save_now()  # the snapshot knows "Pets"
    other = Suggester(settings)  # another process (a command) loads that snapshot...
    other.engine()
    library.file_photo(tag(photos[1], dog=0.9), "Dogs", settings)  # ...then the server goes on
    library.rename_folder(settings, "Pets", "Animals/Pets")
    server.save_now()
    assert server.snapshot_serial() == (2, 1, 0)

    other._dirty = 1  # it learned something of its own meanwhile and saves at exit
    other.save_now()
    assert server.snapshot_serial() == (2, 1, 0)  # refused: the snapshot on disk is further along
    cat = tag(photos[2], cat=0.9)
    assert other.suggest_for_photo(cat)[0]["folder"] == "Animals/Pets"  # it reloads and follows
    assert "Pets" not in {s["folder"] for s in server.suggest_for_photo(cat)}

    # a snapshot written before the rename (a crash, an old backup) is corrected from the rename log
    (settings.data_dir / "suggest" / "engine.pkl").unlink()
    stale = Suggester(settings)
    stale.engine()  # a rebuild: the tree as it is now
    assert stale.suggest_for_photo(cat)[0]["folder"] == "Animals/Pets"


def test_a_command_beside_the_server_is_a_guest(settings):
    from jaicat.errors import DataDirInUse
    from jaicat.runtime import Runtime

    serving = Runtime(settings)
    serving.lock.serve()
    try:
        command = Runtime(settings).open()
        assert command.lock.role == "guest" and command.suggester.read_only
        command.close()
        with pytest.raises(DataDirInUse, match="jaicat serve, pid"):
            Runtime(settings).lock.serve(wait=0)
    finally:
        serving.lock.release()
    alone = Runtime(settings).open()
    assert alone.lock.role == "command" and not alone.suggester.read_only
    with pytest.raises(DataDirInUse):
        Runtime(settings).lock.serve(wait=0)  # a command is running
    alone.close()


def test_cli_reset_import_and_show(settings, photos, capsys, tmp_path):
    data = ["--data-dir", str(settings.data_dir)]
    log = tmp_path / "tag_learning_log.json"
    log.write_text(json.dumps([{"image": f"{i}.jpg", "tags": ["receipt"], "folder": "Receipts", "x": 1}
                               for i in range(3)]))
    assert main(data + ["suggest", "import-log", str(log)]) == 0
    assert "imported 3" in capsys.readouterr().out
    p = tag(photos[0], receipt=0.9)
    assert main(data + ["suggest", "show", str(p.id)]) == 0
    assert "Receipts" in capsys.readouterr().out
    assert main(data + ["suggest", "show", str(p.id)]) == 0
    assert "Receipts" in capsys.readouterr().out
    assert main(data + ["suggest", "reset"]) == 0
    capsys.readouterr()
    assert main(data + ["suggest", "show", str(p.id)]) == 0
    assert "no suggestion" in capsys.readouterr().out
    assert main(data + ["suggest", "learn-library"]) == 0
    assert "learned 0" in capsys.readouterr().out
    assert main(data + ["suggest", "show", "99999"]) == 2


def test_a_skip_lowers_the_confidence_but_not_the_ranking(settings, photos, start):
    suggester = start()
    for p in photos[:3]:
        library.file_photo(tag(p, cat=0.9), "Pets", settings)
    library.file_photo(tag(photos[3], car=0.9), "Cars", settings)
    probe = tag(photos[4], cat=0.9)
    before = suggester.suggest_for_photo(probe)
    library.skip_photo(tag(photos[5], cat=0.9), settings, suggested=before)
    after = suggester.suggest_for_photo(probe)
    assert [s["folder"] for s in after] == [s["folder"] for s in before]
    assert after[0]["score"] < before[0]["score"]


def test_the_server_sees_what_other_processes_did(settings, photos, start):
    """`jaicat file` in another process and `jaicat suggest reset` while the server runs."""
    suggester = start()
    library.file_photo(tag(photos[0], cat=0.9), "Pets", settings)
    probe = tag(photos[1], cat=0.9)
    assert suggester.suggest_for_photo(probe)[0]["folder"] == "Pets"
    suggester.disconnect()  # the hook is silent: as if another process filed this
    library.file_photo(tag(photos[2], car=0.9), "Cars", settings)
    assert suggester.suggest_for_photo(tag(photos[3], car=0.9))[0]["folder"] == "Cars"
    env = {**os.environ, "JAICAT_DATA_DIR": str(settings.data_dir)}
    subprocess.run([sys.executable, "-m", "jaicat", "suggest", "reset"], env=env, check=True,
                   capture_output=True, timeout=120)
    assert suggester.suggest_for_photo(probe) == []


def _canon_jpeg(path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D"  # Make, Model: the model repeats the make
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (120, 80, 40)).save(path, exif=exif)
    return path


def test_learn_library_teaches_the_camera_label_new_photos_carry(settings, tmp_path, start):
    from jaicat.suggest.engine import SuggestEngine
    from jaicat.suggest.catalogue import features_for_photo

    _canon_jpeg(settings.library / "Canon days" / "old.jpg")  # in the library, not catalogued
    suggester = start()
    assert suggester.learn_library() == 1
    new = ingest_file(_canon_jpeg(tmp_path / "new.jpg"), settings).photo
    cams = [t for t in SuggestEngine.tokens(features_for_photo(new))["meta"] if t.startswith("cam:")]
    assert cams == ["cam:canon eos 5d"]
    assert suggester.engine().tables["meta"].rows[cams[0]].raw_total >= 1


def test_imported_logs_are_kept_and_older_log_folders_still_read(settings, photos, start, tmp_path):
    log = tmp_path / "tag_learning_log.json"
    log.write_text(json.dumps([{"image": f"{i}.jpg", "tags": ["receipt"], "folder": "Receipts"} for i in range(3)]))
    assert start().import_learning_log(log) == 3
    kept = settings.data_dir / "suggest" / "learning-logs"
    assert [p.name.split("-", 1)[1] for p in kept.glob("*.json")] == ["tag_learning_log.json"]
    # logs imported by an older version sit in seed-logs/: a rebuild learns them too
    (settings.data_dir / "suggest" / "seed-logs").mkdir()
    log.write_text(json.dumps([{"image": "b.jpg", "tags": ["boat"], "folder": "Boats"}]))
    shutil.copy(log, settings.data_dir / "suggest" / "seed-logs" / "1-tag_learning_log.json")
    (settings.data_dir / "suggest" / "engine.pkl").unlink()
    fresh = start()
    assert fresh.suggest_for_photo(tag(photos[0], boat=0.9))[0]["folder"] == "Boats"
    assert fresh.suggest_for_photo(tag(photos[1], receipt=0.9))[0]["folder"] == "Receipts"


# --- people: lessons are keyed by person id, so they follow a rename and a merge --------------------
def with_face(photo, person):
    """The photo shows `person` (a face as recognition stores it)."""
    from jaicat.db import Face

    Face.create(photo=photo, x=0.3, y=0.2, w=0.3, h=0.4, encoding=bytes(512), person=person, distance=0.3)
    return Photo.get_by_id(photo.id)


@pytest.fixture
def two_people(settings, photos):
    """Amy's photos were filed in Garden and Ben's in Beach (folders not named after them, and no
    tags: only the people say where a photo goes). Returns (amy, ben)."""
    from jaicat.db import Person

    amy, ben = Person.create(name="Amy"), Person.create(name="Ben")
    for p, person, folder in ((photos[0], amy, "Garden"), (photos[1], ben, "Beach"),
                              (photos[2], amy, "Garden"), (photos[3], ben, "Beach")):
        library.file_photo(with_face(p, person), folder, settings)
    return amy, ben


def test_a_renamed_person_keeps_their_folder(settings, photos, two_people, start):
    from jaicat.people import persons

    suggester = start()
    suggester.engine()  # it has learned where Amy's photos go
    amy, _ = two_people
    persons.rename_person(amy.id, "Amelia")
    top = suggester.suggest_for_photo(with_face(photos[4], amy))[0]
    assert top["folder"] == "Garden" and "Amelia" in top["reason"]
    assert suggester.serial == (4, 0, 1)  # the rename has its place in the logs


def test_a_merged_person_brings_their_folder(settings, photos, two_people, start):
    from jaicat.db import Person
    from jaicat.people import persons

    suggester = start()
    suggester.engine()  # it has learned where Amy's photos go
    amy, _ = two_people
    amelia = Person.create(name="Amelia")  # recognised as someone new, then merged
    persons.merge_people(amy.id, amelia.id)
    assert suggester.suggest_for_photo(with_face(photos[4], amelia))[0]["folder"] == "Garden"
    from jaicat.db import Decision

    # undoing a filing learned before the merge takes its lesson from the person Amy became part of
    library.undo(settings, Decision.get(Decision.photo == photos[2].id).id)
    eng = suggester.engine()
    assert eng.tables["people"].rows[f"#{amelia.id}"].raw_for(eng.index["Garden"]) == 1
    assert f"#{amy.id}" not in eng.tables["people"].rows


def test_a_snapshot_from_before_a_merge_is_corrected_and_never_saved_over_a_newer_one(
        settings, photos, two_people, start):
    from jaicat.db import Person
    from jaicat.people import persons

    server = start()
    amy, _ = two_people
    server.engine()  # built from the catalogue, and saved
    snapshot = settings.data_dir / "suggest" / "engine.pkl"
    before = snapshot.read_bytes()  # a snapshot made before the merge (a crash, an old backup)
    other = Suggester(settings)  # another process (a command) loads it...
    other.engine()
    amelia = Person.create(name="Amelia")
    persons.merge_people(amy.id, amelia.id)  # ...then the server merges (it follows live)
    server._dirty = 1
    server.save_now()
    assert server.snapshot_serial() == (4, 0, 1)
    other._dirty = 1  # the command learned something of its own and saves at exit
    other.save_now()
    assert server.snapshot_serial() == (4, 0, 1)  # refused: the snapshot on disk is further along
    probe = with_face(photos[4], amelia)
    assert other.suggest_for_photo(probe)[0]["folder"] == "Garden"  # it reloads and follows

    snapshot.write_bytes(before)  # the old snapshot comes back: the log brings it up to date
    restarted = restart(server, start)
    assert restarted.suggest_for_photo(probe)[0]["folder"] == "Garden"
    assert restarted.serial == (4, 0, 1)


def test_a_snapshot_that_knew_people_by_name_is_keyed_by_id_when_loaded(settings, photos, two_people, start):
    """Snapshots written before lessons were keyed by person id hold people's names."""
    import pickle

    from jaicat.people import persons

    suggester = start()
    amy, ben = two_people
    eng = suggester.engine()
    for person in (amy, ben):  # what an older version learned: the name as the token
        eng.tables["people"].merge_token(f"#{person.id}", person.name.lower())
    for *_, rec, _step in eng.learned.values():
        rec.person_ids = []
    snapshot = settings.data_dir / "suggest" / "engine.pkl"
    with snapshot.open("wb") as fh:
        pickle.dump({"serial": [4, 0]}, fh)
        pickle.dump({"engine": eng.to_bytes(), "last_decision": 4, "undone": [], "last_folder": 2,
                     "last_rename": 0}, fh)
    loaded = restart(suggester, start)
    assert loaded.snapshot_serial() == (4, 0, 0)
    persons.rename_person(amy.id, "Amelia")
    assert loaded.suggest_for_photo(with_face(photos[4], amy))[0]["folder"] == "Garden"
    assert "amy" not in loaded.engine().tables["people"].rows
