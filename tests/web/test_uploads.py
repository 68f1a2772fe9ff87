"""Resumable uploads through the app: bulk check, chunks at offsets, resume, verify, ingest, limits."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os

from jaicat.photos import hashing, uploads
from jaicat.db import Photo, Upload


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _create(client, data: bytes, name: str = "IMG_1.jpg", sha: bool = True):
    body = {"filename": name, "size": len(data)}
    if sha:
        body["sha256"] = _sha(data)
    return client.post("/api/uploads", json=body)


def _send(client, uid: str, offset: int, chunk: bytes):
    return client.patch(f"/api/uploads/{uid}?offset={offset}", data=chunk,
                        headers={"Content-Type": "application/octet-stream"})


def test_chunked_upload_lands_in_the_inbox(client, settings, full_media_dir):
    data = (full_media_dir / "exif_real" / "Landscape_3.jpg").read_bytes()
    r = client.post("/api/uploads/check", json={"sha256": [_sha(data)]})
    assert r.json == {"known": [], "missing": [_sha(data)]}
    up = _create(client, data).json
    assert up["status"] == "pending" and up["offset"] == 0
    step = 100_000
    for off in range(0, len(data), step):
        r = _send(client, up["id"], off, data[off:off + step])
        assert r.status_code == 200, r.json
    assert r.json["status"] == "done" and r.json["duplicate"] is False
    photo = Photo.get_by_id(r.json["photo_id"])
    assert photo.sha256 == _sha(data) and photo.source_device == "test phone"
    assert (settings.inbox / photo.path).read_bytes() == data
    assert not (settings.uploads / up["id"]).exists()
    assert client.post("/api/uploads/check", json={"sha256": [_sha(data)]}).json["known"] == [_sha(data)]
    # announcing a known file finishes at once as a duplicate
    again = _create(client, data).json
    assert again["status"] == "done" and again["duplicate"] and again["photo_id"] == photo.id


def test_resume_after_a_partial_chunk(client, media_dir):
    data = (media_dir / "exif" / "orientation_1.jpg").read_bytes()
    up = _create(client, data).json

    class Dropping(io.RawIOBase):
        """A body that breaks after 3000 bytes, like a phone losing Wi-Fi."""

        def __init__(self):
            self.sent = 0

        def read(self, n=-1):
            if self.sent >= 3000:
                raise ConnectionResetError("gone")
            chunk = data[self.sent:min(self.sent + 1000, 3000)]
            self.sent += len(chunk)
            return chunk

    try:
        receiver(client).write_chunk(up["id"], 0, Dropping(), device_id=client.device.id)
    except ConnectionResetError:
        pass
    state = client.get(f"/api/uploads/{up['id']}").json
    assert state["offset"] == 3000 and state["status"] == "pending"
    r = _send(client, up["id"], 0, data)
    assert r.status_code == 409 and r.json["error"] == "offset_mismatch" and r.json["offset"] == 3000
    r = _send(client, up["id"], 3000, data[3000:])
    assert r.status_code == 200 and r.json["status"] == "done"


def receiver(client) -> uploads.Receiver:
    """The app's upload receiver (its runtime's)."""
    return client.raw.application.extensions["jaicat"].uploads


def test_checksum_mismatch_resets_the_upload(client, media_dir):
    data = (media_dir / "exif" / "orientation_2.jpg").read_bytes()
    up = client.post("/api/uploads", json={"filename": "x.jpg", "size": len(data), "sha256": "0" * 64}).json
    r = _send(client, up["id"], 0, data)
    assert r.status_code == 422 and r.json["error"] == "checksum_mismatch"
    assert client.get(f"/api/uploads/{up['id']}").json["offset"] == 0


def test_unusable_image_fails_with_4xx(client, media_dir):
    data = (media_dir / "bad" / "not_an_image.jpg").read_bytes()
    up = _create(client, data, name="not_an_image.jpg").json
    r = _send(client, up["id"], 0, data)
    assert 400 <= r.status_code < 500
    assert r.json["upload"]["status"] == "failed"


def test_limits(client, settings):
    settings.max_upload_bytes = 1000
    r = client.post("/api/uploads", json={"filename": "big.jpg", "size": 1001})
    assert r.status_code == 413
    settings.max_concurrent_uploads = 2
    ids = [client.post("/api/uploads", json={"filename": f"{i}.jpg", "size": 10}).json["id"] for i in range(2)]
    r = client.post("/api/uploads", json={"filename": "3.jpg", "size": 10})
    assert r.status_code == 429 and r.json["error"] == "too_many_uploads"
    assert {u["id"] for u in client.get("/api/uploads").json["items"]} == set(ids)
    # a body longer than announced is refused, keeping only the announced bytes
    r = _send(client, ids[0], 0, b"x" * 11)
    assert r.status_code == 413
    assert client.delete(f"/api/uploads/{ids[1]}").status_code == 204
    assert client.post("/api/uploads", json={"filename": "3.jpg", "size": 10}).status_code == 201


def test_bad_requests_are_400(client):
    for body in ({"filename": "a.jpg"}, {"filename": "a.jpg", "size": "12"}, {"filename": "", "size": 3},
                 {"filename": "a.jpg", "size": True}, {"filename": "a.jpg", "size": 3, "sha256": "zz"}):
        r = client.post("/api/uploads", json=body)
        assert r.status_code == 400, (body, r.json)
    assert client.post("/api/uploads", data="{nope", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/api/uploads/check", json={"sha256": ["abc"]}).status_code == 400
    up = client.post("/api/uploads", json={"filename": "a.jpg", "size": 3}).json
    assert client.patch(f"/api/uploads/{up['id']}", data=b"abc").status_code == 400  # no offset
    assert client.patch(f"/api/uploads/{up['id']}?offset=-1", data=b"abc").status_code == 400
    assert client.get("/api/uploads/u_nope").status_code == 404


def test_other_devices_uploads_are_invisible(client, app):
    from jaicat.devices import pairing

    up = client.post("/api/uploads", json={"filename": "a.jpg", "size": 3}).json
    code, _ = pairing.create_code()
    _, token = pairing.redeem_code(code, "other")
    r = app.test_client().get(f"/api/uploads/{up['id']}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404


def test_expired_uploads_are_removed(client, settings):
    up = client.post("/api/uploads", json={"filename": "a.jpg", "size": 3}).json
    assert (settings.uploads / up["id"] / "data").exists()
    assert receiver(client).expire(now=dt.datetime.now() + dt.timedelta(hours=1)) == 0
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(
        hours=settings.upload_expire_hours + 1)
    assert receiver(client).expire(now=later) == 1
    assert not (settings.uploads / up["id"]).exists() and Upload.select().count() == 0


def test_resume_in_a_new_process_verifies_by_rereading(client, media_dir):
    """After a server restart the running hash is gone: the finished file is hashed from disk."""
    data = (media_dir / "exif" / "orientation_4.jpg").read_bytes()
    up = _create(client, data).json
    assert _send(client, up["id"], 0, data[:5000]).json["offset"] == 5000
    with receiver(client)._lock:
        receiver(client)._drop_hasher(up["id"])  # what a restart does
    r = _send(client, up["id"], 5000, data[5000:])
    assert r.status_code == 200 and r.json["status"] == "done"
    bad = client.post("/api/uploads", json={"filename": "b.jpg", "size": len(data), "sha256": "1" * 64}).json
    _send(client, bad["id"], 0, data[:100])
    with receiver(client)._lock:
        receiver(client)._drop_hasher(bad["id"])
    assert _send(client, bad["id"], 100, data[100:]).json["error"] == "checksum_mismatch"


def test_a_second_writer_is_refused_while_a_chunk_arrives(client, settings):
    import threading

    import pytest

    from jaicat.db import database

    up = client.post("/api/uploads", json={"filename": "a.jpg", "size": 10}).json
    started, release = threading.Event(), threading.Event()

    class Slow(io.RawIOBase):
        def __init__(self):
            self.done = False

        def read(self, n=-1):
            started.set()
            release.wait(5)
            if self.done:
                return b""
            self.done = True
            return b"abcde"

    result = {}

    def first():
        with database.connection_context():
            result["up"] = receiver(client).write_chunk(up["id"], 0, Slow())[0]

    t = threading.Thread(target=first)
    t.start()
    started.wait(5)
    with pytest.raises(uploads.UploadBusy):
        receiver(client).write_chunk(up["id"], 0, io.BytesIO(b"zzzzz"))
    release.set()
    t.join(5)
    assert result["up"].offset == 5
    with pytest.raises(uploads.OffsetMismatch):
        receiver(client).write_chunk(up["id"], 0, io.BytesIO(b"zzzzz"))


def test_bytes_are_pushed_to_disk_while_they_arrive(client, settings, full_media_dir, monkeypatch):
    """Every received byte is handed to the disk (sync_file_range) during the upload, so the fsync
    that ends it has little left to write; both the spliced and the buffered path, in order, and
    a chunk that breaks off still leaves the running hash exactly at the saved offset."""
    import pytest

    if hashing._sync_file_range is None:
        pytest.skip("sync_file_range is Linux-only")
    pushed: list[tuple[int, int]] = []
    real = hashing._sync_file_range

    def record(fd, pos, n, flags):
        assert flags == hashing.SYNC_FILE_RANGE_WRITE
        pushed.append((pos, n))
        return real(fd, pos, n, flags)

    monkeypatch.setattr(hashing, "_sync_file_range", record)
    monkeypatch.setattr(uploads, "CHUNK_BUFFER", 16 * 1024)  # reads of the buffered path
    monkeypatch.setattr(uploads, "PUSH_STEP", 64 * 1024)
    data = (full_media_dir / "exif_real" / "Landscape_3.jpg").read_bytes()
    data += bytes(range(256)) * 2000  # trailing bytes past the JPEG: decoders stop before them

    class Spliced(io.BytesIO):
        """A body that writes into the file itself, as rawbody.SocketBody does; it can break off."""

        def __init__(self, data, drop_after=None):
            super().__init__(data)
            self.drop_after = drop_after

        def copy_to(self, fd, pos, count):
            if self.drop_after is not None and self.tell() >= self.drop_after:
                raise ConnectionResetError("phone left the Wi-Fi")
            return os.pwrite(fd, self.read(min(count, 10_000)), pos)

    half = len(data) // 2
    for name, body in (("spliced.jpg", Spliced), ("buffered.jpg", io.BytesIO)):
        pushed.clear()
        up = _create(client, data, name=name).json
        if body is Spliced:  # the first chunk stops after 100_000 bytes: resume from there
            with pytest.raises(ConnectionResetError):
                receiver(client).write_chunk(up["id"], 0, Spliced(data[:half], drop_after=100_000))
            assert uploads.get_upload(up["id"]).offset == 100_000 and up["id"] in receiver(client)._hashers
            receiver(client).write_chunk(up["id"], 100_000, body(data[100_000:half]))
        else:
            receiver(client).write_chunk(up["id"], 0, body(data[:half]))
        done, result = receiver(client).write_chunk(up["id"], half, body(data[half:]))
        assert result is not None and not result.duplicate and done.photo_id == result.photo.id
        assert Photo.get_by_id(done.photo_id).sha256 == _sha(data)
        covered = 0
        for pos, n in pushed:
            if n:
                assert pos == covered, (name, pushed)
                covered += n
        assert covered == len(data) and len(pushed) > 4, (name, pushed)
        data = data + b"x"  # the second file must not be a duplicate of the first
