"""The local credential (devices/local_api.py): what `jaicat` commands on this machine use to ask the
running server. Accepted only in the Authorization header, only from a loopback peer, only for the
server start that issued it."""

from __future__ import annotations

import json
import stat

import pytest

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
