"""Editing a photo's tags, accepting with edits, region label counts, and the shared query syntax
with cursor pages on /api/search and /api/photos."""

from __future__ import annotations

from jaicat import events
from jaicat.photos import tags
from jaicat.db import Photo
from jaicat.photos.ingest import ingest_file


def _ingest(settings, full_media_dir, n):
    return [ingest_file(full_media_dir / "exif_real" / f"Landscape_{i}.jpg", settings).photo for i in range(n)]


def _names(client, photo_id):
    return sorted(t["name"] for t in client.get(f"/api/photos/{photo_id}").json["tags"])


def test_accept_with_edited_tags_and_people_is_logged_as_accept(client, settings, full_media_dir):
    (p,) = _ingest(settings, full_media_dir, 1)
    tags.add_tag(p, "sky")
    assert client.get("/api/review").json["items"][0]["suggestions"] == []  # the queue is open...
    assert client.post("/api/folders", json={"path": "Trips"}).status_code == 201  # ...then a folder
    r = client.post(f"/api/review/{p.id}/accept", json={"tags": ["beach", "sunset"], "people": ["Amy"]})
    assert r.status_code == 200, r.json
    d = r.json["decision"]
    assert d["action"] == "accept" and d["chosen_folder"] == "Trips"
    assert d["tags"] == ["beach", "sunset"] and d["people"] == ["Amy"]
    assert r.json["photo"]["folder"] == "Trips"
    assert _names(client, p.id) == ["beach", "sunset"]  # "sky" removed
    assert client.post(f"/api/review/{p.id}/accept", json={"tags": "beach"}).status_code == 400


def test_patch_photo_tags_replaces_them_and_publishes_photo_changed(client, settings, full_media_dir):
    (p,) = _ingest(settings, full_media_dir, 1)
    tags.add_tag(p, "sky")
    tags.set_auto_tags(p, "clip", [("tree", 0.3)])
    hub = events.Hub()
    q = hub.subscribe()
    try:
        r = client.patch(f"/api/photos/{p.id}", json={"tags": ["sky", "Lighthouse"]})
        assert r.status_code == 200, r.json
        assert sorted(t["name"] for t in r.json["tags"]) == ["Lighthouse", "sky"]
        seen = []
        while not q.empty():
            seen.append(q.get_nowait())
        changed = [e for e in seen if e["type"] == "photo.changed"]
        assert changed and changed[-1]["photo_id"] == p.id
        assert sorted(changed[-1]["tags"]) == ["Lighthouse", "sky"]
    finally:
        hub.unsubscribe(q)
    # the removed auto tag stays removed when the tagger runs again
    tags.set_auto_tags(Photo.get_by_id(p.id), "clip", [("tree", 0.4)])
    assert _names(client, p.id) == ["Lighthouse", "sky"]
    assert [x["id"] for x in client.get("/api/photos?tag=lighthouse").json["items"]] == [p.id]
    assert client.patch(f"/api/photos/{p.id}", json={}).status_code == 400
    assert client.patch(f"/api/photos/{p.id}", json={"tags": [""]}).status_code == 400
    assert client.patch("/api/photos/999999", json={"tags": []}).status_code == 404
    assert client.patch(f"/api/photos/{p.id}", json={"tags": []}).json["tags"] == []


def test_region_labels_most_used_first(client, settings, full_media_dir):
    a, b = _ingest(settings, full_media_dir, 2)
    box = {"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3}
    for pid, label in ((a.id, "car"), (b.id, "car"), (a.id, "tree"), (b.id, "")):
        assert client.post(f"/api/photos/{pid}/regions", json={**box, "label": label}).status_code == 201
    assert client.get("/api/regions/labels").json["items"] == [{"label": "car", "count": 2},
                                                               {"label": "tree", "count": 1}]


def test_search_pages_with_cursor(client, settings, full_media_dir):
    photos = _ingest(settings, full_media_dir, 5)
    for p in photos[:4]:
        tags.add_tag(p, "hill")
    seen, cursor, pages = [], None, 0
    while True:
        r = client.get("/api/search", query_string={"q": "tag:hill", "limit": 3, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.json
        seen += [x["id"] for x in r.json["items"]]
        cursor, pages = r.json["next_cursor"], pages + 1
        if cursor is None:
            break
    assert pages == 2 and sorted(seen) == sorted(p.id for p in photos[:4]) and len(set(seen)) == 4
    # free text (word fallback without models) pages too
    first = client.get("/api/search?q=hill&limit=2").json
    assert len(first["items"]) == 2 and first["next_cursor"] == "2"
    rest = client.get("/api/search?q=hill&limit=2&cursor=2").json
    assert {x["id"] for x in first["items"] + rest["items"]} == {p.id for p in photos[:4]}
    assert client.get("/api/search?q=hill&cursor=x").status_code == 400


def test_photo_list_q_understands_search_syntax(client, settings, full_media_dir):
    a, b, c = _ingest(settings, full_media_dir, 3)
    tags.add_tag(a, "dog")
    tags.add_tag(b, "dog")
    tags.add_tag(b, "beach")
    ids = lambda url: [x["id"] for x in client.get(url).json["items"]]  # noqa: E731
    assert ids("/api/photos?q=tag:dog") == [b.id, a.id]  # filters only: newest first, no ranking
    assert ids("/api/photos?q=tag:dog%20-tag:beach") == [a.id]
    assert ids("/api/photos?q=tag:dog&tag=beach") == [b.id]  # the parameters narrow the query
    assert ids("/api/photos?q=status:inbox&status=filed") == []
    page = client.get("/api/photos?q=tag:dog&limit=1").json
    assert page["next_cursor"] and ids(f"/api/photos?q=tag:dog&limit=1&cursor={page['next_cursor']}") == [a.id]
    assert client.get("/api/photos?q=after:notadate").status_code == 400
