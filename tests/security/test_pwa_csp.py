"""The PWA runs under the server's Content-Security-Policy (9.): no inline script, no eval, nothing
from elsewhere. The browser reports every violation; a screen that needed one would report it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from e2e.conftest import PHONE, browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
MEDIA = Path(__file__).resolve().parents[1] / "media"
PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360f8cf000000030101"
                        "00c9fe92ef0000000049454e44ae426082")


def _upload(server, path: Path) -> int:
    data = path.read_bytes()
    up = server.post("/api/uploads", json={"filename": path.name, "size": len(data),
                                          "sha256": hashlib.sha256(data).hexdigest()}).json()
    r = server.request("PATCH", f"/api/uploads/{up['id']}", params={"offset": 0}, data=data,
                       headers={"Content-Type": "application/octet-stream"})
    return r.json()["photo_id"]

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def test_the_app_runs_every_screen_under_the_csp(live_server, browser):  # noqa: F811
    ctx = browser.new_context(**{**PHONE, "bypass_csp": False})
    ctx.set_default_timeout(20_000)
    ctx.add_init_script(WATCH)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        resp = page.goto(f"{live_server.url}/#pair={live_server.phone_code()}")
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        page.wait_for_selector("#file-input", state="attached")  # paired: the upload screen
        for tab in ("review", "library", "people", "settings", "upload"):
            page.click(f'#tabs a[data-tab="{tab}"]')
            page.wait_for_selector(f'#tabs a[data-tab="{tab}"][aria-current="page"], #view', state="attached")
            page.wait_for_timeout(300)
        # the screens reached from the library and settings, with a photo that has GPS: the map's tiles
        # come from the tile host the settings name (allowed as an image source, and nothing else)
        assert "https://tile.openstreetmap.org" in resp.headers["content-security-policy"]
        tiles = []
        page.route("https://tile.openstreetmap.org/**", lambda r: (tiles.append(r.request.url), r.fulfill(
            status=200, content_type="image/png", body=PNG_1PX)))
        pid = _upload(live_server, MEDIA / "exif" / "orientation_1.jpg")
        for route, ready in ((f"#photo/{pid}", "#favourite-btn"), ("#timeline", ".date-head"),
                             ("#map", ".map-marker"), ("#trash", "#trash-status"), (f"#ideas/{pid}", ".idea"),
                             ("#search?q=person%3AZed", "#search-hints .hint-line")):
            page.goto(f"{live_server.url}/{route}")
            page.wait_for_selector(ready, state="attached")
            page.wait_for_timeout(300)
        assert tiles
        assert page.evaluate("window.__violations") == []
        assert errors == []
    finally:
        ctx.close()
