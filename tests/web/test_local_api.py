"""The local credential (devices/local_api.py): what `jaicat` commands on this machine use to ask the
running server. Accepted only in the Authorization header, only from a loopback peer, only for the
server start that issued it."""

from __future__ import annotations

import json
import stat
import time

import pytest

from jaicat.commands import KINDS, route
from jaicat.devices.local_api import is_loopback, loopback_url, read_credential


@pytest.fixture
def local(app):
    """The app's local credential, issued as `jaicat serve` does at start."""
    access = app.extensions["jaicat"].local
    token = access.issue()
    yield token
    access.revoke()


def _get(app, token, remote="127.0.0.1", **kw):
    return app.test_client().get("/api/folders", headers={"Authorization": f"Bearer {token}"},
                                 environ_base={"REMOTE_ADDR": remote}, **kw)


def test_the_credential_file_is_private_and_names_the_loopback_url(app, settings, local):
    path = settings.data_dir / "local-api.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["token"] == local and doc["url"] == loopback_url(settings) == f"http://127.0.0.1:{settings.port}"
    assert read_credential(settings)["token"] == local


@pytest.mark.parametrize("remote", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_accepted_from_loopback(app, local, remote):
    assert _get(app, local, remote).status_code == 200


@pytest.mark.parametrize("remote", ["192.168.1.20", "10.0.0.5", "::ffff:192.168.1.20", "fe80::1", "", "garbage"])
def test_refused_from_another_machine(app, local, remote):
    r = _get(app, local, remote)
    assert r.status_code == 403 and r.get_json()["error"] == "local_only"
    assert "only from this machine" in r.get_json()["message"]


def test_refused_when_wrong_stale_or_not_in_the_header(app, settings, local):
    assert _get(app, local[:-2] + "xx").status_code == 401
    c = app.test_client()
    c.set_cookie("jaicat_token", local)
    assert c.get("/api/folders", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 401
    assert c.get(f"/ws?token={local}", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 401
    access = app.extensions["jaicat"].local
    newer = access.issue()  # a new server start: the old token is dead
    assert newer != local and _get(app, local).status_code == 401 and _get(app, newer).status_code == 200
    access.revoke()
    assert _get(app, newer).status_code == 401 and not (settings.data_dir / "local-api.json").exists()


def test_a_decision_made_with_it_is_recorded_as_the_cli(app, settings, local, photo):
    c = app.test_client()
    r = c.post("/api/photos/move", json={"ids": [photo.id], "folder": "Trips", "create": True},
               headers={"Authorization": f"Bearer {local}"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 200, r.get_json()
    from jaicat.db import Decision

    assert Decision.get_by_id(r.get_json()["decision_ids"][0]).device == "cli"


def test_loopback_helpers(settings):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("192.168.0.1")
    settings.host = "192.168.1.5"
    assert loopback_url(settings) is None  # listening on a LAN address only: not reachable locally
    settings.host, settings.https = "::", True
    assert loopback_url(settings) == f"https://[::1]:{settings.port}"


def test_tags_route_adds_and_removes_some_tags(client, photo):
    r = client.post(f"/api/photos/{photo.id}/tags", json={"add": ["gelato", "rome"]})
    assert r.status_code == 200 and {t["name"] for t in r.get_json()["tags"]} >= {"gelato", "rome"}
    r = client.post(f"/api/photos/{photo.id}/tags", json={"remove": ["rome"]})
    names = {t["name"] for t in r.get_json()["tags"]}
    assert "gelato" in names and "rome" not in names
    assert client.post(f"/api/photos/{photo.id}/tags", json={}).status_code == 400
    assert client.post(f"/api/photos/{photo.id}/tags", json={"add": "x"}).status_code == 400
    assert client.post("/api/photos/999999/tags", json={"add": ["x"]}).status_code == 404


def test_trash_empty_older_than_days(client, photo):
    assert client.post("/api/photos/trash", json={"ids": [photo.id]}).status_code == 200
    assert client.post("/api/trash/empty", json={"older_than_days": 1}).get_json()["deleted"] == 0
    assert client.post("/api/trash/empty", json={"older_than_days": -1}).status_code == 400
    assert client.post("/api/trash/empty", json={"older_than_days": 0}).get_json()["deleted"] == 1


def test_suggest_routes(app, client, settings):
    from fixtures.library import fill_library

    n = fill_library(settings.library, 3)
    r = client.post("/api/suggest/learn-library")
    assert r.status_code == 202 and r.get_json()["kind"] == "learn-library"
    assert app.extensions["jaicat"].learning.wait(30)
    job = client.get(f"/api/jobs/{r.get_json()['id']}").get_json()
    assert (job["status"], job["done"], job["total"]) == ("done", n, n)
    r = client.post("/api/suggest/reset")
    assert r.status_code == 200 and r.get_json() == {"reset": True, "folders": 2}
    assert app.extensions["jaicat"].suggester.engine().history_size == 0


def test_analysis_requeue_route(client, photo):
    from jaicat.db import Photo

    Photo.update(analysis_error="decoder crashed").where(Photo.id == photo.id).execute()
    r = client.post("/api/analysis/requeue", json={"retry_failed": True})
    assert r.status_code == 202 and r.get_json() == {"requeued": 1, "pending": 1, "worker": False}
    assert Photo.get_by_id(photo.id).analysis_error is None
    assert client.post("/api/analysis/requeue", json={"all": "yes"}).status_code == 400


# --- jobs a command on this machine asks for (commands.py, web/local.py) ---------------------------
LOCAL_ROUTES = [route(kind) for kind in KINDS]


def _local(app, token, path, body=None, remote="127.0.0.1"):
    return app.test_client().open(path, method="POST" if body is not None else "GET", json=body,
                                  headers={"Authorization": f"Bearer {token}"}, environ_base={"REMOTE_ADDR": remote})


def _finished(app, token, job_id) -> dict:
    assert app.extensions["jaicat"].commands.wait(60)
    return _local(app, token, f"/api/jobs/{job_id}").get_json()


@pytest.mark.parametrize("path", LOCAL_ROUTES)
def test_a_paired_device_may_not_ask_for_command_jobs(client, path, tmp_path):
    """They name paths on the server's machine: a phone's token is refused, whatever it sends."""
    for body in ({}, {"paths": [str(tmp_path)]}, {"file": "/etc/passwd"}, {"dir": str(tmp_path)}):
        r = client.post(path, json=body)
        assert r.status_code == 403 and r.get_json()["error"] == "local_only", r.get_json()
    from jaicat.db import Job

    assert not Job.select().exists()


def test_the_local_credential_asks_for_them_from_this_machine_only(app, local, tmp_path):
    r = _local(app, local, "/api/local/faces/recluster", {}, remote="192.168.1.20")
    assert r.status_code == 403 and r.get_json()["error"] == "local_only"
    r = _local(app, local, "/api/local/faces/recluster", {})
    assert r.status_code == 202 and r.get_json()["kind"] == "faces-recluster"
    job = _finished(app, local, r.get_json()["id"])
    assert job["status"] == "done" and job["result"] == {"groups": 0, "line": "0 groups of unknown faces"}


def test_an_import_job_lands_photos_announces_them_and_keeps_its_result(app, settings, local, media_dir):
    from jaicat.db import Photo

    hub = app.extensions["jaicat"].hub
    q = hub.subscribe()
    missing = str(media_dir / "exif" / "no-such.jpg")
    r = _local(app, local, "/api/local/import", {"paths": [str(media_dir / "exif"), missing], "device": "laptop"})
    assert r.status_code == 202 and r.get_json()["kind"] == "import", r.get_json()
    job = _finished(app, local, r.get_json()["id"])
    hub.unsubscribe(q)
    result = job["result"]
    assert job["status"] == "done" and job["done"] == job["total"] == 9 and job["message"] == result["line"]
    # jpeg_named.png holds the same bytes as orientation_1.jpg: stored once
    assert len(result["imported"]) == 8 and len(result["duplicates"]) == 1
    assert result["rejected"] == [{"path": missing, "reason": "no such file or folder"}]
    assert {p.source_device for p in Photo.select()} == {"laptop"} and Photo.select().count() == 8
    events = []
    while not q.empty():
        events.append(q.get_nowait())
    assert sorted(e["photo_id"] for e in events if e["type"] == "upload.received") == sorted(result["imported"])
    steps = [e for e in events if e["type"] == "job.progress" and e["job_id"] == job["id"]]
    assert [s["status"] for s in steps[:2]] == ["queued", "running"] and steps[-1]["status"] == "done"
    assert {s["message"] for s in steps[2:-1]} == {"importing"} and steps[-2]["done"] == 9


def test_an_import_answer_stays_small_however_many_files_it_names(app, local, tmp_path, monkeypatch):
    # Re-importing a large folder beside the server names every file as a duplicate; the CLI reads at
    # most 16 MiB of an answer. The lists are cut at commands.photos.LISTED, the counts keep every one.
    from jaicat import commands

    monkeypatch.setattr(commands.photos, "LISTED", 5)
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(12):
        (folder / f"note{i}.txt").write_text("not a photo")
    missing = [str(tmp_path / f"gone{i}.jpg") for i in range(7)]
    r = _local(app, local, "/api/local/import", {"paths": [str(folder)] + missing, "device": None})
    assert r.status_code == 202, r.get_json()
    result = _finished(app, local, r.get_json()["id"])["result"]
    assert result["counts"] == {"imported": 0, "duplicates": 0, "rejected": 7, "skipped": 12}
    assert len(result["skipped"]) == 5 and len(result["rejected"]) == 5
    assert result["line"] == "imported 0, duplicates 0, rejected 7, skipped 12 (not photos)"


@pytest.mark.parametrize("path, body, says", [
    ("import", {}, "'paths' must be a list"),
    ("import", {"paths": []}, "'paths' must be a list"),
    ("import", {"paths": "/tmp"}, "'paths' must be a list"),
    ("import", {"paths": ["photos/a.jpg"]}, "must be absolute"),
    ("import", {"paths": ["/tmp"], "device": 5}, "'device' must be a name"),
    ("import", {"paths": ["/tmp"], "folder": "x"}, "unknown parameter 'folder'"),
    ("suggest/import-log", {"file": "tag_learning_log.json"}, "must be an absolute path"),
    ("suggest/import-log", {"file": "/no/such/log.json"}, "no such file: /no/such/log.json"),
    ("suggest/import-log", {}, "'file' must be the path of a file"),
    ("regions/import", {"file": "TMP"}, "no such file"),
    ("faces/enroll", {"dir": "/no/such/folder"}, "not a folder: /no/such/folder"),
    ("faces/import", {"dir": "TMP", "rematch": "yes"}, "'rematch' must be true or false"),
    ("xmp/write", {"photo_ids": [0]}, "'photo_ids' must be a list"),
    ("xmp/write", {"photo_ids": ["1"]}, "'photo_ids' must be a list"),
    ("xmp/write", {"all": 1}, "'all' must be true or false"),
    ("faces/rematch", {"faces": [1]}, "unknown parameter 'faces'"),
])
def test_bad_input_is_refused_before_any_job_starts(app, local, tmp_path, path, body, says):
    from jaicat.db import Job

    body = {k: str(tmp_path) if v == "TMP" else v for k, v in body.items()}
    r = _local(app, local, f"/api/local/{path}", body)
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_input", r.get_json()
    assert says in r.get_json()["message"]
    assert not Job.select().exists()


def test_a_job_whose_file_turns_out_bad_fails_with_the_reason(app, local, tmp_path):
    log = tmp_path / "tag_learning_log.json"
    log.write_text("not a log")
    r = _local(app, local, "/api/local/suggest/import-log", {"file": str(log)})
    assert r.status_code == 202
    job = _finished(app, local, r.get_json()["id"])
    assert job["status"] == "failed" and "not a JSON learning log" in job["message"]
    assert job["result"] == {"error": "invalid_input", "message": job["message"]}


def test_a_learning_log_job_teaches_the_servers_suggester_at_once(app, settings, local, photo, tmp_path):
    from jaicat.photos.tags import change_tags

    change_tags(photo, add=["receipt"])
    log = tmp_path / "tag_learning_log.json"
    log.write_text(json.dumps([{"image": f"{i}.jpg", "tags": ["receipt"], "folder": "Receipts"} for i in range(3)]))

    def top() -> str | None:
        card = _local(app, local, "/api/review").get_json()["items"][0]
        return card["suggestions"][0]["folder"] if card["suggestions"] else None

    assert top() != "Receipts"
    r = _local(app, local, "/api/local/suggest/import-log", {"file": str(log)})
    job = _finished(app, local, r.get_json()["id"])
    assert job["status"] == "done" and job["result"] == {"decisions": 3, "line": "imported 3 decisions"}
    assert top() == "Receipts"


def test_enrolling_and_region_jobs_report_what_the_command_prints(app, local, media_dir, tmp_path):
    import shutil

    person = tmp_path / "Pictures" / "Amy_H"
    person.mkdir(parents=True)
    shutil.copy(media_dir / "exif" / "orientation_1.jpg", person / "beach.jpg")  # a landscape: no face
    r = _local(app, local, "/api/local/faces/enroll", {"dir": str(tmp_path / "Pictures")})
    job = _finished(app, local, r.get_json()["id"])
    assert job["status"] == "done" and job["result"] == {
        "people": ["Amy H"], "added": 0, "already": 0, "rejected": [[str(person / "beach.jpg"), "no face found"]],
        "line": "1 people: added 0 encodings, already known 0, rejected 1", "rematch": None}
    notes = tmp_path / "region_annotations.json"
    notes.write_text(json.dumps({"elsewhere.jpg": [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": "boat"}]}))
    r = _local(app, local, "/api/local/regions/import", {"file": str(notes)})
    job = _finished(app, local, r.get_json()["id"])
    assert job["status"] == "done" and job["result"]["unmatched"] == ["elsewhere.jpg"]
    assert job["result"]["line"] == "0 regions on 0 photos; 1 images not in the catalogue; 0 regions rejected"


def _held_job(app, local, monkeypatch):
    """A faces-recluster job running until `release` is set (every job's work waits for it and appends
    its kind to `order`); (release, order, that job's id)."""
    import threading

    from jaicat import commands

    release, order = threading.Event(), []

    def slow(kind, rt, params, progress=None):
        release.wait(30)
        order.append(kind)
        return {"groups": 0, "line": "0 groups of unknown faces"}

    monkeypatch.setattr(commands.jobs, "run", slow)
    first = _local(app, local, "/api/local/faces/recluster", {}).get_json()["id"]
    while _local(app, local, f"/api/jobs/{first}").get_json()["status"] != "running":
        time.sleep(0.01)
    return release, order, first


def test_command_jobs_run_one_at_a_time_and_few_may_wait(app, local, monkeypatch):
    from jaicat import commands

    release, order, first = _held_job(app, local, monkeypatch)
    ids = [first]
    ids += [_local(app, local, "/api/local/faces/rematch", {}).get_json()["id"] for _ in range(commands.jobs.MAX_WAITING)]
    r = _local(app, local, "/api/local/faces/recluster", {})
    assert r.status_code == 409 and r.get_json()["error"] == "conflict" and "wait already" in r.get_json()["message"]
    release.set()
    assert app.extensions["jaicat"].commands.wait(30)
    assert order == ["faces-recluster"] + ["faces-rematch"] * commands.jobs.MAX_WAITING
    assert all(_local(app, local, f"/api/jobs/{i}").get_json()["status"] == "done" for i in ids)


def test_a_stopping_server_fails_waiting_command_jobs_and_lets_the_running_one_finish(app, local, monkeypatch):
    import threading

    from jaicat import commands

    release, order, first = _held_job(app, local, monkeypatch)
    waiting = [_local(app, local, "/api/local/faces/rematch", {}).get_json()["id"] for _ in range(2)]
    rt = app.extensions["jaicat"]
    closing = threading.Thread(target=rt.commands.close, kwargs={"timeout": 30})
    closing.start()
    while not all(_local(app, local, f"/api/jobs/{i}").get_json()["status"] == "failed" for i in waiting):
        time.sleep(0.01)  # the waiting jobs fail while the running one still runs
    assert closing.is_alive() and order == []
    assert {_local(app, local, f"/api/jobs/{i}").get_json()["message"] for i in waiting} == {commands.jobs.STOPPED}
    assert rt.commands.result(waiting[0])["error"] == "stopped"
    r = _local(app, local, "/api/local/faces/recluster", {})
    assert r.status_code == 409 and "stopping" in r.get_json()["message"]  # nothing new once stopping
    release.set()
    closing.join(30)
    assert not closing.is_alive() and order == ["faces-recluster"]
    assert _local(app, local, f"/api/jobs/{first}").get_json()["status"] == "done"


def test_an_import_job_ends_before_its_next_file_when_the_server_stops(app, local, media_dir, monkeypatch):
    from jaicat.photos import ingest

    rt = app.extensions["jaicat"]
    real, seen = ingest.ingest_file, []

    def ingest_then_stop(f, settings, **kw):
        r = real(f, settings, **kw)
        seen.append(f)
        if len(seen) == 3:
            rt.commands._closed.set()  # the server begins to stop after the third file
        return r

    monkeypatch.setattr(ingest, "ingest_file", ingest_then_stop)
    monkeypatch.setattr(ingest.os, "cpu_count", lambda: 1)  # one file at a time: the count is exact
    r = _local(app, local, "/api/local/import", {"paths": [str(media_dir / "exif")], "device": None})
    job = _finished(app, local, r.get_json()["id"])
    assert job["status"] == "failed" and job["result"]["error"] == "stopped", job
    # exif/ in name order: jpeg_named.png, then orientation_1.jpg (the same bytes: a duplicate), ...
    assert "after imported 2, duplicates 1," in job["message"] and "run the command again" in job["message"]
    from jaicat.db import Photo

    assert Photo.select().count() == 2 and len(seen) == 3


def test_every_writing_command_is_one_command_kind():
    """No command changes the data directory behind a running server's back: each one whose parser
    says `writes=True` does its work through `perform` (one kind of commands/, here or by the server),
    and no command but `perform` itself knows which side works."""
    import argparse
    import inspect
    from pathlib import Path

    from jaicat import cli
    from jaicat.cli.main import build_parser

    def writers(parser, prefix="jaicat"):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    if sub.get_default("writes"):
                        yield f"{prefix} {name}", sub.get_default("func")
                    yield from writers(sub, f"{prefix} {name}")

    found = dict(writers(build_parser()))
    assert len(found) >= 25 and "jaicat import" in found and "jaicat faces enroll" in found
    blind = [cmd for cmd, func in found.items() if "perform(" not in inspect.getsource(func)]
    assert not blind, f"writing commands that do not go through perform: {blind}"
    sides = sorted(p.name for p in Path(cli.__file__).parent.glob("*.py") if "args.server" in p.read_text())
    assert sides == ["main.py", "remote.py"], sides


def test_short_commands_are_answered_at_once_with_the_result_done_here(app, settings, local, photo):
    from jaicat import commands
    from jaicat.db import Decision, Job

    r = _local(app, local, route("tags"), {"photo": str(photo.id), "add": ["gelato"]})
    assert r.status_code == 200 and r.get_json() == {"photo_id": photo.id, "tags": ["gelato"]}
    here = commands.run("tags", app.extensions["jaicat"], commands.check("tags", {"photo": photo.sha256[:10],
                                                                                  "remove": ["gelato"]}))
    assert here == {"photo_id": photo.id, "tags": []}  # the same work and result shape done here
    r = _local(app, local, "/api/local/file", {"photo": str(photo.id), "folder": "Trips"})
    assert r.status_code == 200 and r.get_json()["path"].startswith("Trips/"), r.get_json()
    assert Decision.get_by_id(r.get_json()["decision_id"]).device == "cli"
    r = _local(app, local, "/api/local/folders/rename", {"from": "Trips", "to": "Travel/Trips"})
    assert r.get_json() == {"from": "Trips", "to": "Travel/Trips", "moved": 1}
    r = _local(app, local, "/api/local/undo", {})
    assert r.status_code == 200 and r.get_json()["photo_id"] == photo.id and r.get_json()["root"] == "inbox"
    r = _local(app, local, "/api/local/trash/put", {"photos": [str(photo.id)]})
    assert r.get_json() == {"trashed": [{"id": photo.id, "filename": photo.original_filename}]}
    assert _local(app, local, "/api/local/trash/restore", {"photos": [str(photo.id)]}).status_code == 200
    assert not Job.select().exists()  # answered in the request, not queued behind longer work


@pytest.mark.parametrize("path, body, status, says", [
    ("file", {"photo": "999999", "folder": "Trips"}, 404, "no photo '999999'"),
    ("file", {"photo": "1"}, 400, "'folder' must be a name"),
    ("tags", {"photo": "1"}, 400, "nothing to change"),
    ("trash/put", {"photos": []}, 400, "'photos' must name at least one photo"),
    ("trash/empty", {"older_than_days": -1}, 400, "'older_than_days' must be an integer of at least 0"),
    ("faces/confirm", {"face": 999, "name": "Amy"}, 404, "no face 999"),
    ("faces/forget", {"person": "Nobody"}, 404, "no person 'Nobody'"),
    ("analyse", {"ray": "local"}, 400, "--ray and --ray-workers apply when no server runs"),
    ("undo", {"decision": "last"}, 400, "'decision' must be an integer"),
])
def test_short_commands_refuse_bad_input_with_json_errors(app, local, path, body, status, says):
    r = _local(app, local, f"/api/local/{path}", body)
    assert r.status_code == status and says in r.get_json()["message"], r.get_json()


def test_analyse_beside_the_server_queues_for_its_worker(app, local, photo):
    from jaicat.db import Photo

    Photo.update(analysis_error="decoder crashed").where(Photo.id == photo.id).execute()
    r = _local(app, local, "/api/local/analyse", {"retry_failed": True})
    assert r.status_code == 200 and r.get_json() == {"requeued": 1, "serving": True, "pending": 1, "worker": False}
    assert Photo.get_by_id(photo.id).analysis_error is None
