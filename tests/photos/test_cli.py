"""The command line as a user runs it (a real subprocess per command)."""

from __future__ import annotations

import json
import re
import subprocess
import sys


def jaicat(data_dir, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "jaicat", "--data-dir", str(data_dir), *args],
                       capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"jaicat {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def test_import_reports_rejects_and_second_run_is_a_noop(tmp_path, media_dir):
    d = tmp_path / "data"
    r = jaicat(d, "import", str(media_dir / "exif"), str(media_dir / "bad"))
    # jpeg_named.png holds the same bytes as orientation_1.jpg: stored once
    assert "imported 8, duplicates 1, rejected 5" in r.stdout
    assert "truncated.jpg: cannot decode" in r.stdout
    assert "zero_bytes.jpg: file is empty" in r.stdout
    r = jaicat(d, "import", str(media_dir / "exif"), "--json")
    assert json.loads(r.stdout)["imported"] == []


def test_file_tree_undo_dupes(tmp_path, media_dir):
    d = tmp_path / "data"
    jaicat(d, "import", str(media_dir / "exif"))
    # files are imported in parallel: which one got which id, by name
    ids = {m["filename"]: str(m["id"]) for g in json.loads(jaicat(d, "dupes", "--json").stdout) for m in g}
    r = jaicat(d, "file", "1", "Paris/Eiffel")
    assert "Paris/Eiffel/" in r.stdout
    assert "Eiffel/  (1)" in jaicat(d, "tree").stdout
    r = jaicat(d, "file", "2", "../../etc", check=False)
    assert r.returncode == 2 and "leaves the library" in r.stderr
    assert "is back at inbox/" in jaicat(d, "undo").stdout
    assert jaicat(d, "undo", check=False).returncode == 2
    groups = json.loads(jaicat(d, "dupes", "--json").stdout)
    # the 8 orientation files are the same upright scene, so one near-duplicate group holds them all
    assert any(len(g) >= 8 for g in groups)
    # the listing names photos as the user knows them: file name and where it is, not inbox names
    jaicat(d, "file", ids["orientation_3.jpg"], "Paris")
    text = jaicat(d, "dupes").stdout
    assert "orientation_2.jpg  in the inbox" in text and "orientation_3.jpg  in Paris" in text
    assert not re.search(r"[0-9a-f]{16}\.jpg", text)


def test_doctor(tmp_path):
    r = jaicat(tmp_path / "data", "doctor", "--json")
    report = json.loads(r.stdout)
    assert report["face_models"]["ok"] is True
    detectors = report["face_detectors"]
    assert detectors["thorough"] in ("yunet", "hog", "cnn") and detectors["backends"]["hog"]["available"]
    one = detectors["one_pass"]
    assert one["backend"] in ("yunet", "hog") and one["side"] == 1000 and one["ms"] > 0
    assert "models pull" in detectors["backends"]["onnx"]["error"]  # no detector pulled in a fresh data dir
    assert "torch" in report["versions"]
    assert report["face_encoder"] == {"runtime": "onnxruntime", "error": None}
    r = jaicat(tmp_path / "data", "doctor")
    assert r.returncode == 0 and "face encoder: dlib's ResNet on onnxruntime" in r.stdout
    assert "Warning" not in r.stderr and "pkg_resources" not in r.stderr, r.stderr  # a clean first line
    assert f"one pass {one['backend']} on cpu, a copy 1000 px long" in r.stdout
