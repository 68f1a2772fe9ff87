"""Schemathesis against the real server: requests generated from /api/openapi.json never get a 5xx,
and every 4xx under /api is a JSON error {"error", "message"}. Bounded (a few examples per operation)
so it stays a quick test; raise JAICAT_FUZZ_EXAMPLES for a deeper run. Both valid requests and
requests that break the schema (negative mode) are sent."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation.modes import GenerationMode  # noqa: E402

EXAMPLES = int(os.environ.get("JAICAT_FUZZ_EXAMPLES", "6"))
# Operations that would end this test's own session or need a websocket client.
SKIP = {("DELETE", "/api/devices/{device_id}"), ("POST", "/api/logout"), ("GET", "/ws")}


def test_generated_requests_never_get_a_server_error(live_server, media_dir):
    # some real data so ids in generated paths sometimes exist
    live_server.post("/api/folders", json={"path": "Holidays"})
    data = (media_dir / "exif" / "orientation_1.jpg").read_bytes()
    import hashlib

    up = live_server.post("/api/uploads", json={"filename": "a.jpg", "size": len(data),
                                                "sha256": hashlib.sha256(data).hexdigest()}).json()
    live_server.request("PATCH", f"/api/uploads/{up['id']}?offset=0", data=data)

    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json", headers=live_server.auth)
    failures = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIP:
            continue
        tested += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy(GenerationMode.POSITIVE)
               | operation.as_strategy(GenerationMode.NEGATIVE))
        def check(case):
            resp = case.call(base_url=live_server.url, headers=live_server.auth, timeout=30)
            where = (case.method.upper(), case.operation.path)
            # the server runs without CLIP weights: "similar" answers 503 model_unavailable, which
            # is the documented answer to a valid request, not a server error
            if resp.status_code == 503 and resp.json().get("error") == "model_unavailable":
                return
            if resp.status_code >= 500:
                failures.append((where, resp.status_code, case.path_parameters, case.query, resp.text[:200]))
            elif resp.status_code >= 400 and case.operation.path.startswith("/api"):
                body = resp.json()
                assert {"error", "message"} <= set(body), (where, body)

        check()
    assert tested > 40
    assert not failures, failures
    assert live_server.get("/api/health").status_code == 200
