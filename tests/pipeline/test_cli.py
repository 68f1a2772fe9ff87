"""`jaicat scan / analyse / models / search / tag / regions` end to end through the CLI entry point."""

from __future__ import annotations

import json
import shutil

import pytest

from jaicat.cli.main import main
from jaicat.db import Photo, Region, database


@pytest.fixture
def data_dir(tmp_path, tiny_models, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    (d / "jaicat.toml").write_text(
        f'clip_model = "{tiny_models["clip"]}"\ncaption_model = "{tiny_models["caption"]}"\n'
        "tag_threshold = 0.0\ntag_top_k = 2\nzeroconf = false\n")
    for k in list(__import__("os").environ):
        if k.startswith("JAICAT_"):
            monkeypatch.delenv(k)
    yield d
    if not database.is_closed():
        database.close()


def run(data_dir, *argv):
    return main(["--data-dir", str(data_dir), *argv])


def test_scan_imports_and_analyses_hands_off(data_dir, media_dir, capsys, tmp_path):
    src = tmp_path / "phone"
    shutil.copytree(media_dir / "exif", src)
    (src / "notes.txt").write_text("not a photo")
    shutil.copy(media_dir / "bad" / "truncated.jpg", src / "truncated.jpg")
    assert run(data_dir, "scan", "--quiet", str(src)) == 0
    out = capsys.readouterr().out
    # jpeg_named.png is a byte-copy of one orientation file: a duplicate, not a new photo
    assert "imported 8, duplicates 1, rejected 1" in out and "analysed 8 photos" in out and "clip+tags" in out and "caption" in out
    assert Photo.select().where(Photo.analysed_at.is_null()).count() == 0
    assert Photo.select().where(Photo.embedding.is_null()).count() == 0
    # a second scan finds nothing new to do
    assert run(data_dir, "scan", "--quiet", str(src)) == 0
    assert "nothing to analyse" in capsys.readouterr().out


def test_search_tag_and_regions_commands(data_dir, media_dir, capsys, tmp_path):
    assert run(data_dir, "scan", "--quiet", str(media_dir / "exif" / "orientation_1.jpg"),
               str(media_dir / "exif" / "orientation_3.jpg")) == 0
    capsys.readouterr()
    ids = [p.id for p in Photo.select().order_by(Photo.id)]
    assert run(data_dir, "tag", "add", str(ids[0]), "Flag", "test card") == 0
    assert run(data_dir, "tag", "remove", str(ids[1]), "flag") == 0
    capsys.readouterr()
    assert run(data_dir, "search", "--json", "tag:flag") == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in hits] == [ids[0]]
    assert run(data_dir, "search", "a red flag", "--limit", "5") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.split()[0].isdigit() for line in lines)
    assert run(data_dir, "tag", "list", str(ids[1]), "--all") == 0
    assert "(removed)" in capsys.readouterr().out

    ann = tmp_path / "region_annotations.json"
    ann.write_text(json.dumps({"orientation_1.jpg": [{"label": "F", "box": [0.3, 0.3, 0.7, 0.7]}],
                               "orientation_3.jpg": [{"label": "band", "box": [0, 0, 1, 0.2]}],
                               "elsewhere.jpg": []}))
    assert run(data_dir, "regions", "import", str(ann)) == 0
    out = capsys.readouterr().out
    assert "2 regions on 2 photos" in out and "elsewhere.jpg" in out
    assert Region.select().count() == 2
    first = Region.select().order_by(Region.id).first()
    assert run(data_dir, "regions", "similar", str(first.id)) == 0
    assert "region" in capsys.readouterr().out
    exported = tmp_path / "out.json"
    assert run(data_dir, "regions", "export", str(exported)) == 0
    assert sum(len(v) for v in json.loads(exported.read_text()).values()) == 2


def test_models_list_and_pull_from_folder(data_dir, tiny_models, tmp_path, capsys):
    toml = data_dir / "jaicat.toml"
    toml.write_text('clip_model = "acme/tiny-clip"\ncaption_model = "acme/tiny-blip"\n')
    assert run(data_dir, "models", "list") == 1
    out = capsys.readouterr().out
    assert "MISSING" in out and "jaicat models pull acme/tiny-clip" in out
    usb = tmp_path / "usb"
    shutil.copytree(tiny_models["clip"], usb / "acme--tiny-clip")
    shutil.copytree(tiny_models["caption"], usb / "acme" / "tiny-blip")
    assert run(data_dir, "models", "pull", "--from", str(usb)) == 0
    capsys.readouterr()
    assert run(data_dir, "models", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["available"] for r in rows if r["role"] and not r.get("optional")} == \
        {"acme/tiny-clip": True, "acme/tiny-blip": True}
    # the onnx face detector is listed, optional: faces work with dlib's detectors without it
    assert [(r["role"], r["available"]) for r in rows if r.get("optional")] == [("faces", False)]
    assert run(data_dir, "models", "list") == 0
    assert "MISSING" not in capsys.readouterr().out


def test_scan_without_weights_still_analyses(data_dir, media_dir, capsys, caplog):
    (data_dir / "jaicat.toml").write_text('clip_model = "nobody/none"\ncaption_model = "nobody/none2"\n')
    assert run(data_dir, "scan", "--quiet", str(media_dir / "exif" / "orientation_1.jpg")) == 0
    out = capsys.readouterr().out
    assert "analysed 1 photos (decode, faces)" in out
    assert "jaicat models pull" in caplog.text
    assert run(data_dir, "analyse", "--missing", "--quiet") == 0
    assert "requeued 1" in capsys.readouterr().out
