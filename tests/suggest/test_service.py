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
from jaicat.suggest import service


@pytest.fixture(autouse=True)
def fresh_service():
    service._state.update(engine=None, data_dir=None, settings=None)
    yield
    service._state.update(engine=None, data_dir=None, settings=None)


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


def forget_process():
    """What a restart does to the in-memory engine (without saving it first)."""
    service._state.update(engine=None, data_dir=None)


def test_filing_teaches_the_next_suggestion(settings, photos):
    service.install(settings)
    service.install(settings)  # idempotent
    cat1, cat2, cat3, rec1, rec2 = (tag(photos[0], cat=0.9), tag(photos[1], cat=0.8), tag(photos[2], cat=0.85),
                                    tag(photos[3], receipt=0.9), tag(photos[4], receipt=0.8))
    assert service.suggest_for_photo(cat3, settings) == []  # nothing learned, no tree: nothing made up
    library.file_photo(cat1, "Pets/Milo", settings)
    library.file_photo(rec1, "Receipts", settings)
    library.file_photo(cat2, "Pets/Milo", settings, action="accept")
    sugg = service.suggest_for_photo(cat3, settings)
    assert sugg[0]["folder"] == "Pets/Milo" and 0 < sugg[0]["score"] <= 1 and sugg[0]["reason"]
    assert service.suggest_for_photo(rec2, settings, k=1)[0]["folder"] == "Receipts"
    # undo unlearns: the latest decision (cat2 into Pets/Milo) no longer counts
    eng = service.engine(settings)
    assert eng.history_size == 3
    library.undo(settings)
    assert eng.history_size == 2 and eng.raw[eng.index["Pets/Milo"]] == 1


def test_after_analysis_stores_marks_and_announces(settings, photos):
    service.install(settings)
    library.file_photo(tag(photos[0], beach=0.9), "Holidays", settings)
    p = tag(photos[1], beach=0.8)
    q = events.subscribe()
    try:
        sugg = service.suggest_after_analysis(p, settings)
        ev = q.get(timeout=1)
        while ev["type"] != "suggestion.ready":
            ev = q.get(timeout=1)
    except queue.Empty:
        pytest.fail("no suggestion.ready event")
    finally:
        events.unsubscribe(q)
    p = Photo.get_by_id(p.id)
    assert p.status == "suggested" and p.suggestions == sugg and sugg[0]["folder"] == "Holidays"
    assert ev["photo_id"] == p.id and ev["suggestions"] == sugg
    assert ev["thumb_url"] == f"/api/photos/{p.id}/thumb?size=256"
    filed = Photo.get_by_id(photos[0].id)
    service.suggest_after_analysis(filed, settings)
    assert Photo.get_by_id(filed.id).status == "filed"  # only inbox photos become "suggested"


def test_restart_loads_the_snapshot_and_catches_up(settings, photos):
    service.install(settings)
    cats = [tag(p, cat=0.9) for p in photos[:3]]
    dog = tag(photos[3], dog=0.9)
    library.file_photo(cats[0], "Pets", settings)
    service.save_now()
    assert (settings.data_dir / "suggest" / "engine.pkl").is_file()
    library.file_photo(dog, "Dogs", settings)  # after the snapshot
    forget_process()
    assert service.engine(settings).history_size == 2  # snapshot + the decision made after it
    assert service.suggest_for_photo(cats[1], settings)[0]["folder"] == "Pets"
    # no snapshot at all: rebuilt from the filed photos
    shutil.rmtree(settings.data_dir / "suggest")
    forget_process()
    assert service.engine(settings).history_size == 2


def test_a_new_folder_is_offered_at_once(settings, photos):
    service.install(settings)
    library.file_photo(tag(photos[0], dog=0.9), "Misc", settings)
    library.create_folder(settings, "Dog walks")
    names = [s["folder"] for s in service.suggest_for_photo(tag(photos[1], dog=0.9), settings)]
    assert "Dog walks" in names


def test_reset_forgets_and_stays_reset_after_a_rebuild(settings, photos):
    service.install(settings)
    for p in photos[:2]:
        library.file_photo(tag(p, cat=0.9), "Pets", settings)
    probe = tag(photos[2], cat=0.9)
    assert service.suggest_for_photo(probe, settings)
    service.reset_learning(settings)
    assert service.suggest_for_photo(probe, settings) == []
    shutil.rmtree(settings.data_dir / "suggest")
    forget_process()
    assert service.suggest_for_photo(probe, settings) == []
    library.file_photo(tag(photos[3], cat=0.9), "Cats", settings)  # learning goes on after a reset
    assert service.suggest_for_photo(probe, settings)[0]["folder"] == "Cats"


def test_learn_library_relearns_the_tree_and_uncatalogued_files(settings, photos, full_media_dir):
    service.install(settings)
    for p in photos[:2]:
        library.file_photo(tag(p, cat=0.9), "Pets", settings)
    service.reset_learning(settings)
    old = settings.library / "Old phone" / "2019"
    old.mkdir(parents=True)
    shutil.copy(full_media_dir / "exif_real" / "Landscape_0.jpg", old / "x.jpg")
    (old / "notes.txt").write_text("not a photo")
    assert service.learn_library(settings) == 3
    assert service.suggest_for_photo(tag(photos[2], cat=0.9), settings)[0]["folder"] == "Pets"
    assert "Old phone/2019" in service.engine(settings).known_folders()


def test_rename_moves_history(settings, photos):
    service.install(settings)
    library.file_photo(tag(photos[0], cat=0.9), "Pets", settings)
    assert service.rename_folder("Pets", "Animals/Pets", settings) == 1
    assert service.suggest_for_photo(tag(photos[1], cat=0.9), settings)[0]["folder"] == "Animals/Pets"


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
    forget_process()  # a new process: the import is in the snapshot
    assert main(data + ["suggest", "show", str(p.id)]) == 0
    assert "Receipts" in capsys.readouterr().out
    assert main(data + ["suggest", "reset"]) == 0
    capsys.readouterr()
    assert main(data + ["suggest", "show", str(p.id)]) == 0
    assert "no suggestion" in capsys.readouterr().out
    assert main(data + ["suggest", "learn-library"]) == 0
    assert "learned 0" in capsys.readouterr().out
    assert main(data + ["suggest", "show", "99999"]) == 2


def test_a_skip_lowers_the_confidence_but_not_the_ranking(settings, photos):
    service.install(settings)
    for p in photos[:3]:
        library.file_photo(tag(p, cat=0.9), "Pets", settings)
    library.file_photo(tag(photos[3], car=0.9), "Cars", settings)
    probe = tag(photos[4], cat=0.9)
    before = service.suggest_for_photo(probe, settings)
    library.skip_photo(tag(photos[5], cat=0.9), settings, suggested=before)
    after = service.suggest_for_photo(probe, settings)
    assert [s["folder"] for s in after] == [s["folder"] for s in before]
    assert after[0]["score"] < before[0]["score"]


def test_the_server_sees_what_other_processes_did(settings, photos):
    """`jaicat file` in another process and `jaicat suggest reset` while the server runs."""
    service.install(settings)
    library.file_photo(tag(photos[0], cat=0.9), "Pets", settings)
    probe = tag(photos[1], cat=0.9)
    assert service.suggest_for_photo(probe, settings)[0]["folder"] == "Pets"
    ours = service._state["settings"]
    service._state["settings"] = None  # the hook is silent: as if another process filed this
    library.file_photo(tag(photos[2], car=0.9), "Cars", settings)
    service._state["settings"] = ours
    assert service.suggest_for_photo(tag(photos[3], car=0.9), settings)[0]["folder"] == "Cars"
    env = {**os.environ, "JAICAT_DATA_DIR": str(settings.data_dir)}
    subprocess.run([sys.executable, "-m", "jaicat", "suggest", "reset"], env=env, check=True,
                   capture_output=True, timeout=120)
    assert service.suggest_for_photo(probe, settings) == []
