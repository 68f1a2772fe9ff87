"""The real server on a free loopback port, paired, for end-to-end tests (API, websocket, browser).

    def test_something(live_server):
        r = live_server.get("/api/photos")           # requests with the device token
        live_server.url, live_server.token, live_server.data_dir, live_server.settings
        code = live_server.pair_code()               # a fresh code from `jaicat pair` (another process)

`live_server` is the real thing: `python -m jaicat --data-dir TMP serve --host 127.0.0.1 --port FREE
--no-zeroconf` in a subprocess (gunicorn, threaded worker), with the analysis worker off so tests
stay quick and deterministic. `live_server_factory(**settings)` starts one with other settings (e.g.
`worker=True`, `https=True`, `zeroconf=True`, tiny models), each in its own data dir, all stopped
at teardown. The server's output
is in `server.log_path` (printed when a test fails to start it).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def server_env() -> dict:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("JAICAT_DATA_DIR", None)
    env.pop("JAICAT_CONFIG", None)
    return env


@dataclass
class LiveServer:
    data_dir: Path
    port: int
    config: dict
    proc: subprocess.Popen | None = None
    token: str | None = None
    device_id: int | None = None
    log_path: Path | None = None
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def https(self) -> bool:
        return bool(self.config.get("https"))

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.https else 'ws'}://127.0.0.1:{self.port}/ws"

    @property
    def verify(self) -> str | bool:
        """What `requests` should trust: the server's own local CA when it serves HTTPS."""
        return str(self.data_dir / "certs" / "ca.crt") if self.https else True

    @property
    def settings(self):
        from jaicat.config import load_settings

        return load_settings(data_dir=self.data_dir, env={})

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `jaicat --data-dir <data_dir> ARGS` in another process."""
        return subprocess.run([sys.executable, "-m", "jaicat", "--data-dir", str(self.data_dir), *args],
                              capture_output=True, text=True, env=server_env(), timeout=120, check=check)

    def pair_code(self) -> str:
        """A fresh pairing code made by `jaicat pair` (a separate process, like a user would)."""
        out = self.cli("pair", "--no-qr").stdout
        m = re.search(r"Pairing code: ([A-Z0-9]{6})", out)
        assert m, out
        return m.group(1)

    def phone_code(self) -> str:
        """A pairing code for a phone, asked for by this already paired client (POST /api/pair/code):
        the same code the terminal or `jaicat pair` prints."""
        r = self.post("/api/pair/code")
        assert r.status_code == 201, r.text
        return r.json()["code"]

    def pair(self, name: str = "test phone") -> str:
        r = requests.post(f"{self.url}/api/pair", json={"code": self.pair_code(), "name": name}, timeout=10,
                          verify=self.verify)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def request(self, method: str, path: str, **kw) -> requests.Response:
        headers = {**self.auth, **kw.pop("headers", {})}
        kw.setdefault("timeout", 30)
        kw.setdefault("verify", self.verify)
        return self.session.request(method, self.url + path, headers=headers, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.request("POST", path, **kw)

    def start(self, timeout: float = 60.0) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k} = {_toml_value(v)}" for k, v in self.config.items()]
        (self.data_dir / "jaicat.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "wb")
        flags = [] if self.config.get("zeroconf") else ["--no-zeroconf"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jaicat", "--data-dir", str(self.data_dir), "serve",
             "--host", "127.0.0.1", "--port", str(self.port), *flags],
            stdout=log, stderr=subprocess.STDOUT, env=server_env(), cwd=str(ROOT))
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text(errors='replace')}")
            try:
                if requests.get(f"{self.url}/api/health", timeout=2, verify=self.verify).status_code == 200:
                    break
            except (requests.RequestException, OSError):
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"server did not start:\n{self.log_path.read_text(errors='replace')}")
        self.token = self.pair()
        self.device_id = self.get("/api/devices").json()["items"][-1]["id"]
        return self

    def stop(self) -> None:
        self.session.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


@pytest.fixture
def live_server_factory(tmp_path_factory):
    """`start(**settings) -> LiveServer`; every server started is stopped at teardown."""
    started: list[LiveServer] = []

    def start(**config) -> LiveServer:
        config.setdefault("worker", False)
        base = tmp_path_factory.mktemp("live")
        server = LiveServer(data_dir=base / "data", port=free_port(), config=config)
        started.append(server)
        return server.start()

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """One real server per test module (worker off), paired; stopped at teardown."""
    base = tmp_path_factory.mktemp("live")
    server = LiveServer(data_dir=base / "data", port=free_port(), config={"worker": False})
    server.start()
    yield server
    server.stop()


# --- the phone: Debian chromium driven by Playwright in mobile emulation ---------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
# bypass_csp: Playwright's wait_for_function evaluates its string in the page, which the server's
# Content-Security-Policy forbids (no eval); tests/security/test_pwa_csp.py drives the app under the CSP.
PHONE = dict(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True, has_touch=True,
             bypass_csp=True)


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module. Missing chromium skips locally but fails in CI
    (`make test` installs it there), so the browser tests can never silently not run."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"chromium is not installed at {CHROMIUM} (make test installs it)")
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def phone(browser):
    """A fresh ~390x844 touch phone (its own browser context) with a 20 s default timeout; uncaught
    page errors collect in `phone.errors`."""
    ctx = browser.new_context(**PHONE)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    ctx.close()
