"""The auto-filing API: the setting the phone changes, the list of auto-filed photos, seeing them
(kept) and undoing one in one call; every bad input a 400 JSON error."""

from __future__ import annotations

from jaicat.db import Decision, Photo, utcnow
from jaicat.photos import library


def _auto_filed(settings, photos, folder="Beach"):
    """File `photos` as the auto-filer does (its filing path, filed_by auto)."""
    library.create_folder(settings, folder)
    for p in photos:
        sugg = [{"folder": folder, "score": 0.97, "reason": "test"}]
        Photo.update(status="suggested", suggestions=sugg, analysed_at=utcnow()).where(Photo.id == p.id).execute()
        library.file_photo(p, folder, settings, action="accept", suggested=sugg, filed_by="auto", waiting=True)


def test_the_setting_is_read_and_changed(client, settings):
    r = client.get("/api/settings")
    assert r.status_code == 200 and r.json["auto_file"] == "off" and r.json["threshold"] is None
    r = client.patch("/api/settings", json={"auto_file": 0.05})
    assert r.status_code == 200 and r.json["auto_file"] == 0.05 and settings.auto_file_rate == 0.05
    assert client.get("/api/settings").json["auto_file"] == 0.05
    for bad in (0.7, 0, -1, "often", True, None, [0.05]):
        r = client.patch("/api/settings", json={"auto_file": bad})
        assert r.status_code == 400 and r.json["error"] in ("invalid_input", "bad_request"), (bad, r.json)
    r = client.patch("/api/settings", json={"auto_file": 0.7})
    assert "auto_file" in r.json["message"] and "0.5" in r.json["message"]
    assert client.patch("/api/settings", json={"port": 1}).status_code == 400
    assert client.patch("/api/settings", json={}).status_code == 400
    assert client.patch("/api/settings", json={"auto_file": "off"}).json["auto_file"] == "off"


def test_auto_filed_photos_are_listed_seen_and_undone(client, settings, add_photos):
    photos = add_photos(4)
    _auto_filed(settings, photos[:3])
    library.file_photo(photos[3], "Beach", settings)  # the user's own
    r = client.get("/api/photos?filed_by=auto&limit=2")
    assert r.status_code == 200 and [p["id"] for p in r.json["items"]] == [photos[2].id, photos[1].id]
    assert all(p["filed_by"] == "auto" for p in r.json["items"])
    r2 = client.get(f"/api/photos?filed_by=auto&limit=2&cursor={r.json['next_cursor']}")
    assert [p["id"] for p in r2.json["items"]] == [photos[0].id] and r2.json["next_cursor"] is None
    assert [p["id"] for p in client.get("/api/photos?filed_by=user").json["items"]] == [photos[3].id]
    assert client.get("/api/photos?filed_by=robot").status_code == 400
    assert client.get("/api/settings").json["unseen"] == 3

    r = client.post("/api/review/auto-filed/seen", json={"photo_ids": [photos[0].id, photos[3].id]})
    assert r.status_code == 200 and r.json == {"kept": 1, "unseen": 2}
    for bad in ({}, {"photo_ids": []}, {"photo_ids": ["x"]}, {"photo_ids": [True]}):
        assert client.post("/api/review/auto-filed/seen", json=bad).status_code == 400

    # one call undoes an auto-filing, its confirmation with it; the photo waits for review again
    r = client.post("/api/review/undo", json={"photo_id": photos[0].id})
    assert r.status_code == 200 and r.json["decision"]["filed_by"] == "auto"
    assert r.json["photo"]["root"] == "inbox" and r.json["photo"]["filed_by"] is None
    assert r.json["photo"]["status"] == "suggested"
    assert Decision.select().where((Decision.photo == photos[0].id) & (Decision.undone == False)).count() == 0  # noqa: E712
    assert client.post("/api/review/undo", json={"photo_id": photos[0].id}).status_code == 409
    assert client.post("/api/review/undo", json={"photo_id": photos[1].id, "decision_id": 1}).status_code == 400
    assert client.post("/api/review/undo", json={"photo_id": "x"}).status_code == 400
    assert client.post("/api/review/undo", json={"photo_id": 999}).status_code == 404
    assert [p["id"] for p in client.get("/api/photos?filed_by=auto").json["items"]] == [photos[2].id, photos[1].id]
