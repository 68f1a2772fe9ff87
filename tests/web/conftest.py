"""App-level fixtures: a Flask test client over a fresh catalogue, paired as one device."""

from __future__ import annotations

import pytest


@pytest.fixture
def app(settings):
    from jaicat.web.app import create_app

    return create_app(settings)


class AuthClient:
    """The test client with the device token on every request."""

    def __init__(self, client, token: str, device):
        self.raw, self.token, self.device = client, token, device
        self.headers = {"Authorization": f"Bearer {token}"}

    def open(self, method: str, path: str, **kw):
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.raw.open(path, method=method, headers=headers, **kw)

    def get(self, path, **kw):
        return self.open("GET", path, **kw)

    def post(self, path, **kw):
        return self.open("POST", path, **kw)

    def patch(self, path, **kw):
        return self.open("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.open("DELETE", path, **kw)


@pytest.fixture
def client(app):
    from jaicat import pairing

    code, _ = pairing.create_code()
    device, token = pairing.redeem_code(code, "test phone")
    return AuthClient(app.test_client(), token, device)


@pytest.fixture
def photo(settings, media_dir):
    """One real JPEG ingested into the inbox."""
    from jaicat.ingest import ingest_file

    return ingest_file(media_dir / "exif" / "orientation_6.jpg", settings).photo
