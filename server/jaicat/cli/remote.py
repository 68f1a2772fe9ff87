"""Commands that change the data directory, and the running server that owns it.

A command that changes the catalogue, the library or the suggester (its parser says `writes=True`)
first asks for the data directory's lock exclusively (runtime.DataDirLock.writer):
- no server runs: it gets the lock and works itself; a second writing command waits up to
  WRITER_WAIT seconds for it, then stops with a message naming it;
- `jaicat serve` holds it: the command asks the server over loopback with the local credential the
  server wrote into the data directory (devices/local_api.py), so the server's objects (the
  suggester, the review queue, the search indexes, the worker) do the change and know it at once,
  and its websocket tells the phones. `args.server` is then a `ServerClient`. A command never
  changes the data directory itself beside a running server.

Every such command is one kind of commands/ (check + work), done through `perform`, here or by the
server, and prints the one result it returns:

    result = perform(args, runtime, "import", {"paths": [...], "device": None}, unit="file")
    result = perform(args, runtime, "rename-folder", {"from": old, "to": new})
"""

from __future__ import annotations

import json
import ssl
import sys
import time
import urllib.error
import urllib.request

from tqdm import tqdm

from .. import commands
from ..devices.local_api import read_credential
from ..errors import Conflict, DataDirInUse, InvalidInput, JaicatError, NotFound, ServerRefused, ServerUnreachable

MAX_RESPONSE = 16 * 1024 * 1024  # bytes read of one answer
CREDENTIAL_WAIT = 10.0  # seconds to wait for a starting server to write its credential
POLL_SECONDS = 0.3  # how often a followed job is looked at


_ERRORS = {400: InvalidInput, 404: NotFound, 409: Conflict}


class ServerClient:
    """Requests to the running server of a data directory, with its local credential."""

    def __init__(self, settings):
        self.settings = settings
        self.url: str | None = None
        self.token: str | None = None  # read at the first call: a command without a server route needs none

    def _load(self, wait: float, stale: str | None) -> None:
        """Read the credential file, waiting up to `wait` seconds for one (other than `stale`)."""
        deadline = time.monotonic() + wait
        while True:
            cred = read_credential(self.settings)
            if cred is not None and cred["token"] != stale:
                break
            if time.monotonic() >= deadline:
                raise DataDirInUse(f"a server runs on the data directory {self.settings.data_dir} but has not "
                                   "written its local credential (local-api.json); try again once it is up")
            time.sleep(0.2)
        if not cred.get("url"):
            raise DataDirInUse(f"a server runs on the data directory {self.settings.data_dir} and listens on "
                               f"{self.settings.host} only, not on loopback: stop it to run this command, or "
                               "serve on 0.0.0.0 or 127.0.0.1")
        self.url, self.token = cred["url"], cred["token"]

    def _context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https:"):
            return None
        return ssl.create_default_context(cafile=str(self.settings.data_dir / "certs" / "ca.crt"))

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 120.0) -> dict:
        """Send one request; the JSON answer ({} for 204). A refusal raises the matching JaicatError
        with the server's message; a server that does not answer raises ServerUnreachable."""
        if self.token is None:
            self._load(wait=CREDENTIAL_WAIT, stale=None)
        for attempt in range(2):
            try:
                return self._send(method, path, body, timeout)
            except ServerRefused as e:
                if e.details.get("status") == 401 and attempt == 0:
                    self._load(wait=CREDENTIAL_WAIT, stale=self.token)  # a restarted server: its new one
                    continue
                raise
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, body: dict | None, timeout: float) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context()) as resp:
                raw = resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as e:
            raw = e.read(MAX_RESPONSE)
            try:
                doc = json.loads(raw)
                message = doc.get("message") or doc.get("error") or e.reason
            except ValueError:
                message = str(e.reason)
            raise _ERRORS.get(e.code, ServerRefused)(f"the server refused: {message}", status=e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerUnreachable(f"the server holding the data directory does not answer at {self.url} "
                                    f"({reason})") from None
        if len(raw) > MAX_RESPONSE:
            raise ServerRefused("the server's answer is too large")
        return json.loads(raw) if raw else {}

    def follow_job(self, job: dict, progress) -> dict:
        """Poll a job (GET /api/jobs/ID) until it is done or failed, calling `progress(job)` on each
        look; returns its last state."""
        while job["status"] in ("queued", "running"):
            progress(job)
            time.sleep(POLL_SECONDS)
            job = self.call("GET", f"/api/jobs/{job['id']}")
        progress(job)
        return job


def ask_server(runtime, holder: str, wait: float) -> ServerClient | None:
    """For a command that changes the data directory: None when it may write itself (it now holds
    the lock exclusively, after waiting up to `wait` seconds for another command), else a client of
    the running server to ask."""
    if wait < 0:
        raise InvalidInput("--lock-wait must be 0 or more seconds")
    if runtime.lock.writer(holder, wait):
        return None
    return ServerClient(runtime.settings)


class Bars:
    """`progress(done, total, stage)` shown as tqdm bars on stderr: a new bar for each stage."""

    def __init__(self, unit: str, quiet: bool = False):
        self.unit, self.quiet = unit, quiet
        self.bar = None
        self.stage: str | None = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, unit=self.unit, disable=self.quiet)
        if self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def perform(args, runtime, kind: str, params: dict, unit: str = "item", quiet: bool = False) -> dict:
    """Do the command `kind` (commands/) with `params`: here, holding the data directory, or by the
    running server (a job followed with a progress bar, or a short one it answers at once). Returns
    its result, the same either way; a failure raises the error with the same message either way."""
    params = commands.check(kind, params)  # a bad input stops here, before the server is asked
    bars = Bars(unit, quiet)
    if commands.kind(kind).stage:
        bars(0, 0, commands.kind(kind).stage)
    try:
        if args.server is None:
            runtime.connect() if commands.kind(kind).learns else runtime.open()
            return commands.run(kind, runtime, params, bars)
        answer = args.server.call("POST", commands.route(kind), params)
        return _followed(args.server, kind, answer, bars) if commands.kind(kind).job else answer
    finally:
        bars.close()


def _followed(server: ServerClient, kind: str, job: dict, bars: Bars) -> dict:
    """The result of the server's job `job`, followed to its end with `bars`."""
    try:
        job = server.follow_job(job, lambda j: bars(j["done"], j["total"], j["message"])
                                if j["status"] == "running" and j["message"] else None)
    except KeyboardInterrupt:
        bars.close()
        say(f"the server goes on with job {job['id']} ({kind}): see `GET /api/jobs/{job['id']}` or the app")
        raise
    result = job.get("result")
    if job["status"] != "done":
        raise JaicatError((result or {}).get("message") or job["message"] or f"job {job['id']} failed")
    if result is None:
        raise JaicatError(f"the server no longer holds the result of job {job['id']} (see GET /api/jobs)")
    return result


def say(message: str) -> None:
    """A line about where the work happens, on stderr (stdout stays the command's answer)."""
    print(message, file=sys.stderr, flush=True)
