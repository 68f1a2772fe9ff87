"""One owner for the data directory, on the real server.

- A first start with a library that already has folders of photos learns them as a background job
  (progress over the websocket as `job.progress`), once; afterwards waiting photos are suggested
  into those folders.
- A `jaicat` command that changes things while the server runs asks the server over loopback with
  the local credential: the server does the change itself, so its websocket announces it and its
  suggester knows it at once.
- Without a server, a writing command holds the data directory: a second one waits or is told.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import requests
from fixtures.browser import pair_phone, upload_bytes as upload
from fixtures.library import dated_jpeg, fill_library
from fixtures.phone_socket import PhoneSocket

pytestmark = [pytest.mark.timeout(300)]

PER_FOLDER = 60


def learn_jobs(server) -> list[dict]:
    return [j for j in server.get("/api/jobs").json()["items"] if j["kind"] == "learn-library"]


def wait_learned(server, count: int = 1, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [j for j in learn_jobs(server) if j["status"] == "done"]
        if len(done) >= count:
            return done[0]
        time.sleep(0.1)
    pytest.fail(f"the library was not learned: {learn_jobs(server)}\n{server.log()[-3000:]}")


@pytest.fixture
def server(live_server_factory, tmp_path):
    """A first start on a library with two folders of photos (Rome, May 2023; Beach, July 2024)."""
    library = tmp_path / "existing-library"
    fill_library(library, PER_FOLDER)
    return live_server_factory(library_dir=str(library))


def test_first_start_learns_the_library_with_progress_once(server):
    n = 2 * PER_FOLDER
    job = wait_learned(server)
    assert (job["done"], job["total"]) == (n, n) and job["message"].startswith(f"learned {n} photos")
    # waiting photos are suggested into the folders the library already had
    rome = upload(server, dated_jpeg(1, dt.datetime(2023, 5, 11, 12)), "IMG_9001.jpg")
    beach = upload(server, dated_jpeg(2, dt.datetime(2024, 7, 2, 12)), "IMG_9002.jpg")
    cards = {p["id"]: p for p in server.get("/api/review?limit=50").json()["items"]}
    assert cards[rome]["suggestions"][0]["folder"] == "Rome"
    assert cards[beach]["suggestions"][0]["folder"] == "Beach"
    # learning again on demand: the phones see its progress over the websocket
    ws = PhoneSocket(server)
    try:
        r = server.post("/api/suggest/learn-library")
        assert r.status_code == 202 and r.json()["kind"] == "learn-library", r.text
        jid = r.json()["id"]
        done = ws.wait(lambda m: m.get("type") == "job.progress" and m.get("job_id") == jid
                       and m["status"] == "done")
        steps = ws.of(lambda m: m.get("type") == "job.progress" and m.get("job_id") == jid)
    finally:
        ws.ws.close()
    assert done["done"] == done["total"] == n and len(steps) >= 3
    assert [m["done"] for m in steps] == sorted(m["done"] for m in steps)
    # a restart does not learn it again: learning the library on first start happens once
    server.stop()
    server.start()
    assert len(learn_jobs(server)) == 2 and all(j["status"] == "done" for j in learn_jobs(server))
    cards = {p["id"]: p for p in server.get("/api/review?limit=50").json()["items"]}
    assert cards[rome]["suggestions"][0]["folder"] == "Rome"


def test_cli_commands_ask_the_running_server(server):
    wait_learned(server)
    cred_path = server.data_dir / "local-api.json"
    assert stat.S_IMODE(cred_path.stat().st_mode) == 0o600
    cred = json.loads(cred_path.read_text())
    assert cred["url"] == server.url
    rome = upload(server, dated_jpeg(3, dt.datetime(2023, 5, 12, 10)), "IMG_9003.jpg")
    ws = PhoneSocket(server)
    local_ws = PhoneSocket(server, local_token=cred["token"])  # stays open: no device row to find revoked
    opened = time.monotonic()
    try:
        # a folder rename: the server renames, announces it, and its suggester follows at once
        r = server.cli("rename-folder", "Rome", "Italy/Rome 2023")
        assert r.returncode == 0, r.stderr
        ws.wait(lambda m: m.get("type") == "library.changed" and m.get("change") == "folder_renamed")
        top = server.get("/api/review?limit=50").json()["items"]
        assert {p["id"]: p for p in top}[rome]["suggestions"][0]["folder"] == "Italy/Rome 2023"
        # tags and filing through the server: its websocket tells the phones
        r = server.cli("tag", "add", str(rome), "gelato")
        assert r.returncode == 0 and "gelato" in r.stdout, r.stderr
        ws.wait(lambda m: m.get("type") == "photo.changed" and m.get("photo_id") == rome)
        r = server.cli("file", str(rome), "Italy/Rome 2023")
        assert r.returncode == 0, r.stderr
        ws.wait(lambda m: m.get("type") == "library.changed" and m.get("photo_id") == rome)
        photo = server.get(f"/api/photos/{rome}").json()
        assert photo["status"] == "filed" and photo["path"].startswith("Italy/Rome 2023/")
        assert photo["decisions"][0]["device"] == "cli"
        r = server.cli("undo")
        assert r.returncode == 0, r.stderr
        assert server.get(f"/api/photos/{rome}").json()["root"] == "inbox"
        # learning the library through the server: its job, a progress bar here
        r = server.cli("suggest", "learn-library")
        assert r.returncode == 0 and r.stdout.startswith("learned "), r.stderr
        assert "learning the library" in r.stderr
        assert len(learn_jobs(server)) == 2
        # analysis is the server's worker's: `analyse` requeues there (this server runs without it)
        import sqlite3

        with sqlite3.connect(server.settings.db_path, timeout=10) as db:
            db.execute("UPDATE photo SET analysis_error = 'decoder crashed' WHERE id = ?", (rome,))
        r = server.cli("analyse", "--retry-failed", check=False)
        assert r.returncode == 1 and "requeued 1 photos" in r.stdout and "worker is off" in r.stdout, r.stderr
        with sqlite3.connect(server.settings.db_path, timeout=10) as db:
            assert db.execute("SELECT analysis_error FROM photo WHERE id = ?", (rome,)).fetchone() == (None,)
        # a refusal comes back as the server's message and a non-zero exit
        r = server.cli("rename-folder", "Nowhere", "Elsewhere", check=False)
        assert r.returncode == 2 and "the server refused" in r.stderr
        while time.monotonic() - opened < 6:  # past the server's revocation recheck (5 s)
            time.sleep(0.2)
        server.cli("tag", "add", str(rome), "espresso")
        local_ws.wait(lambda m: m.get("type") == "photo.changed" and "espresso" in m.get("tags", []))
        assert local_ws.ws.connected
    finally:
        ws.ws.close()
        local_ws.ws.close()
    # the credential is refused when wrong, and rotated by a restart
    bad = requests.get(f"{server.url}/api/folders", headers={"Authorization": "Bearer " + "x" * 43}, timeout=10)
    assert bad.status_code == 401
    ok = requests.get(f"{server.url}/api/folders", headers={"Authorization": f"Bearer {cred['token']}"}, timeout=10)
    assert ok.status_code == 200
    server.stop()
    assert not cred_path.exists()  # removed when the server stops
    server.start()
    fresh = json.loads(cred_path.read_text())["token"]
    assert fresh != cred["token"]
    old = requests.get(f"{server.url}/api/folders", headers={"Authorization": f"Bearer {cred['token']}"}, timeout=10)
    assert old.status_code == 401


def _jaicat(data_dir, *args, timeout=60):
    env = {k: v for k, v in os.environ.items() if k not in ("JAICAT_DATA_DIR", "JAICAT_CONFIG")}
    return subprocess.run([sys.executable, "-m", "jaicat", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_without_a_server_a_writer_holds_the_data_directory(settings):
    from jaicat.photos import library
    from jaicat.runtime import Runtime

    library.create_folder(settings, "Rome")
    other = Runtime(settings)
    assert other.lock.writer("jaicat rename-folder", wait=0)  # another command is changing things
    try:
        r = _jaicat(settings.data_dir, "--lock-wait", "0.5", "rename-folder", "Rome", "Italy")
        assert r.returncode == 2 and "in use (jaicat rename-folder, pid" in r.stderr, r.stderr
        assert (settings.library / "Rome").is_dir()
        assert _jaicat(settings.data_dir, "tree").returncode == 0  # reading goes on
        threading.Timer(1.0, other.lock.release).start()  # ... and a writer that waits gets its turn
        r = _jaicat(settings.data_dir, "rename-folder", "Rome", "Italy")
        assert r.returncode == 0, r.stderr
    finally:
        other.lock.release()
    assert (settings.library / "Italy").is_dir() and not (settings.library / "Rome").exists()


def test_the_app_shows_the_learning_job_in_its_top_bar(server, phone):
    wait_learned(server)
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#review")
    page.wait_for_function("document.getElementById('net-status')?.textContent === 'Live'")
    assert server.post("/api/suggest/learn-library").status_code == 202
    line = page.locator("#jobs .job-line", has_text="learn-library")
    line.wait_for()  # shown while it runs and for two seconds after it is done
    assert f"/{2 * PER_FOLDER}" in line.inner_text()


def test_importing_and_teaching_beside_the_server_are_its_jobs(live_server_factory, media_dir, tmp_path):
    """`import`, `suggest import-log`, `xmp write` and the face passes beside a running server: the
    server's job does the work, so its worker analyses what came in, its websocket announces it and
    its suggester knows a learning log at once; the command prints what it prints alone."""
    server = live_server_factory(worker=True)
    ws = PhoneSocket(server)
    try:
        missing = str(tmp_path / "no-such.jpg")
        r = server.cli("import", "--json", str(media_dir / "exif"), missing)
        doc = json.loads(r.stdout)
        assert len(doc["imported"]) == 8 and len(doc["duplicates"]) == 1, doc
        assert doc["rejected"] == [{"path": missing, "reason": "no such file or folder"}]
        for pid in doc["imported"]:  # announced to the phones, then analysed by the server's worker
            ws.wait(lambda m, pid=pid: m.get("type") == "upload.received" and m.get("photo_id") == pid)
            ws.wait(lambda m, pid=pid: m.get("type") == "photo.analysed" and m.get("photo_id") == pid, timeout=120)
        jobs = [j for j in server.get("/api/jobs").json()["items"] if j["kind"] == "import"]
        assert [j["status"] for j in jobs] == ["done"] and jobs[0]["done"] == 9
        r = server.cli("scan", str(media_dir / "exif"))  # the same files again; the server's worker analyses
        assert r.stdout.splitlines() == ["imported 0, duplicates 9, rejected 0, skipped 0 (not photos)",
                                         "the running server analyses the 0 pending photos (progress in the app: "
                                         "job analyse)"], r.stderr

        # a learning log: the waiting card's suggestion changes at once, no restart
        pid = doc["imported"][0]
        assert server.post(f"/api/photos/{pid}/tags", json={"add": ["receipt"]}).status_code == 200

        def top() -> str | None:
            card = {p["id"]: p for p in server.get("/api/review?limit=50").json()["items"]}[pid]
            return card["suggestions"][0]["folder"] if card["suggestions"] else None

        assert top() != "Receipts"
        log = tmp_path / "tag_learning_log.json"
        log.write_text(json.dumps([{"image": f"{i}.jpg", "tags": ["receipt"], "folder": "Receipts"} for i in range(3)]))
        r = server.cli("suggest", "import-log", str(log))
        assert r.stdout.strip() == f"imported 3 decisions from {log}"
        assert top() == "Receipts"
        # filed (the server writes its sidecar), the sidecar lost, and written again by the server's job
        assert server.post("/api/photos/move", json={"ids": [pid], "folder": "Receipts", "create": True}).ok
        [sidecar] = (server.data_dir / "library" / "Receipts").glob("*.xmp")
        sidecar.unlink()
        r = server.cli("xmp", "write")
        assert sidecar.is_file()
        assert r.stdout.strip() == "1 written, 0 unchanged, 0 failed", r.stderr
        r = server.cli("faces", "recluster")
        assert r.stdout.strip() == "0 groups of unknown faces"
        npy = tmp_path / "faces"
        npy.mkdir()
        np.save(npy / "Amy_H_6414490178700226302.npy", np.full(128, 0.05))
        np.save(npy / "Broken_3.npy", np.zeros(5))
        r = server.cli("faces", "import", str(npy))
        assert r.stdout.splitlines() == ["skipped Broken_3.npy: shape (5,) is not (128,)",
                                         "imported 1, duplicates 0, new people 1, rejected 1"]
        assert [p["name"] for p in server.get("/api/people").json()["items"]] == ["Amy H"]
        kinds = {j["kind"] for j in server.get("/api/jobs").json()["items"]}
        assert {"import", "suggest-import-log", "xmp-write", "faces-recluster", "faces-import"} <= kinds
    finally:
        ws.ws.close()
    # bad input: the command's message and a non-zero exit; the server was not asked
    r = server.cli("suggest", "import-log", str(tmp_path / "nope.json"), check=False)
    assert r.returncode == 2 and f"error: no such file: {tmp_path / 'nope.json'}" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("not a log")  # found bad by the server's job: its reason, the same as alone
    r = server.cli("suggest", "import-log", str(bad), check=False)
    assert r.returncode == 2 and "not a JSON learning log" in r.stderr, r.stderr
    # a paired phone may not ask for them: they name paths on this machine
    r = server.post("/api/local/import", json={"paths": [str(media_dir)]})
    assert r.status_code == 403 and r.json()["error"] == "local_only"
