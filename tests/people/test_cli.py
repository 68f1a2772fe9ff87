"""`jaicat faces ...` end to end through the real command line entry point."""

from __future__ import annotations

import json

import numpy as np

from jaicat.cli.main import main

RNG = np.random.default_rng(5)


def run(capsys, data_dir, *argv):
    code = main(["--data-dir", str(data_dir), "faces", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_people_rename_merge_forget_export(tmp_path, capsys):
    npy_dir, data = tmp_path / "npy", tmp_path / "data"
    npy_dir.mkdir()
    np.save(npy_dir / "Amy_H_6414490178700226302.npy", RNG.normal(0, 0.09, 128))
    np.save(npy_dir / "Becky (1)_607353430504991520.npy", RNG.normal(0, 0.09, 128))
    np.save(npy_dir / "Amy_H_2.npy", RNG.normal(0, 0.09, 128))
    np.save(npy_dir / "Broken_3.npy", np.zeros(5))

    code, out, _ = run(capsys, data, "import", str(npy_dir))
    assert code == 0
    assert "skipped Broken_3.npy: shape (5,) is not (128,)" in out
    assert "imported 3, duplicates 0, new people 2, rejected 1" in out

    code, out, _ = run(capsys, data, "people", "--json")
    listing = {p["name"]: p["encoding_count"] for p in json.loads(out)}
    assert listing == {"Amy H": 2, "Becky (1)": 1}

    assert run(capsys, data, "rename", "Becky (1)", "Becky")[:2] == (0, "renamed 'Becky (1)' to 'Becky'\n")
    code, _, err = run(capsys, data, "rename", "Becky", "amy h")
    assert code == 2 and "already a person named 'Amy H'" in err
    assert run(capsys, data, "merge", "Becky", "Amy H")[:2] == (0, "merged 'Becky' into 'Amy H'\n")
    code, out, _ = run(capsys, data, "people")
    assert "Amy H" in out and "Becky" not in out

    out_dir = tmp_path / "export"
    code, out, _ = run(capsys, data, "export", str(out_dir))
    assert code == 0 and "exported 3 encodings" in out
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "Amy_H_2.npy", "Amy_H_607353430504991520.npy", "Amy_H_6414490178700226302.npy"]

    code, out, _ = run(capsys, data, "forget", "Amy H")
    assert code == 0 and "3 encodings removed" in out
    code, _, err = run(capsys, data, "forget", "Amy H")
    assert code == 2 and "no person 'Amy H'" in err
    assert "no people yet" in run(capsys, data, "people")[1]


def test_faces_on_photos_confirm_reject_and_clusters(tmp_path, capsys, face_settings, make_photo, media_dir):
    from jaicat.people import persons as people
    from jaicat.people.faces import DetectedFace

    v = RNG.normal(0, 0.09, 128).astype(np.float32)
    faces = [people.record_faces(make_photo(media_dir / "faces_groups/kit_with_rose.jpg"),
                                 [DetectedFace(0.1, 0.1, 0.2, 0.2, (v + RNG.normal(0, 0.01, 128)).astype(np.float32))])[0]
             for _ in range(3)]
    data = face_settings.data_dir
    code, out, _ = run(capsys, data, "clusters", "--json")
    groups = json.loads(out)
    assert code == 0 and [g["size"] for g in groups] == [3]
    code, out, _ = run(capsys, data, "name-cluster", str(groups[0]["cluster"]), "Zoë")
    assert (code, out) == (0, "3 faces are now Zoë\n")
    assert "no groups of unknown faces" in run(capsys, data, "clusters")[1]
    code, out, _ = run(capsys, data, "reject", str(faces[0].id))
    assert (code, out) == (0, f"face {faces[0].id} rejected; now unknown\n")
    assert run(capsys, data, "confirm", str(faces[0].id), "Zoë")[:2] == (0, f"face {faces[0].id} is Zoë\n")
    code, _, err = run(capsys, data, "confirm", "999", "Zoë")
    assert code == 2 and "no face 999" in err
    code, out, _ = run(capsys, data, "rematch")
    assert code == 0
    assert run(capsys, data, "recluster")[1] == "0 groups of unknown faces\n"


def test_enroll_then_catalogued_faces_are_rematched(tmp_path, capsys, face_settings, face_media, media_faces,
                                                     make_photo, media_dir):
    from jaicat.people import persons as people
    from jaicat.db import Face

    kit_photo = face_media["Kit_Harington"][2]
    face = people.record_faces(make_photo(kit_photo), media_faces[kit_photo])[0]
    assert face.person is None
    root = tmp_path / "Pictures" / "Kit_Harington"
    root.mkdir(parents=True)
    (root / "1.jpg").symlink_to(face_media["Kit_Harington"][0])
    code, out, _ = run(capsys, face_settings.data_dir, "enroll", str(tmp_path / "Pictures"))
    assert code == 0
    assert "1 people: added 1 encodings, already known 0, rejected 0" in out
    assert "re-matched 1 faces, 1 changed" in out
    assert Face.get_by_id(face.id).person.name == "Kit Harington"
