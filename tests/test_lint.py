"""The code stays ruff-clean (CONVENTIONS.md): a lint error fails the suite like any other bug."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.fail("ruff is not installed (it is in the dev extra: pip install -e '.[dev]')")
    r = subprocess.run([ruff, "check", "server", "tests", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
