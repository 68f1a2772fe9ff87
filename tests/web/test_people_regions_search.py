"""People, faces, regions and search routes: the web shell over jaicat.people.persons / regions / search."""

from __future__ import annotations

import numpy as np

from jaicat.db import Face, Person, vec_to_blob


def _face(photo, person=None, seed=0, cluster=None):
    enc = np.random.default_rng(seed).normal(size=128).astype("float32")
    return Face.create(photo=photo, x=0.3, y=0.2, w=0.3, h=0.4, encoding=vec_to_blob(enc / np.linalg.norm(enc)),
                       person=person, distance=0.4 if person else None, cluster=cluster)


def test_people_rename_merge_forget(client, photo):
    amy, bob = Person.create(name="Amy"), Person.create(name="Bob")
    f1, f2 = _face(photo, amy, 1), _face(photo, bob, 2)
    people = client.get("/api/people").json["items"]
    assert [(p["name"], p["face_count"]) for p in people] == [("Amy", 1), ("Bob", 1)]
    assert people[0]["cover_url"] == f"/api/faces/{f1.id}/crop"
    r = client.patch(f"/api/people/{amy.id}", json={"name": "Amy H"})
    assert r.status_code == 200 and r.json["name"] == "Amy H"
    assert client.patch(f"/api/people/{amy.id}", json={"name": "Bob"}).status_code == 409
    assert client.patch(f"/api/people/{amy.id}", json={"name": 3}).status_code == 400
    r = client.post(f"/api/people/{bob.id}/merge", json={"into": amy.id})
    assert r.status_code == 200 and r.json["face_count"] == 2
    detail = client.get(f"/api/people/{amy.id}").json
    assert {f["id"] for f in detail["faces"]} == {f1.id, f2.id}
    assert client.get(f"/api/people/{bob.id}").status_code == 404
    assert client.delete(f"/api/people/{amy.id}").status_code == 204
    assert client.get("/api/people").json["items"] == []


def test_faces_confirm_reject_crop_and_clusters(client, photo):
    amy = Person.create(name="Amy")
    f = _face(photo, amy, 3)
    r = client.post(f"/api/faces/{f.id}/confirm")
    assert r.status_code == 200 and r.json["confirmed"] and r.json["person"]["name"] == "Amy"
    r = client.post(f"/api/faces/{f.id}/confirm", json={"name": "Zoe"})
    assert r.json["person"]["name"] == "Zoe"
    r = client.post(f"/api/faces/{f.id}/reject")
    assert r.status_code == 200 and not r.json["confirmed"]
    crop = client.get(f"/api/faces/{f.id}/crop?size=64")
    assert crop.status_code == 200 and crop.mimetype == "image/jpeg" and crop.data[:2] == b"\xff\xd8"
    assert client.get(f"/api/faces/{f.id}/crop", headers={"If-None-Match": crop.headers["ETag"]}).status_code in (200, 304)
    assert client.get("/api/faces/999/crop").status_code == 404
    u1, u2 = _face(photo, None, 4, cluster=7), _face(photo, None, 5, cluster=7)
    clusters = client.get("/api/people/unknown").json["items"]
    mine = [c for c in clusters if c["cluster"] == 7][0]
    assert mine["count"] == 2 and {x["id"] for x in mine["faces"]} == {u1.id, u2.id}
    r = client.post("/api/people/unknown/7/name", json={"name": "Carl"})
    assert r.status_code == 200 and r.json["name"] == "Carl" and r.json["face_count"] == r.json["named"] == 2
    assert client.post("/api/people/unknown/7/name", json={"name": "Carl"}).status_code == 404


def test_regions_crud_and_crop(client, photo):
    r = client.post(f"/api/photos/{photo.id}/regions", json={"x": 0.1, "y": 0.1, "w": 0.5, "h": 0.5,
                                                              "label": "red band"})
    assert r.status_code == 201, r.json
    rid = r.json["id"]
    assert client.get(f"/api/photos/{photo.id}/regions").json["items"][0]["label"] == "red band"
    assert client.patch(f"/api/regions/{rid}", json={"label": "sky"}).json["label"] == "sky"
    assert client.patch(f"/api/regions/{rid}", json={"x": 2}).status_code == 400
    crop = client.get(f"/api/regions/{rid}/crop")
    assert crop.status_code == 200 and crop.data[:2] == b"\xff\xd8"
    assert client.post(f"/api/photos/{photo.id}/regions", json={"x": 0.1}).status_code == 400
    assert client.get(f"/api/photos/{photo.id}").json["regions"][0]["id"] == rid
    assert client.delete(f"/api/regions/{rid}").status_code == 204
    assert client.delete(f"/api/regions/{rid}").status_code == 404


def test_search_without_models_falls_back_to_words(client, photo):
    from jaicat.photos import tags

    tags.add_tag(photo, "lighthouse")
    r = client.get("/api/search?q=lighthouse")
    assert r.status_code == 200, r.json
    assert [p["id"] for p in r.json["items"]] == [photo.id]
    assert client.get("/api/search").status_code == 400
    r = client.get("/api/photos?q=lighthouse&status=inbox")
    assert [p["id"] for p in r.json["items"]] == [photo.id]
    assert client.get("/api/photos?q=lighthouse&status=filed").json["items"] == []
    assert client.get("/api/tags").json["items"] == [{"name": "lighthouse", "count": 1}]


def test_photo_list_by_person(client, photo, settings, media_dir):
    from jaicat.photos.ingest import ingest_file

    other = ingest_file(media_dir / "exif" / "orientation_2.jpg", settings).photo
    amy = Person.create(name="Amy")
    _face(photo, amy, 9)
    _face(other, None, 10)
    assert [p["id"] for p in client.get(f"/api/photos?person={amy.id}").json["items"]] == [photo.id]
    assert client.get("/api/photos?person=0").status_code == 400
