"""Backup and restore: a snapshot taken while the server works brings everything back, nothing lost."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaicat.backup import snapshot as bk
from jaicat.backup import restore as rs
from jaicat.photos import library
from jaicat.cli.main import main as cli_main
from jaicat.config import load_settings
from jaicat.db import Decision, FaceEncoding, Person, Photo, PhotoTag, Tag, database, open_db, vec_to_blob
from jaicat.errors import Conflict, InvalidInput
from jaicat.photos.ingest import ingest_file, thumb_path


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def rows(db_path: Path, sql: str) -> list:
    with closing(sqlite3.connect(db_path)) as c:
        return c.execute(sql).fetchall()


def make_jpegs(folder: Path, n: int, start: int = 0) -> list[Path]:
    """Small distinct JPEGs (ingest deduplicates by content, so each differs)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + n):
        p = folder / f"IMG_{i:04d}.jpg"
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(p, quality=80)
        out.append(p)
    return out


@pytest.fixture
def populated(settings, media_dir, tmp_path):
    """A working catalogue: inbox and filed photos, tags, people with encodings, a config and certs."""
    for name in ("orientation_1.jpg", "orientation_6.jpg", "orientation_3.jpg"):
        ingest_file(media_dir / "exif" / name, settings)
    ingest_file(media_dir / "heic" / "upright.heic", settings)
    filed = Photo.get(Photo.original_filename == "orientation_6.jpg")
    library.file_photo(filed, "2024/Trip", settings)
    PhotoTag.create(photo=filed, tag=Tag.named("trip"), source="user")
    rng = np.random.default_rng(7)
    for name in ("Amy H", "Becky (1)"):
        person = Person.create(name=name)
        for k in range(2):
            FaceEncoding.create(person=person, encoding=vec_to_blob(rng.normal(size=128)), origin=f"test:{k}")
    inbox_photo = Photo.get(Photo.original_filename == "orientation_1.jpg")
    (settings.inbox / f"{inbox_photo.path}.xmp").write_text("<x:xmpmeta/>", encoding="utf-8")  # from import
    (settings.data_dir / "jaicat.toml").write_text("port = 8899\n", encoding="utf-8")
    certs = settings.data_dir / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (certs / "ca.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    os.chmod(certs / "ca.key", 0o600)
    return settings


def test_backup_restore_round_trip(populated, tmp_path):
    settings = populated
    report = bk.backup(settings, tmp_path / "backups" / "first")
    dest = report.path
    assert dest == tmp_path / "backups" / "first" and dest.is_dir()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no temp dir left behind
    assert dest.stat().st_mode & 0o777 == 0o700  # it holds certificate keys: private
    m = json.loads((dest / "manifest.json").read_text())
    assert m["counts"]["photo"] == 4 and m["counts"]["person"] == 2 and m["counts"]["faceencoding"] == 4
    assert m["photos"] == {"inbox": 3, "library": 0, "library_in_catalogue": 1}
    assert m["included"]["faces_npy"] == 4 and m["included"]["config"] and m["included"]["certs"] == 2
    assert m["problems"] == []
    assert "filed photos in the library folder" in m["not_included"]
    for rel, facts in m["files"].items():
        assert sha(dest / rel) == facts["sha256"], rel
    assert len(list((dest / "faces").glob("*.npy"))) == 4

    # restore into an empty data dir; the library (not in the backup) is the same folder as before
    target = load_settings(data_dir=tmp_path / "restored", env={}, library_dir=settings.library)
    restored = rs.restore(target, dest)
    assert restored.moved_aside is None and restored.library_missing == 0
    for table in ("photo", "person", "faceencoding", "decision", "phototag", "tag", "folder"):
        assert rows(target.db_path, f"SELECT * FROM {table} ORDER BY id") == \
            rows(settings.db_path, f"SELECT * FROM {table} ORDER BY id"), table
    for photo_sha, root, rel in rows(target.db_path, "SELECT sha256, root, path FROM photo"):
        assert sha(target.root_path(root) / rel) == photo_sha
        for size in target.thumb_sizes:
            assert thumb_path(target, photo_sha, size).is_file()
    (inbox_rel,) = rows(target.db_path, "SELECT path FROM photo WHERE original_filename='orientation_1.jpg'")[0]
    assert (target.inbox / f"{inbox_rel}.xmp").read_text() == "<x:xmpmeta/>"
    assert (target.data_dir / "jaicat.toml").read_text() == "port = 8899\n"
    assert (target.data_dir / "certs" / "ca.key").stat().st_mode & 0o777 == 0o600
    # and the restored catalogue opens and works
    database.close()
    open_db(target.db_path)
    assert Person.select().count() == 2
    assert {bytes(e.encoding) for e in FaceEncoding.select()} == {
        bytes(b) for (b,) in rows(settings.db_path, "SELECT encoding FROM faceencoding")}


def test_restore_refuses_a_catalogue_with_data_and_force_keeps_it(populated, tmp_path, media_dir):
    settings = populated
    dest = bk.backup(settings, tmp_path / "bk").path
    late = ingest_file(media_dir / "exif" / "orientation_8.jpg", settings).photo  # work after the backup
    before = rows(settings.db_path, "SELECT sha256 FROM photo ORDER BY id")
    with pytest.raises(Conflict, match="open in another process"):  # as if the server still ran
        rs.restore(settings, dest, force=True)
    database.close()
    with pytest.raises(Conflict, match="use --force"):
        rs.restore(settings, dest)
    assert rows(settings.db_path, "SELECT sha256 FROM photo ORDER BY id") == before

    report = rs.restore(settings, dest, force=True)
    assert report.moved_aside is not None and report.moved_aside.parent == settings.data_dir
    assert rows(report.moved_aside / "jaicat.db", "SELECT sha256 FROM photo ORDER BY id") == before
    assert sha(report.moved_aside / "inbox" / late.path) == late.sha256  # kept aside, not lost
    assert len(rows(settings.db_path, "SELECT id FROM photo")) == 4


def test_damaged_backup_restores_nothing(populated, tmp_path):
    dest = bk.backup(populated, tmp_path / "bk").path
    victim = next((dest / "inbox").rglob("*.jpg"))
    victim.write_bytes(victim.read_bytes()[:-10])
    target = load_settings(data_dir=tmp_path / "restored", env={})
    with pytest.raises(InvalidInput, match="damaged"):
        rs.restore(target, dest)
    assert not target.db_path.exists()


def test_failed_backup_leaves_nothing_half_written(populated, tmp_path, monkeypatch):
    def boom(settings, dest, problems):
        raise OSError("disk full")

    monkeypatch.setattr(bk, "_export_faces", boom)
    with pytest.raises(OSError):
        bk.backup(populated, tmp_path / "bk")
    assert list(tmp_path.glob("*bk*")) == []


def test_with_library_and_into_an_existing_folder(populated, tmp_path):
    settings = populated
    (tmp_path / "disk").mkdir()
    report = bk.backup(settings, tmp_path / "disk", library=True, thumbs=False)
    assert report.path.parent == tmp_path / "disk" and report.path.name.startswith("jaicat-backup-")
    assert report.manifest["photos"]["library"] == 1
    assert not (report.path / "thumbs").exists()
    # a new machine: neither data dir nor library exist yet
    target = load_settings(data_dir=tmp_path / "new" / "data", env={}, library_dir=tmp_path / "new" / "lib")
    restored = rs.restore(target, report.path)
    assert restored.library_restored == 1 and restored.library_missing == 0
    (rel,) = [r for (r,) in rows(target.db_path, "SELECT path FROM photo WHERE root='library'")]
    assert (target.library / rel).is_file()


def test_backup_while_photos_arrive_and_are_filed(settings, tmp_path):
    """Uploads and filing keep going during the backups; every snapshot is complete by itself."""
    for p in make_jpegs(tmp_path / "first", 10):
        ingest_file(p, settings)
    incoming = make_jpegs(tmp_path / "incoming", 40, start=100)
    stop = threading.Event()
    errors = []

    def work():
        try:
            database.connect(reuse_if_open=True)
            for i, p in enumerate(incoming):
                if stop.is_set():
                    break
                photo = ingest_file(p, settings).photo
                if i % 3 == 0:  # file some, including older ones the snapshot holds in the inbox
                    older = Photo.select().where(Photo.root == "inbox").order_by(Photo.id).first()
                    library.file_photo(older or photo, f"sorted/{i % 4}", settings)
        except Exception as e:  # reported below: a failure here must fail the test
            errors.append(e)
        finally:
            database.close()

    worker = threading.Thread(target=work)
    worker.start()
    backups = []
    try:
        while worker.is_alive() and len(backups) < 6:
            backups.append(bk.backup(settings, tmp_path / "bk" / f"b{len(backups)}"))
    finally:
        stop.set()
        worker.join()
    assert not errors, errors
    backups.append(bk.backup(settings, tmp_path / "bk" / "final"))
    assert len(backups) >= 2
    for report in backups:
        m = report.manifest
        assert m["problems"] == [], m["problems"]
        inbox = rows(report.path / "jaicat.db", "SELECT sha256, path FROM photo WHERE root='inbox'")
        assert m["photos"]["inbox"] == len(inbox)
        for photo_sha, rel in inbox:
            assert sha(report.path / "inbox" / rel) == photo_sha

    target = load_settings(data_dir=tmp_path / "restored", env={}, library_dir=settings.library)
    rs.restore(target, backups[-1].path)
    live = rows(settings.db_path, "SELECT sha256, root, path FROM photo ORDER BY id")
    assert rows(target.db_path, "SELECT sha256, root, path FROM photo ORDER BY id") == live
    assert len(live) == 50
    for photo_sha, root, rel in live:
        assert sha(target.root_path(root) / rel) == photo_sha


def test_cli_backup_and_restore(populated, tmp_path, capsys):
    settings = populated
    database.close()
    assert cli_main(["--data-dir", str(settings.data_dir), "backup", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert f"backup written to {tmp_path / 'cli'}" in out and "4 photos (3 in the inbox, 1 filed)" in out
    database.close()  # the backup command's process would have exited
    args = ["--data-dir", str(settings.data_dir), "restore", str(tmp_path / "cli")]
    assert cli_main(args) == 2  # the catalogue is not empty
    assert "use --force" in capsys.readouterr().err
    assert cli_main([*args, "--force"]) == 0
    assert "previous data was kept in" in capsys.readouterr().out
    assert Decision.select().count() == 1


def test_keep_prunes_only_older_complete_backups(populated, tmp_path, capsys):
    settings = populated
    folder = tmp_path / "nightly"
    folder.mkdir()
    for stamp in ("20240101T000000Z", "20240102T000000Z", "20240103T000000Z"):
        old = folder / f"jaicat-backup-{stamp}"
        old.mkdir()
        (old / "manifest.json").write_text(json.dumps({"format": "jaicat-backup"}))
    (folder / "jaicat-backup-20240104T000000Z").mkdir()  # no manifest: not known to be ours, kept
    (folder / "notes").mkdir()
    database.close()
    args = ["--data-dir", str(settings.data_dir), "backup", str(folder), "--keep", "2"]
    assert cli_main(args) == 0
    (new,) = [p.name for p in folder.iterdir() if p.name.startswith("jaicat-backup-") and p.name > "jaicat-backup-2025"]
    assert (folder / new / "manifest.json").is_file()
    # the two newest complete backups stay; the unverifiable one and the foreign folder are untouched
    assert sorted(p.name for p in folder.iterdir()) == [
        "jaicat-backup-20240103T000000Z", "jaicat-backup-20240104T000000Z", new, "notes"]
    assert "removed old backup" in capsys.readouterr().out
    assert cli_main(["--data-dir", str(settings.data_dir), "backup", str(tmp_path / "new"), "--keep", "2"]) == 2
