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
