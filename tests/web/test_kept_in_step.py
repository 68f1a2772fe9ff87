"""What would otherwise be kept in step by hand: each fact has one source, and these tests say so."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "server" / "jaicat" / "web"


def test_the_settings_are_read_through_one_accessor():
    readers = sorted(str(p.relative_to(WEB)) for p in WEB.rglob("*.py")
                     if 'config["JAICAT_SETTINGS"]' in p.read_text() or "config.get(\"JAICAT_SETTINGS\")" in p.read_text())
    assert readers == ["__init__.py"], f"read the settings with web.settings(), not in {readers}"
