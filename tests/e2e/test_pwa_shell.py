"""The PWA shell: installable manifest and icons, a service worker that controls the page, keeps
the shell offline (never the API), keeps queued uploads across an offline reload, takes files from
the share sheet, and a SHA-256 that matches the server's.

Drives Debian's chromium (headless, mobile emulation) against the real server (`live_server`).
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from fixtures.browser import pair_phone
import requests
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
PWA = ROOT / "pwa"
MEDIA = ROOT / "tests" / "media"  # the set in the repository; tests needing more take full_media_dir
SHOTS = ROOT / "test-artifacts" / "screenshots"


def shell_list() -> list[str]:
    src = (PWA / "sw.js").read_text()
    block = re.search(r"const SHELL = \[(.*?)\];", src, re.S).group(1)
    return re.findall(r'"([^"]+)"', block)


def test_service_worker_precaches_every_shell_file():
    """A file missing from SHELL would break the app offline; a stale entry would break install."""
    listed = set(shell_list()) - {"./"}
    on_disk = {p.relative_to(PWA).as_posix() for p in PWA.rglob("*")
               if p.is_file() and p.suffix in {".html", ".js", ".css", ".png", ".webmanifest"} and p.name != "sw.js"}
    assert listed == on_disk


def pair(page, server) -> None:
    pair_phone(page, server)
    page.wait_for_selector("#file-input", state="attached")


def wait_controlled(page) -> None:
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=20_000)


def test_manifest_is_installable(live_server, phone):
    resp = requests.get(f"{live_server.url}/manifest.webmanifest", timeout=10)
    assert resp.status_code == 200 and "manifest+json" in resp.headers["Content-Type"]
    m = resp.json()
    assert m["name"] and m["short_name"] and m["display"] == "standalone"
    assert m["start_url"] and m["theme_color"] and m["background_color"]
    icons = {(i["sizes"], i.get("purpose", "any")): i["src"] for i in m["icons"]}
    for key in [("192x192", "any"), ("512x512", "any"), ("192x192", "maskable"), ("512x512", "maskable")]:
        icon = requests.get(f"{live_server.url}/{icons[key]}", timeout=10)
        assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/png"
        im = Image.open(io.BytesIO(icon.content))
        assert f"{im.width}x{im.height}" == key[0]
        if key[1] == "maskable":  # full bleed: launchers crop it to any shape
            assert im.convert("RGBA").getpixel((0, 0))[3] == 255
    share = m["share_target"]
    assert share["method"] == "POST" and share["enctype"] == "multipart/form-data"

    phone.goto(live_server.url + "/")
    wait_controlled(phone)
    cdp = phone.context.new_cdp_session(phone)
    manifest = cdp.send("Page.getAppManifest")
    assert not manifest.get("errors"), manifest.get("errors")
    errors = [e["errorId"] for e in cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]]
    # Playwright contexts are incognito profiles, where Chrome never offers installation; every other
    # check (manifest, icons, secure context, service worker) must pass.
    assert [e for e in errors if e != "in-incognito"] == []
    assert phone.errors == []


def test_offline_reload_opens_shell_and_keeps_queue(live_server, phone):
    api_from_sw: list[str] = []
    phone.on("response", lambda r: api_from_sw.append(r.url) if "/api/" in r.url and r.from_service_worker else None)
    pair(phone, live_server)
    wait_controlled(phone)

    # Lose the connection, queue a photo, reload: the shell and the queued file are still there.
    photo = MEDIA / "exif" / "orientation_6.jpg"
    phone.context.set_offline(True)
    phone.set_input_files("#file-input", str(photo))
    row = phone.locator(".upload-item", has_text=photo.name)
    row.wait_for()
    phone.wait_for_function("document.querySelector('.upload-item').dataset.state === 'queued'")
    phone.reload()
    phone.wait_for_selector(".upload-item")
    assert phone.locator(".upload-item", has_text=photo.name).get_attribute("data-state") in ("queued", "new")
    assert phone.locator("#net-status").inner_text() == "Offline"
    assert phone.locator(".banner-offline").first.is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SHOTS / "offline-queue.png"))

    # Back online, the queue finishes by itself.
    phone.context.set_offline(False)
    phone.evaluate("dispatchEvent(new Event('online'))")
    phone.wait_for_selector('.queue-card[data-complete="true"]', timeout=30_000)
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    known = requests.post(f"{live_server.url}/api/uploads/check", json={"sha256": [sha]},
                          headers={"Authorization": f"Bearer {live_server.token}"}, timeout=10).json()
    assert known["known"] == [sha]
    assert api_from_sw == []  # the service worker never answered an API request

    # The same photo again: hashed, found on the server, not sent.
    phone.click("text=Clear finished")
    sent: list[str] = []
    phone.on("request", lambda r: sent.append(r.url) if r.method in ("POST", "PATCH") and "/api/uploads" in r.url else None)
    phone.set_input_files("#file-input", str(photo))
    phone.wait_for_selector('.upload-item[data-state="skipped"]')
    assert "Already on the server" in phone.locator(".upload-item").inner_text()
    assert [u for u in sent if not u.endswith("/api/uploads/check")] == []
    assert phone.errors == []


def test_upload_resumes_after_connection_loss_and_reload(live_server, phone, full_media_dir):
    """A dropped connection mid-file, then an app restart: the upload goes on from the server's
    offset instead of starting again, and the server gets exactly the file."""
    pair(phone, live_server)
    wait_controlled(phone)
    photo = full_media_dir / "heic_real" / "pillowheif_cat.hif"  # 2.6 MB: several chunks on a slow link
    accepted: list[int] = []  # offsets of the chunks the server took (200), in order
    phone.on("response", lambda r: accepted.append(int(re.search(r"offset=(\d+)", r.url).group(1)))
             if r.request.method == "PATCH" and r.status == 200 else None)
    cdp = phone.context.new_cdp_session(phone)
    cdp.send("Network.enable")

    def network(offline: bool, upload_bps: int = -1) -> None:
        phone.context.set_offline(offline)  # navigator.onLine and the online/offline events
        cdp.send("Network.emulateNetworkConditions", {"offline": offline, "latency": 20 if upload_bps > 0 else 0,
                                                       "downloadThroughput": -1, "uploadThroughput": upload_bps})

    network(False, 300 * 1024)
    phone.set_input_files("#file-input", str(photo))
    phone.evaluate("import('./js/uploader.js').then((m) => { window.uploaderForTest = m; })")
    entry = "window.uploaderForTest.list()[0]"
    phone.wait_for_function(f"{entry} && {entry}.uploadId && {entry}.confirmed >= 512 * 1024", polling=50, timeout=30_000)
    network(True)
    phone.wait_for_function(f"{entry}.state === 'queued'")
    assert phone.evaluate(f"{entry}.confirmed") < photo.stat().st_size  # cut mid-file
    phone.reload()
    phone.wait_for_selector(".upload-item")

    network(False)
    phone.evaluate("dispatchEvent(new Event('online'))")
    phone.wait_for_selector('.queue-card[data-complete="true"]', timeout=60_000)
    assert accepted[0] == 0 and accepted == sorted(set(accepted)), accepted  # nothing sent twice
    assert len(accepted) >= 2
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert live_server.post("/api/uploads/check", json={"sha256": [sha]}).json()["known"] == [sha]
    assert phone.errors == []


def test_rejected_files_say_why(live_server, phone):
    """A file the server cannot use is never dropped silently: its row says failed, and why, in red;
    "Retry failed" is not offered for files the server refused (they would be refused again), and the
    server's log names the file and the reason. A too-big image says what to do, not a setting."""
    pair(phone, live_server)
    good, bad = MEDIA / "exif" / "orientation_8.jpg", MEDIA / "bad" / "not_an_image.jpg"
    bomb = MEDIA / "bad" / "decompression_bomb.png"
    phone.set_input_files("#file-input", [str(good), str(bad), str(bomb)])
    # each row settles in its own time: wait for the one looked at, not for any failed row
    phone.locator('.upload-item[data-state="done"]', has_text=good.name).wait_for(timeout=30_000)
    row = phone.locator('.upload-item[data-state="failed"]', has_text=bad.name)
    row.wait_for(timeout=30_000)
    assert re.search(r"Failed: .*(image|unsupported|corrupt)", row.inner_text(), re.I), row.inner_text()
    colour = """(e, name) => { const d = document.createElement("div"); d.style.color = `var(${name})`;
        document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; }"""
    fill = row.locator(".progress-fill").evaluate("e => getComputedStyle(e).backgroundColor")
    assert fill == row.evaluate(colour, "--bad") != row.evaluate(colour, "--accent")  # red, not a full blue bar
    big = phone.locator(".upload-item", has_text=bomb.name)
    big.locator(".upload-state", has_text="send a smaller version").wait_for(timeout=30_000)
    assert "max_pixels" not in big.inner_text().split("(")[0]
    phone.locator("#queue-summary", has_text="2 failed").wait_for()
    assert phone.locator("#retry-failed").count() == 0
    log = live_server.log()
    assert "not_an_image.jpg" in log and "decompression_bomb.png" in log and "refused upload" in log


def test_library_grid_loads_more_on_scroll(live_server, phone):
    """The grid shows a page of thumbnails and fetches the next page when the end scrolls into view."""
    for i in range(65):  # one more page than the grid asks for (60)
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(buf, "JPEG")
        data = buf.getvalue()
        up = live_server.post("/api/uploads", json={"filename": f"swatch_{i:02}.jpg", "size": len(data)}).json()
        r = live_server.request("PATCH", f"/api/uploads/{up['id']}", params={"offset": 0}, data=data,
                                headers={"Content-Type": "application/octet-stream"})
        assert r.json()["status"] == "done", r.text
    total = 0
    cursor = None
    while True:
        page = live_server.get("/api/photos", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    pair(phone, live_server)
    requests_seen: list[str] = []
    phone.on("request", lambda r: requests_seen.append(r.url) if "/api/photos?" in r.url else None)
    phone.goto(f"{live_server.url}/#library")
    phone.wait_for_selector("#photo-grid .thumb")
    assert phone.locator("#photo-grid .thumb").count() == 60
    # lazy: thumbnails far below the fold are not fetched yet
    assert phone.evaluate("[...document.querySelectorAll('#photo-grid img')].filter((i) => i.complete && i.naturalWidth).length") < 60
    phone.locator(".sentinel").scroll_into_view_if_needed()
    phone.wait_for_function(f"document.querySelectorAll('#photo-grid .thumb').length === {total}")
    assert any("cursor=" in u for u in requests_seen)
    assert phone.locator("#grid-status").inner_text() == f"{total} photos"


def test_share_target_queues_shared_files(live_server, phone):
    pair(phone, live_server)
    wait_controlled(phone)
    photo = MEDIA / "exif" / "orientation_3.jpg"
    # What the share sheet does: navigate with a multipart POST to the manifest's share_target action.
    phone.evaluate("""() => {
        const f = document.createElement('form');
        f.method = 'post'; f.enctype = 'multipart/form-data'; f.action = 'share-target'; f.id = 'share-form';
        f.innerHTML = '<input name="title" value="shared"><input type="file" name="media" multiple>';
        document.body.append(f);
    }""")
    phone.set_input_files("#share-form input[type=file]", str(photo))
    with phone.expect_navigation():
        phone.evaluate("document.getElementById('share-form').submit()")
    phone.wait_for_function("location.hash.startsWith('#upload?shared=1')")
    phone.wait_for_selector(f'.upload-item:has-text("{photo.name}")')
    phone.wait_for_selector('.queue-card[data-complete="true"]', timeout=30_000)
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    known = requests.post(f"{live_server.url}/api/uploads/check", json={"sha256": [sha]},
                          headers={"Authorization": f"Bearer {live_server.token}"}, timeout=10).json()
    assert known["known"] == [sha]


def test_sha256_worker_matches_hashlib(live_server, phone, full_media_dir):
    """Both paths of the hash worker (SubtleCrypto whole-file, streaming JS) agree with hashlib,
    across block boundaries and slices (the streaming path reads 4 MiB slices)."""
    phone.goto(live_server.url + "/")
    sizes = [0, 1, 55, 56, 63, 64, 65, 1000, 4 * 1024 * 1024 + 17, 9 * 1024 * 1024 + 3]
    got = phone.evaluate("""async (sizes) => {
        const w = new Worker('js/hash-worker.js', {type: 'module'});
        const hash = (file, mode) => new Promise((resolve, reject) => {
            const id = Math.random().toString(36);
            w.addEventListener('message', function on(ev) {
                if (ev.data.id !== id || ev.data.progress !== undefined) return;
                w.removeEventListener('message', on);
                ev.data.error ? reject(ev.data.error) : resolve(ev.data.sha256);
            });
            w.postMessage({id, file, mode});
        });
        const out = [];
        for (const n of sizes) {
            const a = new Uint8Array(n);
            for (let i = 0; i < n; i++) a[i] = (i * 7 + 3) & 255;
            const f = new File([a], 'x.bin');
            out.push([await hash(f, 'stream'), await hash(f, 'whole')]);
        }
        return out;
    }""", sizes)
    for n, (stream, whole) in zip(sizes, got, strict=True):
        want = hashlib.sha256(bytes((i * 7 + 3) & 255 for i in range(n))).hexdigest()
        assert stream == want, f"streaming sha256 wrong for {n} bytes"
        assert whole == want, f"SubtleCrypto sha256 wrong for {n} bytes"
    # and a real photo, through the worker's default choice
    photo = full_media_dir / "exif_real" / "Portrait_5.jpg"
    got = phone.evaluate("""async (bytes) => {
        const w = new Worker('js/hash-worker.js', {type: 'module'});
        return await new Promise((resolve) => {
            w.onmessage = (ev) => { if (ev.data.sha256 || ev.data.error) resolve(ev.data.sha256 || ev.data.error); };
            w.postMessage({id: 'p', file: new File([new Uint8Array(bytes)], 'p.jpg')});
        });
    }""", list(photo.read_bytes()))
    assert got == hashlib.sha256(photo.read_bytes()).hexdigest()


