"""The PWA runs under the server's Content-Security-Policy (9.): no inline script, no eval, nothing
from elsewhere. The browser reports every violation; a screen that needed one would report it."""

from __future__ import annotations

import pytest
from e2e.conftest import PHONE, browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

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
        assert page.evaluate("window.__violations") == []
        assert errors == []
    finally:
        ctx.close()
