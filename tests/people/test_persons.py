"""jaicat.people.persons: faces in the catalogue, face tags, confirm/reject, clusters, rename/merge/forget.

Encodings here are synthetic (random 128-d vectors the size of dlib's, ~1.4 apart between people)
so each test controls exactly who is near whom; test_recognition.py covers real photos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaicat.people import persons as people
from jaicat.db import Face, FaceEncoding, FaceRejection, Person, PhotoTag, Tag
from jaicat.errors import Conflict, InvalidInput, NotFound
from jaicat.people.known import import_npy_dir, npy_filename
from jaicat.people.faces import DetectedFace
from fixtures.faces import FACE_MODELS

RNG = np.random.default_rng(7)
AMY, BEN, CAT = (RNG.normal(0, 0.09, 128).astype(np.float32) for _ in range(3))


def near(v, d, seed=0):
    direction = np.random.default_rng(seed).normal(0, 1, 128).astype(np.float32)
    return (v + d * direction / np.linalg.norm(direction)).astype(np.float32)


def face_at(v, x=0.1, y=0.1, w=0.2, h=0.2):
    return DetectedFace(x=x, y=y, w=w, h=h, encoding=v)


def seed_people(folder: Path, known: dict[str, list[np.ndarray]]):
    folder.mkdir(parents=True, exist_ok=True)
    n = 1000
    for name, vectors in known.items():
        for v in vectors:
            n += 1
            np.save(folder / npy_filename(name, n), v.astype(np.float64))
    return import_npy_dir(folder)


def tags(photo, source="face"):
    q = PhotoTag.select(PhotoTag, Tag).join(Tag).where(PhotoTag.photo == photo, PhotoTag.removed == False)  # noqa: E712
    return {pt.tag.name for pt in q if source is None or pt.source == source}


@pytest.fixture
def known(tmp_path, face_settings):
    seed_people(tmp_path / "seed", {"Amy H": [AMY, near(AMY, 0.2, 1)], "Ben": [BEN]})
    return {p.name: p for p in Person.select()}


@pytest.fixture
def photo(make_photo, media_dir):
    return make_photo(media_dir / "faces_groups/kit_with_rose.jpg")


def test_recorded_faces_are_matched_tagged_and_unknowns_clustered(known, photo):
    faces = people.record_faces(photo, [face_at(near(AMY, 0.3, 2)), face_at(near(CAT, 0.1), x=0.6)])
    amy, stranger = faces
    assert amy.person.name == "Amy H" and 0.2 < amy.distance < 0.35 and not amy.confirmed
    assert stranger.person is None and stranger.cluster is not None
    assert tags(photo) == {"Amy H"}


def test_reanalysis_replaces_unconfirmed_faces_and_keeps_confirmed_ones(known, photo):
    first = people.record_faces(photo, [face_at(near(AMY, 0.3, 2)), face_at(near(CAT, 0.1), x=0.6)])
    people.confirm_face(first[1].id, "Cat")
    again = people.record_faces(photo, [face_at(near(AMY, 0.31, 2)), face_at(near(CAT, 0.12), x=0.61)])
    assert Face.select().where(Face.photo == photo).count() == 2  # the confirmed face is not duplicated
    assert [f.id for f in again if f.confirmed] == [first[1].id]
    assert first[0].id not in {f.id for f in again}
    assert tags(photo) == {"Amy H", "Cat"}


def test_a_rejected_name_is_not_suggested_again_even_after_reanalysis(known, photo):
    face = people.record_faces(photo, [face_at(near(AMY, 0.3, 2))])[0]
    rejected = people.reject_face(face.id)
    assert rejected.person is None and rejected.cluster is not None
    assert FaceRejection.select().where(FaceRejection.face == face.id).count() == 1
    assert tags(photo) == set()
    assert people.rematch_faces()["changed"] == 0
    assert Face.get_by_id(face.id).person is None
    again = people.record_faces(photo, [face_at(near(AMY, 0.29, 2), x=0.11)])[0]
    assert again.person is None  # the new detection inherited the rejection
    assert FaceRejection.get(FaceRejection.face == again.id).person.name == "Amy H"


def test_rejecting_falls_back_to_the_next_best_person(tmp_path, face_settings, photo):
    mid = (AMY + BEN) / 2  # ~0.7 from each: move it so both are within tolerance, Amy nearer
    seed_people(tmp_path / "s", {"Amy H": [near(mid, 0.45, 1)], "Ben": [near(mid, 0.5, 2)]})
    face = people.record_faces(photo, [face_at(mid)])[0]
    assert face.person.name == "Amy H"
    assert people.reject_face(face.id).person.name == "Ben"
    assert tags(photo) == {"Ben"}
    with pytest.raises(InvalidInput):
        people.reject_face(people.reject_face(face.id).id)  # now unknown: nothing left to reject


def test_confirming_adds_a_known_encoding_and_the_tag(known, photo, make_photo, media_dir):
    face = people.record_faces(photo, [face_at(CAT)])[0]
    assert face.person is None
    confirmed = people.confirm_face(face.id, "Cat")
    assert confirmed.confirmed and confirmed.cluster is None
    enc = FaceEncoding.get(FaceEncoding.origin == f"face:{face.id}")
    assert enc.person.name == "Cat"
    assert tags(photo) == {"Cat"}
    # the next photo of Cat is recognised from that one confirmed face
    other = make_photo(media_dir / "faces_groups/obama_and_biden.jpg")
    assert people.record_faces(other, [face_at(near(CAT, 0.3, 5))])[0].person.name == "Cat"
    # confirming as someone else moves the encoding and the tag
    people.confirm_face(face.id, known["Ben"].id)
    assert FaceEncoding.get(FaceEncoding.origin == f"face:{face.id}").person.name == "Ben"
    assert tags(photo) == {"Ben"}
    with pytest.raises(NotFound):
        people.confirm_face(999999, "Cat")
    with pytest.raises(NotFound):
        people.confirm_face(face.id, 424242)
    with pytest.raises(InvalidInput):
        people.confirm_face(face.id, "  ")


def test_unknown_faces_are_grouped_and_a_group_can_be_named_at_once(known, make_photo, media_dir):
    photos = [make_photo(media_dir / "faces_groups/kit_with_rose.jpg") for _ in range(4)]
    for i, p in enumerate(photos[:3]):
        people.record_faces(p, [face_at(near(CAT, 0.15, 10 + i))])
    people.record_faces(photos[3], [face_at(near(AMY, 0.9, 3))])  # nobody's: its own group
    groups = people.unknown_clusters()
    assert [g["size"] for g in groups] == [3, 1]
    assert people.unknown_clusters(min_size=2) == groups[:1]
    result = people.name_cluster(groups[0]["cluster"], "Cat")
    assert result["faces"] == 3 and result["person"] == "Cat"
    assert all(tags(p) == {"Cat"} for p in photos[:3])
    assert FaceEncoding.select().join(Person).where(Person.name == "Cat").count() == 3
    assert [g["size"] for g in people.unknown_clusters()] == [1]
    with pytest.raises(NotFound):
        people.name_cluster(groups[0]["cluster"], "Cat")  # nothing unknown left in it


def test_two_faces_of_one_photo_are_never_one_group(face_settings, photo):
    a, b = people.record_faces(photo, [face_at(near(CAT, 0.1, 1)), face_at(near(CAT, 0.1, 2), x=0.6)])
    assert a.cluster != b.cluster


def test_recluster_regroups_all_unknown_faces_with_fresh_ids(face_settings, make_photo, media_dir):
    ids = []
    for i in range(6):
        p = make_photo(media_dir / "faces_groups/kit_with_rose.jpg")
        ids.append(people.record_faces(p, [face_at(near(CAT if i % 2 else BEN, 0.2, i))])[0])
    before = max(f.cluster for f in ids)
    assert people.recluster_unknown_faces() == 2
    groups = people.unknown_clusters()
    assert sorted(g["size"] for g in groups) == [3, 3]
    assert all(g["cluster"] > before for g in groups)
    assert {frozenset(g["face_ids"]) for g in groups} == {
        frozenset(f.id for i, f in enumerate(ids) if i % 2), frozenset(f.id for i, f in enumerate(ids) if not i % 2)}


def test_rename_moves_face_tags_and_refuses_a_taken_name(known, photo):
    people.record_faces(photo, [face_at(AMY)])
    PhotoTag.create(photo=photo, tag=Tag.named("beach"), source="user")
    person = people.rename_person("amy h", "Amy Hill")  # names are found case-insensitively
    assert person.name == "Amy Hill"
    assert tags(photo) == {"Amy Hill"} and tags(photo, None) == {"Amy Hill", "beach"}
    assert Tag.get_or_none(Tag.name == "Amy H") is None
    with pytest.raises(Conflict):
        people.rename_person("Amy Hill", "ben")
    with pytest.raises(NotFound):
        people.rename_person("Nobody", "X")
    with pytest.raises(InvalidInput):
        people.rename_person("Ben", "a/b")


def test_a_face_tag_the_user_removed_stays_removed(known, photo):
    people.record_faces(photo, [face_at(AMY)])
    PhotoTag.update(removed=True).where(PhotoTag.photo == photo).execute()
    people.record_faces(photo, [face_at(near(AMY, 0.05))])
    assert tags(photo) == set()
    people.rename_person("Amy H", "Amy Hill")
    assert tags(photo) == set()
    assert PhotoTag.select().where(PhotoTag.photo == photo).count() == 1  # the removed mark, renamed


def test_merge_moves_encodings_faces_rejections_and_tags(known, photo, make_photo, media_dir):
    other = make_photo(media_dir / "faces_groups/obama_and_biden.jpg")
    amy_face = people.record_faces(photo, [face_at(AMY)])[0]
    ben_face = people.record_faces(other, [face_at(BEN)])[0]
    people.reject_face(people.confirm_face(ben_face.id, "Ben").id)  # Ben's face: "not Ben" is kept
    people.confirm_face(ben_face.id, "Ben")
    PhotoTag.create(photo=other, tag=Tag.named("Amy H"), source="user")  # typed by the user too
    dst = people.merge_people("Ben", "Amy H")
    assert dst.name == "Amy H" and Person.get_or_none(Person.name == "Ben") is None
    assert FaceEncoding.select().where(FaceEncoding.person == dst).count() == 4
    assert {Face.get_by_id(amy_face.id).person_id, Face.get_by_id(ben_face.id).person_id} == {dst.id}
    assert tags(photo) == {"Amy H"} and tags(other, None) == {"Amy H"}
    assert FaceRejection.select().where(FaceRejection.face == ben_face.id).count() == 0
    with pytest.raises(InvalidInput):
        people.merge_people("Amy H", "amy h")


def test_forget_removes_encodings_face_links_and_face_tags(known, photo):
    face = people.record_faces(photo, [face_at(AMY), face_at(BEN, x=0.6)])[0]
    people.confirm_face(face.id, "Amy H")
    result = people.forget_person("Amy H")
    assert result == {"person": "Amy H", "encodings": 3, "faces": 1}
    assert Person.get_or_none(Person.name == "Amy H") is None
    forgotten = Face.get_by_id(face.id)
    assert forgotten.person is None and not forgotten.confirmed and forgotten.cluster is not None
    assert tags(photo) == {"Ben"}
    assert people.current_matcher().match(AMY) is None
    with pytest.raises(NotFound):
        people.forget_person("Amy H")


def test_changes_are_announced_with_the_photos_they_touch(known, photo, make_photo, media_dir, tmp_path):
    from jaicat import events

    other = make_photo(media_dir / "faces_groups/obama_and_biden.jpg")
    people.record_faces(photo, [face_at(AMY)])
    stranger = people.record_faces(other, [face_at(CAT)])[0]
    hub = events.Hub()
    q = hub.subscribe()
    try:
        people.rename_person("Amy H", "Amy")
        seed_people(tmp_path / "cat", {"Cat": [CAT]})
        people.rematch_faces()
        people.forget_person("Amy")
        got = [q.get_nowait() for _ in range(q.qsize())]
    finally:
        hub.unsubscribe(q)
    assert [(e["type"], e["action"], e["photo_ids"]) for e in got] == [
        ("people.changed", "rename", [photo.id]),
        ("people.changed", "rematch", [other.id]),
        ("people.changed", "forget", [photo.id]),
    ]
    assert Face.get_by_id(stranger.id).person.name == "Cat"


def test_list_people_counts_and_prefers_a_confirmed_cover(known, photo, make_photo, media_dir):
    close = people.record_faces(photo, [face_at(near(AMY, 0.1))])[0]
    other = make_photo(media_dir / "faces_groups/obama_and_biden.jpg")
    far = people.record_faces(other, [face_at(near(AMY, 0.4, 3))])[0]
    listing = {p["name"]: p for p in people.list_people()}
    assert listing["Amy H"]["face_count"] == 2 and listing["Amy H"]["encoding_count"] == 2
    assert listing["Amy H"]["cover_face_id"] == close.id
    assert listing["Ben"] == {"id": known["Ben"].id, "name": "Ben", "photo_count": 0, "face_count": 0,
                              "encoding_count": 1, "cover_face_id": None}
    people.confirm_face(far.id, "Amy H")
    assert {p["name"]: p for p in people.list_people()}["Amy H"]["cover_face_id"] == far.id


def test_rematch_names_old_faces_after_new_people_are_imported(tmp_path, face_settings, photo):
    face = people.record_faces(photo, [face_at(near(CAT, 0.2))])[0]
    assert face.person is None
    seed_people(tmp_path / "more", {"Cat": [CAT]})
    assert people.rematch_faces(face_settings) == {"faces": 1, "changed": 1}
    assert Face.get_by_id(face.id).person.name == "Cat" and Face.get_by_id(face.id).cluster is None
    assert tags(photo) == {"Cat"}


def test_face_crop_is_a_square_jpeg_of_that_face(face_settings, media_dir, cached_detection):
    from PIL import Image
    import io

    from jaicat.errors import FileMissing
    from jaicat.photos.ingest import ingest_file
    from jaicat.photos.library import photo_file
    from jaicat.people import faces as faces_ml

    from fixtures.faces import load_face_image

    photo = ingest_file(media_dir / "faces_groups/kit_with_rose.jpg", face_settings).photo
    faces = people.analyse_faces(photo, load_face_image(photo_file(photo, face_settings)), face_settings, FACE_MODELS)
    assert len(faces) == 2
    for face in faces:
        data = people.face_crop(face.id, face_settings, size=160)
        crop = Image.open(io.BytesIO(data))
        assert crop.format == "JPEG" and crop.size == (160, 160)
        found = faces_ml.detect_faces(np.asarray(crop.convert("RGB")), max_side=1024, models=FACE_MODELS)
        assert len(found) == 1  # the crop shows one face, the one asked for
        assert np.linalg.norm(found[0].encoding - np.frombuffer(face.encoding, dtype="<f4")) < 0.6
    photo_file(photo, face_settings).unlink()
    with pytest.raises(FileMissing):
        people.face_crop(faces[0].id, face_settings)
    with pytest.raises(NotFound):
        people.face_crop(10**9, face_settings)
