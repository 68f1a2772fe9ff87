// Jaicat service worker: precaches the app shell (versioned) so the app opens offline and can show
// the upload queue kept in IndexedDB, and receives Web Share Target POSTs. It never touches /api/
// or /ws: API data always comes from the server, and screens say so when it cannot be reached.
// A module worker (js/app.js registers it with type: "module"), so it shares js/db.js with the page.
// The server fills in VERSION when it serves this file: a digest of the SHELL files (web/static.py),
// so every change to the shell gives installed apps a new cache and nothing is pasted by hand.

import { openDb } from "./js/db.js";

const VERSION = "jaicat-shell-{{SHELL_DIGEST}}";
const SHELL = [
  "./",
  "index.html",
  "manifest.webmanifest",
  "css/app.css",
  "js/api.js",
  "js/app.js",
  "js/autofiled.js",
  "js/connect.js",
  "js/db.js",
  "js/folder-picker.js",
  "js/gestures.js",
  "js/hash-worker.js",
  "js/ideas.js",
  "js/library.js",
  "js/map.js",
  "js/people.js",
  "js/photo-actions.js",
  "js/regions.js",
  "js/review.js",
  "js/router.js",
  "js/settings.js",
  "js/sha256.js",
  "js/store.js",
  "js/timeline.js",
  "js/trash.js",
  "js/ui.js",
  "js/upload.js",
  "js/uploader.js",
  "js/viewer.js",
  "js/ws.js",
  "icons/apple-touch-icon.png",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "icons/icon-maskable-192.png",
  "icons/icon-maskable-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(VERSION);
    // cache: "reload" so a new version never precaches files from the HTTP cache of the old one
    await cache.addAll(SHELL.map((p) => new Request(p, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== VERSION && key.startsWith("jaicat-shell-")) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const u = new URL(req.url);
  if (u.origin !== self.location.origin) return;
  const scope = new URL(self.registration.scope);
  const rel = u.pathname.slice(scope.pathname.length);
  if (rel.startsWith("api/") || rel === "ws" || rel.startsWith("ws/") || rel === "ca.crt") return; // never the API
  if (req.method === "POST" && rel === "share-target") {
    event.respondWith(receiveShare(req));
    return;
  }
  if (req.method !== "GET") return;
  if (req.mode === "navigate") {
    // Any in-scope page load gets the shell: network first (fresh after an update), cache offline.
    event.respondWith(networkFirst(req, "index.html"));
    return;
  }
  event.respondWith((async () => {
    const cached = await caches.match(req, { cacheName: VERSION, ignoreSearch: true });
    return cached || fetch(req);
  })());
});

async function networkFirst(req, fallbackPath) {
  try {
    const res = await fetch(req);
    if (res.ok) return res;
    throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    const cache = await caches.open(VERSION);
    return (await cache.match(fallbackPath)) || (await cache.match("./")) || Response.error();
  }
}

// --- Web Share Target: stash the shared files in IndexedDB, then open the upload screen ---------
async function receiveShare(req) {
  let count = 0;
  try {
    const form = await req.formData();
    const files = form.getAll("media").filter((f) => f && typeof f === "object" && f.size > 0);
    const db = await openDb();
    await new Promise((resolve, reject) => {
      const t = db.transaction("shared", "readwrite");
      for (const file of files) t.objectStore("shared").add({ file, name: file.name, at: Date.now() });
      t.oncomplete = resolve;
      t.onerror = () => reject(t.error);
    });
    count = files.length;
  } catch (err) {
    return Response.redirect(new URL(`./#upload?share_error=${encodeURIComponent(err.message)}`, self.registration.scope).href, 303);
  }
  return Response.redirect(new URL(`./#upload?shared=${count}`, self.registration.scope).href, 303);
}
