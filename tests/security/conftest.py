"""Attacks from the home network against the real server on loopback (tests/e2e/conftest.py starts it).

Every count and wait here is bounded: an attack that succeeds makes a test fail within seconds (a
phone's request that times out, a status that is not the refusal), never hang the suite."""

from __future__ import annotations

import pytest
from e2e.conftest import LiveServer, free_port, live_server, live_server_factory  # noqa: F401
from fixtures.hostile import pixel_bomb_png

__all__ = ["LiveServer", "free_port", "live_server", "live_server_factory"]


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    """The 16-bit 15000 x 15000 greyscale PNG of the report (~430 KB, ~3 GiB to decode)."""
    return pixel_bomb_png(15000, 15000)
