"""The phone's whole journey against the real server: pair, check, upload in chunks (surviving a
dropped connection), follow the websocket to "suggestion ready", accept, find the file filed on disk.
The analysis worker runs without CLIP/BLIP weights: faces, suggestions and events still happen."""

from __future__ import annotations

import hashlib
import socket
import time

from fixtures.phone_socket import PhoneSocket

CHUNK = 64 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(server, data: bytes, filename: str) -> dict:
    r = server.post("/api/uploads", json={"filename": filename, "size": len(data), "sha256": sha(data)})
    assert r.status_code == 201, r.text
    up = r.json()
    while up["status"] == "pending":
        off = up["offset"]
        r = server.request("PATCH", f"/api/uploads/{up['id']}?offset={off}", data=data[off:off + CHUNK],
                           headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        up = r.json()
    assert up["status"] == "done"
    return up


def send_partial_then_drop(server, upload_id: str, data: bytes, offset: int, send: int) -> None:
    """Announce the whole rest of the file but send only `send` bytes, then vanish."""
    rest = len(data) - offset
    head = (f"PATCH /api/uploads/{upload_id}?offset={offset} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {server.token}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {rest}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(head + data[offset:offset + send])
    time.sleep(0.2)
    s.close()


def test_bulk_check_chunked_upload_and_resume(live_server, full_media_dir):
    files = sorted((full_media_dir / "exif_real").glob("Landscape_*.jpg"))[:3]
    datas = [f.read_bytes() for f in files]
    r = live_server.post("/api/uploads/check", json={"sha256": [sha(d) for d in datas]})
    assert r.json()["missing"] == [sha(d) for d in datas]
    first = upload(live_server, datas[0], files[0].name)
    r = live_server.post("/api/uploads/check", json={"sha256": [sha(d) for d in datas]})
    assert r.json()["known"] == [sha(datas[0])]

    # the connection drops in the middle of a chunk; the phone asks where to go on and finishes
    data = datas[1]
    up = live_server.post("/api/uploads", json={"filename": files[1].name, "size": len(data),
                                                 "sha256": sha(data)}).json()
    send_partial_then_drop(live_server, up["id"], data, 0, 150_000)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = live_server.get(f"/api/uploads/{up['id']}").json()
        if state["offset"] > 0:
            break
        time.sleep(0.1)
    assert 0 < state["offset"] <= 150_000 and state["status"] == "pending"
    assert [u["id"] for u in live_server.get("/api/uploads").json()["items"]] == [up["id"]]
    stale = live_server.request("PATCH", f"/api/uploads/{up['id']}?offset=0", data=data)
    assert stale.status_code == 409 and stale.json()["offset"] == state["offset"]
    r = live_server.request("PATCH", f"/api/uploads/{up['id']}?offset={state['offset']}",
                            data=data[state["offset"]:])
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    photo = live_server.get(f"/api/photos/{r.json()['photo_id']}").json()
    assert photo["sha256"] == sha(data) and photo["source_device"] == "test phone"
    original = live_server.get(f"/api/photos/{photo['id']}/original")
    assert original.content == data
    assert live_server.get(f"/api/photos/{first['photo_id']}/thumb?size=1280").headers["Content-Type"] == "image/jpeg"


def test_events_to_suggestion_then_accept_files_the_photo(live_server_factory, media_dir):
    server = live_server_factory(worker=True)
    phone, other_phone = PhoneSocket(server, patience=120), PhoneSocket(server, patience=120)
    try:
        # teach the suggester one folder: a photo from the same day, camera and place
        a = (media_dir / "exif" / "orientation_1.jpg").read_bytes()
        up = upload(server, a, "IMG_0001.jpg")
        phone.wait(lambda e: e["type"] == "upload.received" and e["photo_id"] == up["photo_id"])
        phone.wait(lambda e: e["type"] == "photo.analysed" and e["photo_id"] == up["photo_id"])
        phone.wait(lambda e: e["type"] == "suggestion.ready" and e["photo_id"] == up["photo_id"])
        phone.send({"type": "decision", "id": "d1", "photo_id": up["photo_id"], "action": "fix",
                    "folder": "Paris 2024", "create": True})
        res = phone.wait(lambda e: e.get("id") == "d1")
        assert res["type"] == "decision.result", res
        other_phone.wait(lambda e: e["type"] == "library.changed" and e.get("photo_id") == up["photo_id"])

        b = (media_dir / "exif" / "orientation_3.jpg").read_bytes()
        up2 = upload(server, b, "IMG_0002.jpg")
        ready = phone.wait(lambda e: e["type"] == "suggestion.ready" and e["photo_id"] == up2["photo_id"])
        assert ready["folders"][0]["folder"] == "Paris 2024"
        assert 0 < ready["confidence"] <= 1 and ready["reason"] and ready["thumb_url"].endswith("size=256")
        other_phone.wait(lambda e: e["type"] == "suggestion.ready" and e["photo_id"] == up2["photo_id"])
        queue = server.get("/api/review").json()
        assert queue["items"][0]["id"] == up2["photo_id"] and queue["items"][0]["status"] == "suggested"

        r = server.post(f"/api/review/{up2['photo_id']}/accept", json={})
        assert r.status_code == 200, r.text
        filed = server.data_dir / "library" / "Paris 2024" / "IMG_0002.jpg"
        assert filed.is_file() and sha(filed.read_bytes()) == sha(b)
        assert r.json()["photo"]["status"] == "filed"
        # the inbox no longer holds it
        assert not any(p.read_bytes() == b for p in (server.data_dir / "inbox").rglob("*.jpg"))
        # undo over the websocket puts it back
        phone.send({"type": "undo", "id": "u1"})
        res = phone.wait(lambda e: e.get("id") == "u1")
        assert res["type"] == "decision.result" and res["photo"]["root"] == "inbox"
        assert not filed.exists()
        phone.send({"type": "ping"})
        phone.wait(lambda e: e["type"] == "pong")
        phone.send({"type": "decision", "id": "bad", "photo_id": "x", "action": "accept"})
        assert phone.wait(lambda e: e.get("id") == "bad")["type"] == "error"
    finally:
        phone.close()
        other_phone.close()


def test_big_file_in_uneven_chunks_arrives_intact(live_server, tmp_path):
    """Chunks spliced straight from the socket into the file, hashed behind them, across chunk
    boundaries that fall anywhere; the stored original is byte-identical."""
    import io
    import os

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 200, 90)).save(buf, "JPEG")
    data = buf.getvalue() + os.urandom(6 * 1024 * 1024 + 12345)  # decoders stop at the JPEG's end
    r = live_server.post("/api/uploads", json={"filename": "burst.jpg", "size": len(data), "sha256": sha(data)})
    up = r.json()
    step = 1_500_001
    while up["status"] == "pending":
        off = up["offset"]
        r = live_server.request("PATCH", f"/api/uploads/{up['id']}?offset={off}", data=data[off:off + step])
        assert r.status_code == 200, r.text
        up = r.json()
    assert up["status"] == "done" and not up["duplicate"]
    assert live_server.get(f"/api/photos/{up['photo_id']}/original").content == data
