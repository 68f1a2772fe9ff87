"""What would otherwise be kept in step by hand: each fact has one source, and these tests say so."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "server" / "jaicat" / "web"


def test_the_settings_are_read_through_one_accessor():
    readers = sorted(str(p.relative_to(WEB)) for p in WEB.rglob("*.py")
                     if 'config["JAICAT_SETTINGS"]' in p.read_text() or "config.get(\"JAICAT_SETTINGS\")" in p.read_text())
    assert readers == ["__init__.py"], f"read the settings with web.settings(), not in {readers}"


def _api_md_routes() -> set[tuple[str, str]]:
    """(method, path) of every route docs/API.md describes: its table rows and the /ws section.
    Path parameters are compared by position only (`<id>` in the docs, `<int:photo_id>` in Flask)."""
    text = (ROOT / "docs" / "API.md").read_text()
    out = set()
    for line in text.splitlines():
        m = re.match(r"\|\s*([A-Z, /]+?)\s*\|\s*([^|]*)\|", line)
        if not m or not re.fullmatch(r"[A-Z]+(\s*[,/]\s*[A-Z]+)*", m.group(1)):
            continue
        for method in re.split(r"\s*[,/]\s*", m.group(1)):
            out |= {(method, _shape(p)) for p in re.findall(r"`(/[^`\s]*)`", m.group(2))}
    if re.search(r"^## WebSocket `/ws`", text, re.M):
        out.add(("GET", "/ws"))
    return out


def _shape(path: str) -> str:
    return re.sub(r"<[^>]+>", "<>", path.split("?")[0])


def test_every_route_of_the_app_is_in_api_md(app):
    documented = _api_md_routes()
    missing = sorted(f"{m} {r.rule}" for r in app.url_map.iter_rules() if r.endpoint != "static"
                     for m in r.methods - {"HEAD", "OPTIONS"} if (m, _shape(r.rule)) not in documented)
    assert not missing, f"routes missing from docs/API.md: {missing}"


def test_api_md_describes_no_route_the_app_lacks(app):
    actual = {(m, _shape(r.rule)) for r in app.url_map.iter_rules() for m in r.methods}
    stale = sorted(f"{m} {p}" for m, p in _api_md_routes() - actual)
    assert len(_api_md_routes()) > 50 and not stale, f"docs/API.md describes routes the app lacks: {stale}"


def _served_version(app) -> str:
    sw = app.test_client().get("/sw.js")
    assert sw.status_code == 200 and sw.mimetype == "text/javascript"
    assert sw.headers["Service-Worker-Allowed"] == "/" and "no-cache" in sw.headers["Cache-Control"]
    return re.search(r'const VERSION = "([^"]+)"', sw.get_data(as_text=True)).group(1)


def test_the_served_service_worker_version_follows_the_shell(app, tmp_path):
    """Installed apps pick up a new shell only when VERSION changes: the server derives it from the
    shell files when it serves sw.js, so no commit has to carry it."""
    pwa = tmp_path / "pwa"
    shutil.copytree(ROOT / "pwa", pwa)
    app.config["JAICAT_PWA_DIR"] = pwa
    first = _served_version(app)
    assert re.fullmatch(r"jaicat-shell-[0-9a-f]{10}", first)
    assert _served_version(app) == first  # nothing changed: the same version (and no new digest)
    ui = pwa / "js" / "ui.js"
    ui.write_text(ui.read_text() + "\n// changed\n")
    second = _served_version(app)
    assert second != first and re.fullmatch(r"jaicat-shell-[0-9a-f]{10}", second)
    (pwa / "icons" / "icon-192.png").write_bytes(b"not the old icon")
    third = _served_version(app)
    assert third not in (first, second)
    (pwa / "js" / "unlisted.js").write_text("// not in SHELL, not precached")
    assert _served_version(app) == third
    etag = app.test_client().get("/sw.js").headers["ETag"]
    assert app.test_client().get("/sw.js", headers={"If-None-Match": etag}).status_code == 304


def test_the_service_worker_source_leaves_its_version_to_the_server():
    src = (ROOT / "pwa" / "sw.js").read_text()
    assert 'const VERSION = "jaicat-shell-{{SHELL_DIGEST}}";' in src
