"""Attacks through the trash, on the real server: a restore that a symlink would send out of the library,
uploads left pending (and blocking the phone) by emptying the trash, a restore racing the emptying."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from fixtures.hostile import jpeg

from jaicat.db import Meta, Photo, open_db
from jaicat.errors import NotFound
from jaicat.photos import trash
from jaicat.photos.ingest import ingest_file


def upload(server, data: bytes, name: str) -> dict:
    r = server.post("/api/uploads", json={"filename": name, "size": len(data),
                                          "sha256": hashlib.sha256(data).hexdigest()})
    assert r.status_code == 201, r.text
    r = server.request("PATCH", f"/api/uploads/{r.json()['id']}?offset=0", data=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    return r.json()


# --- 1. restore through a symlink ---------------------------------------------------------------------
def test_1_restore_refuses_a_folder_that_now_leads_out_of_the_library(live_server, tmp_path):
    up = upload(live_server, jpeg(101), "deep.jpg")
    r = live_server.post(f"/api/review/{up['photo_id']}/fix", json={"folder": "TR/deep", "create": True})
    assert r.status_code == 200, r.text
    assert live_server.post("/api/photos/trash", json={"ids": [up["photo_id"]]}).status_code == 200
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    deep = live_server.settings.library / "TR" / "deep"
    deep.rmdir()
    deep.symlink_to(outside, target_is_directory=True)

    r = live_server.post("/api/photos/restore", json={"ids": [up["photo_id"]]})
    assert r.status_code == 400 and r.json()["error"] == "path_outside_library", r.text
    assert "TR/deep" in r.json()["message"] and str(tmp_path) not in r.text
    assert list(outside.iterdir()) == []
    listed = live_server.get("/api/trash").json()["items"]
    assert [p["id"] for p in listed] == [up["photo_id"]]
    # nothing left for start-up to trip over: the server restarts
    live_server.stop()
    live_server.start()
    assert [p["id"] for p in live_server.get("/api/trash").json()["items"]] == [up["photo_id"]]


def test_1_a_trash_move_reconcile_cannot_settle_does_not_stop_the_server(live_server_factory, tmp_path):
    server = live_server_factory()
    up = upload(server, jpeg(102), "stuck.jpg")
    assert server.post("/api/photos/trash", json={"ids": [up["photo_id"]]}).status_code == 200
    server.stop()
    # what the old restore left: the file written outside the library, the row still in the trash,
    # and an intent whose destination is outside the library
    open_db(server.settings.db_path)
    photo = Photo.get_by_id(up["photo_id"])
    outside = tmp_path / "outside"
    outside.mkdir()
    os.replace(server.settings.trash / photo.path, outside / "stuck.jpg")
    Meta.insert(key=f"trash-intent:{photo.id}", value=json.dumps(
        {"op": "restore", "root": "trash", "path": photo.path, "to_dir": str(outside)})).execute()
    Meta._meta.database.close()

    server.start()  # the old server: "Worker failed to boot" (ValueError in trash.reconcile)
    assert "could not settle" in server.log()
    out = server.cli("check", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "trash moves that could not be settled: 1" in out.stdout, out.stdout
    out = server.cli("check", "--repair", check=False)  # the server runs: it refuses cleanly, no crash
    assert "Traceback" not in out.stderr, out.stderr


# --- 2. emptying the trash settles the uploads of the photos it deletes -------------------------------
def test_2_emptying_the_trash_leaves_no_upload_pending(live_server_factory):
    server = live_server_factory(max_concurrent_uploads=3)
    datas = [jpeg(200 + i) for i in range(3)]
    ups = [upload(server, d, f"e{i}.jpg") for i, d in enumerate(datas)]
    ids = [u["photo_id"] for u in ups]
    assert server.post("/api/photos/trash", json={"ids": ids}).status_code == 200
    assert server.post("/api/trash/empty", json={}).json()["deleted"] == 3

    assert server.get("/api/uploads").json()["items"] == []
    r = server.post("/api/uploads", json={"filename": "new.jpg", "size": 10})
    assert r.status_code == 201, r.text  # the old server: 429 too_many_uploads for 24 h
    # the phone asking about an upload it finished learns the photo was deleted, not "send it again"
    first = server.get(f"/api/uploads/{ups[0]['id']}").json()
    assert first["status"] == "failed" and first["error"].startswith("deleted"), first


# --- 8. restore racing the emptying ---------------------------------------------------------------------
def test_8_restoring_a_photo_the_trash_emptying_deleted_is_not_found(settings, media_dir):
    photo = ingest_file(media_dir / "exif" / "orientation_1.jpg", settings).photo
    trash.trash_photo(photo, settings)
    stale = Photo.get_by_id(photo.id)  # what the restore request loaded before the emptying ran
    trash.empty_trash(settings)
    with pytest.raises(NotFound):
        trash.restore_photo(stale, settings)
    with pytest.raises(NotFound):
        trash.trash_photo(stale, settings)

