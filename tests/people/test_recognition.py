"""Recognition quality with the real dlib models on real photos: enrol some, recognise the rest."""

from __future__ import annotations

from jaicat.people import known
from jaicat.people import persons as people
from jaicat.db import PhotoTag, Tag
from jaicat.people.known import name_from_file

from fixtures.faces import FACE_MODELS, load_face_image


def _enroll_first_half(face_media, root):
    """Symlink the first half (at least one) of each person's photos into root/<Person>/."""
    held_out = []
    for folder, files in face_media.items():
        k = max(1, len(files) // 2)
        (root / folder).mkdir(parents=True)
        for f in files[:k]:
            (root / folder / f.name).symlink_to(f)
        held_out += [(name_from_file(folder), f) for f in files[k:]]
    return held_out


def _face_tags(photo):
    return {pt.tag.name for pt in PhotoTag.select(PhotoTag, Tag).join(Tag)
            .where(PhotoTag.photo == photo, PhotoTag.source == "face")}


def test_recognises_people_enrolled_from_half_their_photos(
        tmp_path, face_settings, full_face_media, make_photo, cached_detection, capsys):
    held_out = _enroll_first_half(full_face_media, tmp_path / "Pictures")
    summary = known.enroll_folder(tmp_path / "Pictures", face_settings, models=FACE_MODELS)
    assert len(summary.people) == len(full_face_media) == 16
    enrolled = sum(max(1, len(fs) // 2) for fs in full_face_media.values())
    assert enrolled == 32 and summary.added == enrolled and not summary.rejected, summary.rejected

    correct = wrong = found = 0
    misses = []
    for name, f in held_out:
        photo = make_photo(f)
        faces = people.analyse_faces(photo, load_face_image(f), face_settings, FACE_MODELS)
        names = [face.person.name for face in faces if face.person_id]
        correct += names.count(name)
        wrong += len(names) - names.count(name)
        found += name in names
        if name not in names:
            misses.append((f.parent.name + "/" + f.name, names))
        assert _face_tags(photo) == set(names)
    precision = correct / max(1, correct + wrong)
    recall = found / len(held_out)
    with capsys.disabled():  # the figures belong in every CI log, not only with -s
        print(f"\nface recognition: {len(held_out)} held-out photos of {len(full_face_media)} people, "
              f"precision {precision:.3f}, recall {recall:.3f}; missed {misses}")
    assert len(held_out) == 71 - 32
    assert precision >= 0.9
    assert recall >= 0.75


def test_group_photos_get_every_enrolled_person_as_a_tag(
        tmp_path, face_settings, face_media, media_dir, make_photo, cached_detection):
    _enroll_first_half(face_media, tmp_path / "Pictures")
    known.enroll_folder(tmp_path / "Pictures", face_settings, models=FACE_MODELS)
    expected = {
        "kit_with_rose.jpg": {"Kit Harington", "Rose Leslie"},
        "obama_and_biden.jpg": {"Barack Obama", "Joe Biden"},
        "obama_partial_face.jpg": {"Barack Obama"},
    }
    for fname, names in expected.items():
        f = media_dir / "faces_groups" / fname
        photo = make_photo(f)
        faces = people.analyse_faces(photo, load_face_image(f), face_settings, FACE_MODELS)
        assert len(faces) >= len(names)
        assert names <= _face_tags(photo), fname
        for face in faces:
            assert 0 <= face.x < face.x + face.w <= 1 and 0 <= face.y < face.y + face.h <= 1
