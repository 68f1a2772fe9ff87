"""jaicat.people.curation: confirm a person's suggestions at once, "not a face", "hide this stranger",
a chosen cover; photo counts on the tiles. Synthetic encodings as in test_persons.py."""

from __future__ import annotations

import pytest

from jaicat.db import Face, FaceEncoding, Person
from jaicat.errors import InvalidInput, NotFound
from jaicat.people import curation, persons as people

from people.test_persons import AMY, BEN, CAT, face_at, near, seed_people, tags


@pytest.fixture
def known(tmp_path, face_settings):
    seed_people(tmp_path / "seed", {"Amy H": [AMY], "Ben": [BEN]})
    return {p.name: p for p in Person.select()}


@pytest.fixture
def photos(make_photo, media_dir):
    return [make_photo(media_dir / "faces_groups/kit_with_rose.jpg") for _ in range(3)]


def test_confirm_all_confirms_every_suggested_face_but_the_ones_left_out(known, photos):
    faces = [people.record_faces(p, [face_at(near(AMY, 0.3, i))])[0] for i, p in enumerate(photos)]
    assert all(f.person_id == known["Amy H"].id and not f.confirmed for f in faces)
    result = curation.confirm_suggested(known["Amy H"].id, except_face_ids=[faces[2].id])
    assert result["confirmed"] == 2
    assert [Face.get_by_id(f.id).confirmed for f in faces] == [True, True, False]
    origins = {e.origin for e in FaceEncoding.select().where(FaceEncoding.person == known["Amy H"])}
    assert {f"face:{faces[0].id}", f"face:{faces[1].id}"} <= origins
    assert curation.confirm_suggested("amy h", [faces[2].id])["confirmed"] == 0


def test_not_a_face_is_remembered_through_reanalysis_and_rematch(known, photos):
    photo = photos[0]
    ghost, amy = people.record_faces(photo, [face_at(near(BEN, 0.2)), face_at(near(AMY, 0.2), x=0.6)])
    people.confirm_face(ghost.id, "Ben")
    curation.mark_not_face(ghost.id)
    assert tags(photo) == {"Amy H"}  # Ben's tag went with the face
    assert not FaceEncoding.select().where(FaceEncoding.origin == f"face:{ghost.id}").exists()
    # the detector finds the same box again (a re-analysis, the thorough pass): it stays "not a face"
    after = people.record_faces(photo, [face_at(near(BEN, 0.21)), face_at(near(AMY, 0.21), x=0.6)])
    assert [f.person_id for f in after] == [known["Amy H"].id]
    assert Face.select().where(Face.photo == photo).count() == 2  # the mark and Amy, no duplicate
    people.rematch_faces()
    assert Face.get_by_id(ghost.id).person_id is None and Face.get_by_id(ghost.id).not_face
    assert all(ghost.id not in c["face_ids"] for c in people.unknown_clusters())


def test_a_hidden_stranger_stays_hidden_on_new_photos_until_named(known, photos):
    first = people.record_faces(photos[0], [face_at(near(CAT, 0.1, 1))])[0]
    second = people.record_faces(photos[1], [face_at(near(CAT, 0.1, 2))])[0]
    assert first.cluster is not None and Face.get_by_id(second.id).cluster == first.cluster
    hidden = curation.hide_stranger(first.cluster)
    assert hidden["faces"] == 2
    assert [p["name"] for p in people.list_people()] == ["Amy H", "Ben"]
    assert people.unknown_clusters() == []
    later = people.record_faces(photos[2], [face_at(near(CAT, 0.15, 3))])[0]
    assert later.person_id == hidden["person_id"] and tags(photos[2]) == set()
    people.rename_person(hidden["person_id"], "Cathy")  # naming them shows them
    assert "Cathy" in [p["name"] for p in people.list_people()]
    assert tags(photos[2]) == set() or "Cathy" in tags(photos[2])
    with pytest.raises(NotFound):
        curation.hide_stranger(999)


def test_tiles_count_photos_and_show_the_chosen_cover(known, photos):
    a = people.record_faces(photos[0], [face_at(near(AMY, 0.2, 1)), face_at(near(AMY, 0.25, 2), x=0.6)])
    b = people.record_faces(photos[1], [face_at(near(AMY, 0.3, 3))])
    row = next(p for p in people.list_people() if p["name"] == "Amy H")
    assert row["photo_count"] == 2 and row["face_count"] == 3
    assert row["cover_face_id"] == a[0].id  # the closest match
    curation.set_cover(known["Amy H"].id, b[0].id)
    assert next(p for p in people.list_people() if p["name"] == "Amy H")["cover_face_id"] == b[0].id
    ben = people.record_faces(photos[2], [face_at(near(BEN, 0.1))])[0]
    with pytest.raises(InvalidInput):
        curation.set_cover(known["Amy H"].id, ben.id)
    # a cover that is no longer theirs falls back to the best face
    people.reject_face(b[0].id)
    assert next(p for p in people.list_people() if p["name"] == "Amy H")["cover_face_id"] == a[0].id


def test_people_actions_over_http(client, known, photos):
    faces = [people.record_faces(p, [face_at(near(AMY, 0.3, i))])[0] for i, p in enumerate(photos[:2])]
    amy = known["Amy H"].id
    r = client.post(f"/api/people/{amy}/confirm-all", json={"except": ["x"]})
    assert r.status_code == 400 and r.get_json()["error"] == "bad_request"
    r = client.post(f"/api/people/{amy}/confirm-all")
    assert r.status_code == 200 and r.get_json()["confirmed"] == 2
    assert r.get_json()["person"]["photo_count"] == 2
    r = client.post(f"/api/people/{amy}/cover", json={"face_id": faces[1].id})
    assert r.status_code == 200 and r.get_json()["cover_face_id"] == faces[1].id
    assert client.post(f"/api/people/{amy}/cover", json={}).status_code == 400
    r = client.post(f"/api/faces/{faces[0].id}/not-a-face")
    assert r.status_code == 200 and r.get_json()["not_face"] is True
    detail = client.get(f"/api/photos/{photos[0].id}").get_json()
    assert [f["id"] for f in detail["faces"]] == []
    assert client.post("/api/faces/99999/not-a-face").status_code == 404
    assert client.post("/api/people/unknown/99999/hide").status_code == 404
    stranger = people.record_faces(photos[2], [face_at(near(CAT, 0.1))])[0]
    r = client.post(f"/api/people/unknown/{stranger.cluster}/hide")
    assert r.status_code == 200 and r.get_json() == {"hidden": 1}
    hidden_id = Face.get_by_id(stranger.id).person_id
    assert client.get(f"/api/people/{hidden_id}").status_code == 404
    assert all(p["id"] != hidden_id for p in client.get("/api/people").get_json()["items"])
