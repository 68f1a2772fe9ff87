"""Known encodings in and out: the .npy files of the predecessor desktop scripts (faces/*.npy), and enrolling folders of photos."""

from __future__ import annotations

import os

import numpy as np
import pytest

from jaicat.people import known
from jaicat.people import persons as people
from jaicat.db import FaceEncoding, Person, database, open_db
from jaicat.errors import InvalidInput
from jaicat.people.known import parse_npy_name
from fixtures.faces import FACE_MODELS

RNG = np.random.default_rng(11)


def vector(dtype=np.float64):
    return RNG.normal(0, 0.09, 128).astype(dtype)


@pytest.mark.parametrize("filename, name, file_id", [
    ("Amy_H_6414490178700226302.npy", "Amy H", 6414490178700226302),
    ("Becky (1)_607353430504991520.npy", "Becky (1)", 607353430504991520),
    ("Jean-Luc_Picard_2_17.npy", "Jean-Luc Picard 2", 17),
    ("Zoë_5.npy", "Zoë", 5),
])
def test_npy_file_names_give_person_and_id(filename, name, file_id):
    assert parse_npy_name(filename) == (name, file_id)


@pytest.mark.parametrize("filename", ["Amy.npy", "_123.npy", "Amy_H_12a.npy", "Amy_H_123.npz", "Amy_H_.npy"])
def test_file_names_without_a_trailing_id_are_refused(filename):
    with pytest.raises(ValueError):
        parse_npy_name(filename)


@pytest.fixture
def npy_dir(tmp_path):
    d = tmp_path / "npy"
    d.mkdir()
    good = {
        "Amy_H_6414490178700226302.npy": vector(),
        "Amy_H_6414490178700226303.npy": vector(np.float32),
        "Becky (1)_607353430504991520.npy": vector(),
    }
    for name, v in good.items():
        np.save(d / name, v)
    np.save(d / "Wrong_Shape_1.npy", np.zeros((128, 2)) + 0.1)
    np.save(d / "Int_Dtype_2.npy", np.arange(128))
    np.save(d / "Has_NaN_3.npy", np.where(np.arange(128) == 5, np.nan, 0.1))
    np.save(d / "Pickled_4.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "Text_5.npy").write_text("not numpy")
    np.save(d / "noid.npy", vector())
    (d / "README.txt").write_text("ignored: not .npy")
    return d, good


def test_import_reads_npy_files_and_reports_bad_ones_with_reasons(face_settings, npy_dir):
    d, good = npy_dir
    summary = known.import_npy_dir(d)
    assert summary.imported == 3 and summary.duplicates == 0
    assert sorted(summary.new_people) == ["Amy H", "Becky (1)"]
    reasons = dict(summary.rejected)
    assert set(reasons) == {"Wrong_Shape_1.npy", "Int_Dtype_2.npy", "Has_NaN_3.npy", "Pickled_4.npy",
                            "Text_5.npy", "noid.npy"}
    assert "shape" in reasons["Wrong_Shape_1.npy"] and "dtype" in reasons["Int_Dtype_2.npy"]
    assert "NaN" in reasons["Has_NaN_3.npy"] and "<Person_Name>_<id>" in reasons["noid.npy"]
    assert "not a readable .npy" in reasons["Pickled_4.npy"] and "not a readable .npy" in reasons["Text_5.npy"]
    listing = {p["name"]: p["encoding_count"] for p in people.list_people()}
    assert listing == {"Amy H": 2, "Becky (1)": 1}
    stored = FaceEncoding.get(FaceEncoding.origin == "npy:Becky (1)_607353430504991520.npy")
    np.testing.assert_array_equal(np.frombuffer(stored.encoding, "<f4"),
                                  good["Becky (1)_607353430504991520.npy"].astype(np.float32))
    # importing again adds nothing
    again = known.import_npy_dir(d)
    assert again.imported == 0 and again.duplicates == 3 and FaceEncoding.select().count() == 3


def test_import_of_a_missing_folder_is_invalid_input(face_settings, tmp_path):
    with pytest.raises(InvalidInput):
        known.import_npy_dir(tmp_path / "nope")


def test_export_round_trips_with_stable_names(face_settings, npy_dir, tmp_path):
    d, good = npy_dir
    known.import_npy_dir(d)
    out = tmp_path / "out"
    assert known.export_npy_dir(out) == 3
    # the same ids; spaces are written as "_" (the desktop scripts' files had both forms), no temp files left
    exported = {name.replace(" ", "_"): v for name, v in good.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(exported)
    for name, v in exported.items():
        back = np.load(out / name)
        assert back.dtype == np.float64 and back.shape == (128,)
        np.testing.assert_allclose(back, v, rtol=1e-6)
    # a catalogue built from the export exports the same files again
    database.close()
    open_db(tmp_path / "other" / "jaicat.db")
    assert known.import_npy_dir(out).imported == 3
    out2 = tmp_path / "out2"
    known.export_npy_dir(out2)
    assert sorted(p.name for p in out2.iterdir()) == sorted(exported)
    assert {p["name"] for p in people.list_people()} == {"Amy H", "Becky (1)"}


def test_export_ids_are_stable_for_enrolled_and_confirmed_encodings_and_follow_renames(face_settings, tmp_path):
    person = Person.create(name="Dan O")
    FaceEncoding.create(person=person, encoding=vector(np.float32).tobytes(), origin="face:12")
    out = tmp_path / "out"
    known.export_npy_dir(out)
    first = [p.name for p in out.iterdir()]
    assert len(first) == 1 and first[0].startswith("Dan_O_")
    known.export_npy_dir(out)
    assert [p.name for p in out.iterdir()] == first
    people.rename_person("Dan O", "Daniel")
    known.export_npy_dir(out)
    file_id = parse_npy_name(first[0])[1]
    assert [p.name for p in out.iterdir()] == [f"Daniel_{file_id}.npy"]  # the stale name is gone


def test_export_into_a_file_path_is_invalid_input(face_settings, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidInput):
        known.export_npy_dir(tmp_path / "f")


def test_enroll_learns_one_person_per_folder_and_skips_photos_it_cannot_use(
        tmp_path, face_settings, face_media, media_dir, cached_detection):
    root = tmp_path / "Pictures"
    (root / "Kit_Harington").mkdir(parents=True)
    (root / "Barack Obama").mkdir()
    (root / ".hidden").mkdir()
    for f in face_media["Kit_Harington"][:2]:
        os.symlink(f, root / "Kit_Harington" / f.name)
    os.symlink(face_media["Barack_Obama"][0], root / "Barack Obama" / "1.jpg")
    os.symlink(media_dir / "exif/orientation_1.jpg", root / "Barack Obama" / "no_face.jpg")
    os.symlink(media_dir / "faces_groups/kit_with_rose.jpg", root / "Barack Obama" / "group.jpg")
    (root / "Barack Obama" / "notes.txt").write_text("not a photo")
    # Obama with a small bystander: the dominant face is taken

    from fixtures.faces import load_face_image
    obama, biden = load_face_image(face_media["Barack_Obama"][1]), load_face_image(face_media["Joe_Biden"][0])
    biden.thumbnail((obama.width // 2, obama.height // 2))
    obama.paste(biden, (0, obama.height - biden.height))
    assert len(people.faces_ml.detect_faces(np.asarray(obama), max_side=face_settings.face_max_side, models=FACE_MODELS)) == 2
    obama.save(root / "Barack Obama" / "with_bystander.png")
    seen = []
    summary = known.enroll_folder(root, face_settings, progress=lambda *a: seen.append(a), models=FACE_MODELS)
    assert summary.people == ["Barack Obama", "Kit Harington"]
    assert summary.added == 4
    reasons = {os.path.basename(p): r for p, r in summary.rejected}
    assert reasons == {"no_face.jpg": "no face found",
                       "group.jpg": "2 faces of similar size; cannot tell which one is the person"}
    assert [s[:2] for s in seen] == [(i, 6) for i in range(1, 7)]
    assert {p["name"]: p["encoding_count"] for p in people.list_people()} == {"Barack Obama": 2, "Kit Harington": 2}
    pasted = FaceEncoding.get(FaceEncoding.origin == "enroll:Barack Obama/with_bystander.png")
    assert np.linalg.norm(np.frombuffer(pasted.encoding, "<f4") - people.faces_ml.detect_faces(
        np.asarray(load_face_image(face_media["Barack_Obama"][1])), max_side=1024, models=FACE_MODELS)[0].encoding) < 0.3
    # an enrolled person is recognised on another photo
    kit = media_dir / "faces/Kit_Harington/3.jpg"
    assert people.current_matcher().match(
        people.faces_ml.detect_faces(np.asarray(load_face_image(kit)), max_side=face_settings.face_max_side, models=FACE_MODELS)[0].encoding
    ).person_id == Person.get(Person.name == "Kit Harington").id
    again = known.enroll_folder(root, face_settings, models=FACE_MODELS)
    assert again.added == 0 and again.already == 4 and FaceEncoding.select().count() == 4


def test_enroll_needs_person_subfolders_with_photos(face_settings, tmp_path, media_dir):
    (tmp_path / "flat").mkdir()
    os.symlink(media_dir / "faces/Kit_Harington/1.jpg", tmp_path / "flat" / "kit.jpg")
    with pytest.raises(InvalidInput, match="person subfolders"):
        known.enroll_folder(tmp_path / "flat", face_settings, models=FACE_MODELS)
    with pytest.raises(InvalidInput, match="not a folder"):
        known.enroll_folder(tmp_path / "missing", face_settings, models=FACE_MODELS)


def test_ids_are_per_person_and_renamed_people_are_not_imported_twice(face_settings, tmp_path):
    d = tmp_path / "two_exports"
    d.mkdir()
    np.save(d / "Amy_H_2.npy", vector())
    np.save(d / "Ben_2.npy", vector())
    assert known.import_npy_dir(d).imported == 2
    people.rename_person("Amy H", "Amy Hill")
    again = known.import_npy_dir(d)
    assert (again.imported, again.duplicates) == (0, 2)
    out = tmp_path / "out"
    assert known.export_npy_dir(out) == 2
    assert sorted(p.name for p in out.iterdir()) == ["Amy_Hill_2.npy", "Ben_2.npy"]
