"""Attacks with data: a pixel bomb, uploads that reserve what they never send, names that break
filesystems or SQLite's ASCII-only lower(). Numbers are those of the issue's list."""

from __future__ import annotations

import os

from fixtures.hostile import jpeg, peak_rss_kb, worker_pid

MB = 1024 * 1024


def create(server, name: str, size: int, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return server.post("/api/uploads", json={"filename": name, "size": size}, headers=headers)


def send(server, up: dict, data: bytes, offset: int = 0, token: str | None = None):
    headers = {"Content-Type": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return server.request("PATCH", f"/api/uploads/{up['id']}?offset={offset}", data=data, headers=headers)


def upload(server, data: bytes, name: str) -> dict:
    r = create(server, name, len(data))
    assert r.status_code == 201, r.text
    r = send(server, r.json(), data)
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    return r.json()


# --- 4. the 16-bit pixel bomb ------------------------------------------------------------------------
def test_4_a_16_bit_pixel_bomb_is_refused_before_it_is_decoded(live_server, bomb_png):
    pid = worker_pid(live_server)
    before = peak_rss_kb(pid)
    r = create(live_server, "bomb.png", len(bomb_png))
    assert r.status_code == 201
    r = send(live_server, r.json(), bomb_png)
    assert r.status_code == 413 and r.json()["error"] == "image_too_large", r.text
    assert "GiB to decode" in r.json()["message"]
    assert (peak_rss_kb(pid) - before) < 1024 * 1024  # the old server went to 3-4 GB


# --- 5. reservations -----------------------------------------------------------------------------------
def test_5_announced_bytes_are_capped_per_device_and_in_total(live_server_factory):
    server = live_server_factory(max_upload_bytes=4 * MB)  # so: 8 MB a device, 32 MB in all
    assert create(server, "a.jpg", 4 * MB).status_code == 201
    first = create(server, "b.jpg", 4 * MB).json()
    r = create(server, "c.jpg", 4 * MB)
    assert r.status_code == 429 and r.json()["error"] == "too_many_uploads", r.text
    # the first byte of an upload does not take the disk space of the whole file
    assert send(server, first, b"x").status_code == 200
    data = server.data_dir / "uploads" / first["id"] / "data"
    assert os.stat(data).st_blocks * 512 < 1 * MB
    # devices this one pairs do not multiply the total
    statuses = []
    for i in range(4):
        token = server.pair(f"sock puppet {i}")
        statuses += [create(server, f"p{i}-{j}.jpg", 4 * MB, token=token).status_code for j in range(2)]
    assert statuses.count(201) == 6 and statuses[-2:] == [429, 429], statuses


# --- 8. names ----------------------------------------------------------------------------------------------
def test_8_a_long_multibyte_name_uploads_and_files(live_server):
    name = "名" * 100 + ".jpg"  # 100 characters, 304 bytes
    up = upload(live_server, jpeg(1), name)
    r = live_server.post(f"/api/review/{up['photo_id']}/fix", json={"folder": "Names", "create": True})
    assert r.status_code == 200, r.text
    filed = r.json()["photo"]["path"].split("/")[-1]
    assert filed.endswith(".jpg") and len(filed.encode()) <= 255
    assert (live_server.settings.library / r.json()["photo"]["path"]).is_file()


def test_8_a_254_byte_name_filed_twice_into_one_folder(live_server, tmp_path):
    name = "n" * 250 + ".jpg"  # 254 bytes: a legal name, imported from the user's own disk
    for seed in (2, 3):
        (tmp_path / str(seed)).mkdir()
        (tmp_path / str(seed) / name).write_bytes(jpeg(seed))
        live_server.cli("import", str(tmp_path / str(seed)))
    ids = [p["id"] for p in live_server.get("/api/photos?limit=200").json()["items"]
           if p["filename"] == name]
    assert len(ids) == 2
    paths = []
    for pid in ids:
        r = live_server.post(f"/api/review/{pid}/fix", json={"folder": "Twice", "create": True})
        assert r.status_code == 200, r.text
        paths.append(r.json()["photo"]["path"])
    assert len(set(paths)) == 2 and all(len(p.split("/")[-1].encode()) <= 255 for p in paths)
    assert paths[1].endswith(" (1).jpg")
    assert all((live_server.settings.library / p).is_file() for p in paths)


def test_8_a_60_level_folder_is_a_clear_400(live_server):
    r = live_server.post("/api/folders", json={"path": "/".join(["level"] * 60)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_folder_name"
    r = live_server.post("/api/folders", json={"path": "/".join(["é" * 100] * 8)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_folder_name"
    r = live_server.post("/api/folders", json={"path": "名" * 100})  # 100 characters, 300 bytes
    assert r.status_code == 400 and r.json()["error"] == "invalid_folder_name"


def test_8_a_person_named_twice_in_another_case_is_one_person(settings):
    from jaicat.people import persons

    for name in ("Émile", "Øystein", "Иван"):
        first = persons.person_named(name)
        assert persons.person_named(name).id == first.id
        assert persons.person_named(name.upper()).id == first.id
        assert persons.find_person(name.lower()).id == first.id


def test_9_error_messages_carry_no_server_paths(live_server):
    up = upload(live_server, jpeg(4), "gone.jpg")
    photo = live_server.get(f"/api/photos/{up['photo_id']}").json()
    (live_server.settings.inbox / photo["path"]).unlink()
    r = live_server.post(f"/api/review/{up['photo_id']}/fix", json={"folder": "X", "create": True})
    assert r.status_code == 409 and r.json()["error"] == "file_missing"
    assert str(live_server.data_dir) not in r.text and "/tmp" not in r.text


def test_5_free_disk_is_checked_against_what_unfinished_uploads_still_promise(settings, monkeypatch):
    from collections import namedtuple

    import pytest

    from jaicat.errors import InsufficientStorage
    from jaicat.photos import uploads

    usage = namedtuple("usage", "total used free")
    free = uploads.DISK_MARGIN + 30 * MB
    monkeypatch.setattr(uploads.shutil, "disk_usage", lambda p: usage(10**12, 10**12 - free, free))
    uploads.create_upload(settings, 1, "a.jpg", 20 * MB)  # fits
    with pytest.raises(InsufficientStorage):  # 20 MB promised + 20 MB more > 30 MB free
        uploads.create_upload(settings, 2, "b.jpg", 20 * MB)
    assert len(uploads.pending_uploads(settings, None)) == 1
