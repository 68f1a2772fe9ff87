"""Crash safety: kill -9 at random instants while photos are filed and uploads finish; after
`jaicat check --repair` (what every server start runs) no row points at a missing file, nothing is
orphaned, and no photo is lost: each upload is catalogued or resumes from its true offset."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from jaicat.backup.check import CheckReport, check
from jaicat.db import Photo, Upload
from jaicat.photos import journal, library
from jaicat.photos.ingest import ingest_file

ROOT = Path(__file__).resolve().parents[2]

# One process of the household's activity: resume unfinished uploads, then file photos back and
# forth and finish new uploads until killed (or, with "finish", until every upload is done).
SCRIPT = r'''
import io, random, sys
from pathlib import Path
from jaicat.config import load_settings
from jaicat.runtime import Runtime
from jaicat.db import Photo, Upload
from jaicat.photos import library, uploads

data_dir, seed, blobs, mode = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
settings = load_settings(data_dir=data_dir, env={})
Runtime(settings).open()
rnd = random.Random(seed)
for up in Upload.select().where(Upload.photo.is_null() & Upload.error.is_null()):
    data = (blobs / up.filename).read_bytes()
    uploads.Receiver(settings).write_chunk(up.id, up.offset, io.BytesIO(data[up.offset:]), len(data) - up.offset)
print("ready", flush=True)
if mode == "finish":
    sys.exit(0)
names = sorted(p.name for p in blobs.iterdir())
known = {p.original_filename for p in Photo.select()}
while True:
    for p in list(Photo.select().where(Photo.root.in_(["inbox", "library"])).order_by(Photo.id))[-12:]:
        library.file_photo(p, rnd.choice(["Trips", "Family/Kids", "Pets", "2024/07 Beach"]), settings)
    todo = [n for n in names if n not in known]
    if todo:
        name = todo[0]
        known.add(name)
        data = (blobs / name).read_bytes()
        sha = __import__("hashlib").sha256(data).hexdigest() if rnd.random() < 0.5 else None
        print("start", name, flush=True)
        up = uploads.create_upload(settings, None, name, len(data), sha256=sha)
        cut = rnd.randrange(1, len(data))
        uploads.Receiver(settings).write_chunk(up.id, 0, io.BytesIO(data[:cut]), cut)
        uploads.Receiver(settings).write_chunk(up.id, cut, io.BytesIO(data[cut:]), len(data) - cut)
'''


def _blobs(d: Path, n: int) -> dict[str, str]:
    d.mkdir()
    out = {}
    for i in range(n):
        rnd = random.Random(i)
        im = Image.new("RGB", (64, 48), tuple(rnd.randrange(256) for _ in range(3)))
        im.putdata([tuple(rnd.randrange(256) for _ in range(3)) for _ in range(64 * 48)])
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        (d / f"IMG_{i:04d}.jpg").write_bytes(buf.getvalue())
        out[f"IMG_{i:04d}.jpg"] = hashlib.sha256(buf.getvalue()).hexdigest()
    return out


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT / "server"), "PYTHONUNBUFFERED": "1"}


def _jaicat(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaicat", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=_env(), timeout=120)


def _audit(settings) -> dict:
    """What must be zero after the repair."""
    bad_rows = sum(1 for p in Photo.select().where(Photo.root.in_(["inbox", "library"]))
                   if not (library.photo_file(p, settings)).is_file()
                   or hashlib.sha256(library.photo_file(p, settings).read_bytes()).hexdigest() != p.sha256)
    claimed = {p.path for p in Photo.select(Photo.path).where(Photo.root == "inbox")}
    orphans = [f for f in settings.inbox.rglob("*") if f.is_file() and f.relative_to(settings.inbox).as_posix() not in claimed]
    temps = list(settings.tmp.glob("ingest-*")) + list(settings.library.rglob(".jaicat-*"))
    return {"rows_pointing_at_missing_files": bad_rows, "orphans": len(orphans), "temp_files": len(temps),
            "filing_intents": len(journal.pending())}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_20_kills_during_filing_and_upload_finishing(settings, tmp_path):
    blobs = _blobs(tmp_path / "phone", 30)
    script = tmp_path / "household.py"
    script.write_text(SCRIPT)
    rnd = random.Random(11)
    found = {"filings_rolled_back": 0, "filings_rolled_forward": 0, "relinked": 0, "uploads_fixed": 0,
             "orphans": 0, "temp_files": 0}
    started: set[str] = set()
    for kill in range(20):
        proc = subprocess.Popen([sys.executable, str(script), str(settings.data_dir), str(kill), str(tmp_path / "phone"), "run"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rnd.uniform(0.05, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        started |= {line.split()[1] for line in out.splitlines() if line.startswith("start ")}
        r = _jaicat(settings.data_dir, "check", "--repair", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        report = json.loads(r.stdout)
        for k in found:
            found[k] += report[k] if isinstance(report[k], int) else len(report[k])
        assert _audit(settings) == {"rows_pointing_at_missing_files": 0, "orphans": 0, "temp_files": 0,
                                    "filing_intents": 0}, kill
    # every upload started is catalogued, or resumes from its true offset and finishes now
    done = subprocess.run([sys.executable, str(script), str(settings.data_dir), "0", str(tmp_path / "phone"), "finish"],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    catalogued = {sha for (sha,) in Photo.select(Photo.sha256).tuples()}
    lost = [n for n in started if blobs[n] not in catalogued]
    print(f"\n20 kills: {len(started)} uploads started, {len(catalogued)} photos catalogued, lost {len(lost)}; "
          f"repairs: {found}; after repair: {_audit(settings)}")
    assert lost == []
    assert _audit(settings)["rows_pointing_at_missing_files"] == 0
    assert check(settings).clean


def _jpeg(i: int) -> bytes:
    rnd = random.Random(1000 + i)
    im = Image.new("RGB", (32, 24))
    im.putdata([tuple(rnd.randrange(256) for _ in range(3)) for _ in range(32 * 24)])
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_each_kind_of_drift_is_reported_then_repaired(settings, tmp_path):
    """One of every case check() reconciles, side by side: a moved and a lost photo, inbox orphans,
    unfinished uploads in each state a crash leaves, temp files; reported alike without and with
    repair, and clean (but for the lost photo) afterwards."""
    blobs = [_jpeg(i) for i in range(10)]
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"p{i}.jpg").write_bytes(blobs[i])
        ingest_file(src / f"p{i}.jpg", settings)
    ps = list(Photo.select().order_by(Photo.id))
    (settings.inbox / "moved").mkdir()
    os.replace(library.photo_file(ps[0], settings), settings.inbox / "moved" / "x.jpg")
    library.photo_file(ps[1], settings).unlink()
    (settings.inbox / "orphan.jpg").write_bytes(blobs[6])
    (settings.inbox / "notes.txt").write_text("not a photo")
    (settings.library / "A").mkdir(parents=True)
    (settings.library / "A" / ".jaicat-1.part").write_bytes(b"zz")
    sha = [hashlib.sha256(b).hexdigest() for b in blobs]
    ups = settings.uploads
    Upload.create(id="named", filename="a.jpg", size=len(blobs[7]), offset=5)  # renamed for ingest
    (ups / "named").mkdir(parents=True)
    (ups / "named" / "a.jpg").write_bytes(blobs[7])
    Upload.create(id="in-ingest", filename="b.jpg", size=len(blobs[8]), sha256=sha[8], offset=9)
    (settings.tmp / "ingest-1.part").write_bytes(blobs[8])
    (settings.tmp / "ingest-2.part").write_bytes(b"spare")
    Upload.create(id="catalogued", filename="c.jpg", size=len(blobs[3]), sha256=sha[3], offset=3)
    Upload.create(id="short", filename="d.jpg", size=100, offset=50)
    (ups / "short").mkdir()
    (ups / "short" / "data").write_bytes(b"x" * 20)
    Upload.create(id="fine", filename="e.jpg", size=100, offset=10)
    (ups / "fine").mkdir()
    (ups / "fine" / "data").write_bytes(b"x" * 10)

    seen = check(settings)
    assert (seen.relinked, seen.missing) == ([ps[0].id], [ps[1].id])
    assert sorted(seen.orphans) == ["moved/x.jpg", "orphan.jpg"]  # the moved file is unclaimed until repaired
    assert sorted(seen.uploads_fixed) == ["catalogued", "in-ingest", "named", "short"]
    assert sorted(seen.temp_files) == ["A/.jaicat-1.part", "ingest-2.part"]
    assert (settings.library / "A" / ".jaicat-1.part").exists()  # nothing changed without repair

    fixed = check(settings, repair=True)
    assert (fixed.relinked, fixed.orphans, fixed.orphans_catalogued) == ([ps[0].id], ["orphan.jpg"], 1)
    assert sorted(fixed.uploads_fixed) == sorted(seen.uploads_fixed) and fixed.temp_files == seen.temp_files
    assert Photo.get_by_id(ps[0].id).path == "moved/x.jpg"
    assert (ups / "named" / "data").read_bytes() == blobs[7]
    assert (ups / "in-ingest" / "data").read_bytes() == blobs[8]
    assert Upload.get_by_id("catalogued").photo_id == ps[3].id
    assert Upload.get_by_id("short").offset == 20 and Upload.get_by_id("fine").offset == 10
    assert not list(settings.tmp.glob("ingest-*")) and not (settings.library / "A" / ".jaicat-1.part").exists()

    after = check(settings)
    assert after.missing == [ps[1].id] and not (after.relinked or after.orphans or after.uploads_fixed
                                                 or after.temp_files)


def test_every_line_of_the_report_says_what_it_counts():
    """No bare jargon: the upload line says what was fixed and what happens next."""
    lines = CheckReport(uploads_fixed=[7], repaired=True).lines()
    line = next(x for x in lines if x.endswith(": 1"))
    assert line.startswith("unfinished uploads set to the bytes really received") and "the phone sends the rest" in line
    assert "resumed from their true offset" not in "\n".join(lines)
