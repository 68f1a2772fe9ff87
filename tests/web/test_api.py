"""Photos, review, folders, jobs, errors and the OpenAPI document, through the Flask app."""

from __future__ import annotations

import re

from jaicat.photos import library
from jaicat.db import Job, Photo
from jaicat.photos.ingest import ingest_file
from jaicat.web.openapi import spec


def test_every_route_is_documented_and_nothing_else(app):
    documented = {(path, m.upper()) for path, ops in spec()["paths"].items() for m in ops}
    actual = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for m in rule.methods - {"HEAD", "OPTIONS"}:
            actual.add((path, m))
    assert actual == documented


def test_openapi_served_and_valid(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200 and r.json["openapi"].startswith("3.")


def test_errors_are_json(client, app):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json["error"] == "not_found"
    r = client.open("PUT", "/api/photos")
    assert r.status_code == 405 and r.json["error"] == "method_not_allowed"
    r = client.post("/api/folders", data="[1,", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["error"] == "bad_request"
    r = client.get("/api/photos?limit=0")
    assert r.status_code == 400
    assert client.get("/api/photos?cursor=abc").status_code == 400
    assert client.get("/api/photos?date_from=2024-13-01").status_code == 400
    assert app.test_client().get("/no/such/page").json["error"] == "not_found"


def test_photo_list_filters_and_pages(client, settings, full_media_dir):
    ids = [ingest_file(full_media_dir / "exif_real" / f"Landscape_{i}.jpg", settings).photo.id for i in range(5)]
    page1 = client.get("/api/photos?limit=2").json
    assert [p["id"] for p in page1["items"]] == ids[::-1][:2]
    page2 = client.get(f"/api/photos?limit=2&cursor={page1['next_cursor']}").json
    page3 = client.get(f"/api/photos?limit=2&cursor={page2['next_cursor']}").json
    assert [p["id"] for p in page2["items"] + page3["items"]] == ids[::-1][2:]
    assert page3["next_cursor"] is None
    library.file_photo(Photo.get_by_id(ids[0]), "Trips/2024", settings)
    library.file_photo(Photo.get_by_id(ids[1]), "Trips", settings)
    assert [p["id"] for p in client.get("/api/photos?folder=Trips/2024").json["items"]] == [ids[0]]
    assert [p["id"] for p in client.get("/api/photos?folder=Trips").json["items"]] == [ids[1]]
    assert client.get("/api/photos?folder=trips").json["items"] == []
    assert len(client.get("/api/photos?status=inbox").json["items"]) == 3
    assert client.get("/api/photos?status=bogus").status_code == 400
    from jaicat.photos import tags

    tags.add_tag(ids[2], "sunset")
    assert [p["id"] for p in client.get("/api/photos?tag=sunset").json["items"]] == [ids[2]]
    detail = client.get(f"/api/photos/{ids[2]}").json
    assert detail["tags"][0]["name"] == "sunset" and detail["thumb_url"].endswith("size=256")


def test_date_filter(client, settings, media_dir):
    p = ingest_file(media_dir / "exif" / "orientation_1.jpg", settings).photo
    assert p.taken_at is not None
    day = p.taken_at.date().isoformat()
    assert [x["id"] for x in client.get(f"/api/photos?date_from={day}&date_to={day}").json["items"]] == [p.id]
    assert client.get("/api/photos?date_to=2000-01-01").json["items"] == []


def test_thumbnail_and_original_cache_headers(client, photo, settings):
    r = client.get(f"/api/photos/{photo.id}/thumb?size=256")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert "private" in r.headers["Cache-Control"] and r.headers["ETag"]
    r304 = client.get(f"/api/photos/{photo.id}/thumb?size=256", headers={"If-None-Match": r.headers["ETag"]})
    assert r304.status_code == 304
    assert client.get(f"/api/photos/{photo.id}/thumb?size=999").status_code == 400
    full = client.get(f"/api/photos/{photo.id}/original")
    assert full.status_code == 200 and full.data == library.photo_file(photo, settings).read_bytes()
    part = client.get(f"/api/photos/{photo.id}/original", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == full.data[10:20]
    assert client.get("/api/photos/999/original").status_code == 404


def test_review_accept_fix_skip_undo(client, settings, full_media_dir):
    a = ingest_file(full_media_dir / "exif_real" / "Portrait_1.jpg", settings).photo
    b = ingest_file(full_media_dir / "exif_real" / "Portrait_2.jpg", settings).photo
    c = ingest_file(full_media_dir / "exif_real" / "Portrait_3.jpg", settings).photo
    # a suggestion stored at analysis time is not what the card shows: the suggester's answer now is
    Photo.update(status="suggested", suggestions=[{"folder": "Stale", "score": 0.9, "reason": "r"}]).where(
        Photo.id == a.id).execute()
    q = client.get("/api/review").json
    assert q["count"] == 3 and q["items"][0]["id"] == a.id  # suggested first
    assert q["items"][0]["suggestions"] == []  # no folders yet: nothing to suggest, "Stale" is gone
    assert client.post(f"/api/review/{a.id}/accept", json={}).status_code == 409
    assert client.post(f"/api/review/{a.id}/accept", json={"folder": "Stale"}).status_code == 404
    page = client.get("/api/review?limit=1").json
    rest = client.get(f"/api/review?limit=5&cursor={page['next_cursor']}").json
    assert [p["id"] for p in page["items"] + rest["items"]] == [a.id, b.id, c.id]

    assert client.post("/api/folders", json={"path": "Family"}).status_code == 201
    assert client.get("/api/review").json["items"][0]["suggestions"][0]["folder"] == "Family"
    r = client.post(f"/api/review/{a.id}/accept", json={})
    assert r.status_code == 200 and r.json["photo"]["folder"] == "Family"
    assert r.json["decision"]["action"] == "accept"
    assert (settings.library / "Family" / "Portrait_1.jpg").is_file()

    r = client.post(f"/api/review/{b.id}/fix", json={"folder": "Nope"})
    assert r.status_code == 404
    r = client.post(f"/api/review/{b.id}/fix", json={"folder": "Pets/Rex", "create": True, "tags": ["dog"]})
    assert r.status_code == 200 and r.json["photo"]["folder"] == "Pets/Rex"
    assert [t["name"] for t in client.get(f"/api/photos/{b.id}").json["tags"]] == ["dog"]
    assert client.post(f"/api/review/{c.id}/fix", json={"folder": "../etc", "create": True}).status_code == 400

    r = client.post(f"/api/review/{c.id}/skip")
    assert r.json["photo"]["status"] == "skipped"
    assert client.post(f"/api/review/{c.id}/skip").status_code == 200  # still waiting: may skip again
    skipped = client.get("/api/review?status=skipped").json
    assert [p["id"] for p in skipped["items"]] == [c.id] and skipped["count"] == 1
    assert c.id not in [p["id"] for p in client.get("/api/review").json["items"]]
    assert client.post(f"/api/review/{a.id}/skip").status_code == 409  # filed: nothing to skip
    assert client.get("/api/review?status=bogus").status_code == 400
    b_fix = next(d for d in client.get("/api/decisions").json["items"] if d["photo_id"] == b.id)
    r = client.post("/api/review/undo", json={"decision_id": b_fix["id"]})
    assert r.status_code == 200 and r.json["photo"]["root"] == "inbox"
    assert not (settings.library / "Pets" / "Rex" / "Portrait_2.jpg").exists()
    assert client.post("/api/review/999/skip").status_code == 404


def test_folders_and_jobs(client, settings):
    assert client.post("/api/folders", json={"path": "A/B"}).status_code == 201
    assert client.post("/api/folders", json={"path": "/abs"}).status_code == 400
    tree = client.get("/api/folders").json
    assert tree["children"][0]["name"] == "A" and tree["children"][0]["children"][0]["path"] == "A/B"
    job = Job.create(kind="analyse", total=3, done=1)
    assert client.get("/api/jobs").json["items"][0]["id"] == job.id
    assert client.get(f"/api/jobs/{job.id}").json["done"] == 1
    assert client.get("/api/jobs/999").status_code == 404


def test_pwa_shell_needs_no_token(app, tmp_path, settings):
    (tmp_path / "pwa" / "js").mkdir(parents=True)
    (tmp_path / "pwa" / "index.html").write_text("<html>jaicat</html>")
    (tmp_path / "pwa" / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    (tmp_path / "pwa" / "js" / "app.js").write_text("export {};")
    app.config["JAICAT_PWA_DIR"] = tmp_path / "pwa"
    c = app.test_client()
    assert b"jaicat" in c.get("/").data
    sw = c.get("/sw.js")
    assert sw.headers["Service-Worker-Allowed"] == "/" and "no-cache" in sw.headers["Cache-Control"]
    assert c.get("/js/app.js").mimetype == "text/javascript"
    assert c.get("/js/../../etc/passwd").status_code == 404
    assert c.get("/ca.crt").status_code == 404  # no HTTPS set up yet
