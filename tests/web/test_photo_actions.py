"""The phone's photo actions over the API: star (and its XMP rating), move, trash, restore, empty;
devices renamed; the server's facts and a pairing QR code for the settings screen."""

from __future__ import annotations

from jaicat.db import Photo
from jaicat.photos import library
from jaicat.xmp import read_sidecar, sidecar_path, write_photo_sidecar


def test_star_filters_and_writes_the_rating(client, settings, photo):
    r = client.patch(f"/api/photos/{photo.id}", json={"favourite": True})
    assert r.status_code == 200 and r.json["favourite"] is True, r.json
    assert [p["id"] for p in client.get("/api/photos?favourite=1").json["items"]] == [photo.id]
    assert [p["id"] for p in client.get("/api/search?q=is:favourite").json["items"]] == [photo.id]
    assert client.patch(f"/api/photos/{photo.id}", json={"favourite": "yes"}).status_code == 400
    library.file_photo(Photo.get_by_id(photo.id), "Pets", settings)
    path = write_photo_sidecar(Photo.get_by_id(photo.id), settings)
    assert read_sidecar(path)["rating"] == 5
    client.patch(f"/api/photos/{photo.id}", json={"favourite": False})
    write_photo_sidecar(Photo.get_by_id(photo.id), settings)
    assert read_sidecar(path)["rating"] is None
    assert client.get("/api/photos?favourite=1").json["items"] == []


def test_a_rating_set_by_another_tool_is_kept(settings, photo):
    library.file_photo(photo, "Pets", settings)
    p = Photo.get_by_id(photo.id)
    side = sidecar_path(library.photo_file(p, settings))
    side.write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                    '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3"/>'
                    '</rdf:RDF></x:xmpmeta>')
    write_photo_sidecar(p, settings)
    assert read_sidecar(side)["rating"] == 3


def test_move_trash_restore_and_empty(client, settings, photo, media_dir):
    from jaicat.photos.ingest import ingest_file

    other = ingest_file(media_dir / "exif" / "orientation_1.jpg", settings).photo
    assert client.post("/api/photos/move", json={"ids": [photo.id], "folder": "Nope"}).status_code == 404
    r = client.post("/api/photos/move", json={"ids": [photo.id, other.id], "folder": "Pets/Cats", "create": True})
    assert r.status_code == 200 and r.json["moved"] == 2
    assert {p["folder"] for p in client.get("/api/photos?folder=Pets/Cats").json["items"]} == {"Pets/Cats"}
    assert client.post("/api/photos/move", json={"ids": [], "folder": "Pets"}).status_code == 400
    assert client.post("/api/photos/move", json={"ids": [999], "folder": "Pets"}).status_code == 404

    r = client.post("/api/photos/trash", json={"ids": [photo.id, other.id]})
    assert r.status_code == 200 and r.json["trashed"] == 2
    assert client.get("/api/photos").json["items"] == []
    assert {p["id"] for p in client.get("/api/trash").json["items"]} == {photo.id, other.id}
    assert client.post("/api/photos/move", json={"ids": [photo.id], "folder": "Pets"}).status_code == 400
    r = client.post("/api/photos/restore", json={"ids": [photo.id]})
    assert r.status_code == 200 and r.json["items"][0]["folder"] == "Pets/Cats"
    assert client.post("/api/photos/restore", json={"ids": [photo.id]}).status_code == 400
    r = client.post("/api/trash/empty", json={})
    assert r.status_code == 200 and r.json["deleted"] == 1
    assert client.get(f"/api/photos/{other.id}").status_code == 404
    assert [p["id"] for p in client.get("/api/photos").json["items"]] == [photo.id]
    assert client.post("/api/trash/empty", json={"ids": "all"}).status_code == 400


def test_devices_renamed_and_server_facts(client):
    dev = client.device.id
    r = client.patch(f"/api/devices/{dev}", json={"name": "Pixel 8"})
    assert r.status_code == 200 and r.json["name"] == "Pixel 8" and r.json["current"] is True
    assert client.patch(f"/api/devices/{dev}", json={"name": "  "}).status_code == 400
    assert client.patch("/api/devices/999", json={"name": "x"}).status_code == 404
    facts = client.get("/api/server").json
    assert facts["version"] and facts["urls"] and facts["urls"][0].endswith(":8787")
    code = client.post("/api/pair/code").json
    rows = code["qr"]
    assert len(rows) == len(rows[0]) >= 21 and set("".join(rows)) == {"0", "1"}


def test_timeline_places_and_post_ideas(client, settings, photo, media_dir):
    import datetime as dt

    from jaicat.db import Face, Person
    from jaicat.photos.ingest import ingest_file
    from jaicat.photos.tags import edit_photo_tags

    older = ingest_file(media_dir / "exif" / "orientation_1.jpg", settings).photo
    Photo.update(taken_at=dt.datetime(2021, 3, 2)).where(Photo.id == older.id).execute()
    months = client.get("/api/timeline").json["months"]
    assert months[0]["month"] > months[-1]["month"] == "2021-03"
    page = client.get("/api/timeline/photos?limit=1").json
    assert page["items"][0]["id"] == photo.id and page["next_cursor"]
    # the cursor is a keyset (date and id of the last photo shown): the next page starts after it
    rest = client.get("/api/timeline/photos", query_string={"limit": 1, "cursor": page["next_cursor"]}).json
    assert [p["id"] for p in rest["items"]] == [older.id] and rest["next_cursor"] is None
    assert client.get("/api/timeline/photos?cursor=2024-07-14|x").status_code == 400
    assert [p["id"] for p in client.get("/api/timeline/photos?until=2021-03").json["items"]] == [older.id]
    assert client.get("/api/timeline/photos?until=March").status_code == 400
    places = client.get("/api/places").json
    assert places["tiles"].startswith("https://") and {p["id"] for p in places["items"]} >= {photo.id}
    assert all(p["lat"] is not None for p in places["items"])

    library.file_photo(Photo.get_by_id(photo.id), "Trips/Paris 2024", settings)
    edit_photo_tags(Photo.get_by_id(photo.id), ["eiffel tower"])
    Photo.update(caption="a tower at sunset").where(Photo.id == photo.id).execute()
    Face.create(photo=photo.id, x=0, y=0, w=0.1, h=0.1, encoding=b"", person=Person.create(name="Amy H"))
    r = client.post("/api/ideas", json={"ids": [photo.id]})
    assert r.status_code == 200 and len(r.json["ideas"]) == 3
    first = r.json["ideas"][0]
    assert first["text"] == "A tower at sunset in Paris, July 2024." and "#EiffelTower" in first["hashtags"]
    assert not any("Amy" in i["text"] or "#AmyH" in i["hashtags"] for i in r.json["ideas"])  # people: off
    with_people = client.post("/api/ideas", json={"ids": [photo.id], "people": True}).json["ideas"]
    assert any("Amy H" in i["text"] for i in with_people)
    settings.language = "de"
    assert "Juli 2024" in client.post("/api/ideas", json={"ids": [photo.id]}).json["ideas"][0]["text"]
    assert client.post("/api/ideas", json={"ids": list(range(1, 30))}).status_code == 400
