// The upload queue: hash in a worker, skip what the server has, send resumable chunks.
// Every entry (with its File) is kept in IndexedDB, so the queue survives reloads and lost
// connections; after a reload the server's offset for each pending upload says where to go on.
// Emits "change" events on `queue` (an EventTarget) whenever an entry's state or progress moves.

import { api, ApiError, url, authHeaders, getToken } from "./api.js";
import { idb } from "./store.js";

// Chunk size adapts to the link, like tus clients: start small so a slow phone link shows progress
// and loses little when it drops, double while chunks take under 1.5 s, halve when one takes over 6 s.
const CHUNK_MIN = 256 * 1024;
const CHUNK_MAX = 32 * 1024 * 1024;  // per-request overhead dominates small chunks on a fast LAN; the server keeps bytes of a broken chunk
let chunkSize = 512 * 1024;
const PARALLEL = 2; // uploads in flight at once (the server allows max_concurrent_uploads per device)
const DONE_STATES = new Set(["done", "skipped", "failed"]);

export const queue = new EventTarget();
const entries = new Map(); // id -> entry (the in-memory mirror of the "queue" store)
let loaded = null;
let running = false;
let wake = null; // resolves the idle wait when new work arrives
// Finished entries leave the list by themselves a few seconds after the queue has nothing left to
// do (failed ones stay, to be retried or removed); `lastCleared` says what they were.
const CLEAR_AFTER_MS = 5000;
let clearTimer = 0;
export let lastCleared = null; // {sent, known}: the entries cleared last

/** Entry: {id, name, size, type, file, added, state, sha256, uploadId, sent (bytes out, for progress),
 * confirmed (bytes the server acknowledged), photoId, duplicate, error} */
export function list() {
  return [...entries.values()].sort((a, b) => a.added - b.added || a.seq - b.seq);
}

export function totals() {
  let size = 0, sent = 0, done = 0, active = 0, failed = 0, retryable = 0;
  for (const e of entries.values()) {
    size += e.size;
    sent += e.state === "done" || e.state === "skipped" ? e.size : e.sent || 0;
    if (e.state === "done" || e.state === "skipped") done++;
    else if (e.state === "failed") { failed++; if (!e.permanent) retryable++; }
    else active++;
  }
  return { count: entries.size, size, sent, done, active, failed, retryable };
}

function changed(entry) {
  queue.dispatchEvent(new CustomEvent("change", { detail: entry }));
}

async function save(entry, { persist = true } = {}) {
  entries.set(entry.id, entry);
  if (persist) await idb.put("queue", entry);
  changed(entry);
}

export async function load() {
  if (!loaded) {
    loaded = (async () => {
      for (const e of await idb.all("queue")) {
        if (e.state === "hashing" || e.state === "uploading" || e.state === "checking") e.state = e.sha256 ? "queued" : "new";
        entries.set(e.id, e);
      }
    })();
  }
  return loaded;
}

/** Add Files to the queue and start working. */
export async function enqueue(files) {
  await load();
  const added = Date.now();
  let seq = 0;
  for (const file of files) {
    const id = `${added.toString(36)}-${(seq).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    await save({
      id, seq: seq++, added, name: file.name || "shared-file", size: file.size, type: file.type || "",
      file, state: "new", sha256: null, uploadId: null, sent: 0, photoId: null, duplicate: false, error: null,
    });
  }
  start();
}

/** Remove finished entries from the list (the photos stay on the server, of course). */
export async function clearFinished() {
  clearTimeout(clearTimer);
  const gone = list().filter((e) => e.state === "done" || e.state === "skipped");
  for (const e of gone) {
    entries.delete(e.id);
    await idb.del("queue", e.id);
  }
  if (gone.length) {
    const known = gone.filter((e) => e.duplicate || e.state === "skipped").length;
    lastCleared = { sent: gone.length - known, known };
  }
  changed(null);
}

function clearSoon() {
  clearTimeout(clearTimer);
  if (!totals().active && totals().done) clearTimer = setTimeout(() => { if (!totals().active) clearFinished(); }, CLEAR_AFTER_MS);
}

/** Retry the failed uploads that can succeed another time; a file the server refused (not an image,
 * too large, damaged) stays failed: sending it again would be refused again. */
export async function retryFailed() {
  for (const e of list()) {
    if (e.state === "failed" && !e.permanent) {
      e.state = e.sha256 ? "queued" : "new";
      e.error = null;
      await save(e);
    }
  }
  start();
}

export async function remove(id) {
  const e = entries.get(id);
  if (!e) return;
  entries.delete(id);
  await idb.del("queue", id);
  if (e.uploadId && !DONE_STATES.has(e.state)) api.deleteUpload(e.uploadId).catch(() => {});
  changed(null);
}

// --- hashing ----------------------------------------------------------------------------------
let worker = null;
const pendingHashes = new Map();

function hashFile(file, onProgress) {
  if (!worker) {
    worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (ev) => {
      const { id, sha256, error, progress } = ev.data;
      const p = pendingHashes.get(id);
      if (!p) return;
      if (progress !== undefined) { p.onProgress && p.onProgress(progress); return; }
      pendingHashes.delete(id);
      if (error) p.reject(new Error(error)); else p.resolve(sha256);
    };
  }
  const id = Math.random().toString(36).slice(2);
  return new Promise((resolve, reject) => {
    pendingHashes.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, file });
  });
}

// --- the run loop -----------------------------------------------------------------------------
export function start() {
  if (!getToken()) return; // not paired: the queue waits in IndexedDB
  clearTimeout(clearTimer);
  if (wake) { wake(); wake = null; }
  if (running) return;
  running = true;
  run().finally(() => { running = false; clearSoon(); });
}

addEventListener("online", () => start());

async function run() {
  await load();
  for (;;) {
    await hashNew();
    await checkKnown();
    const ready = list().filter((e) => e.state === "queued");
    if (!ready.length) {
      if (!list().some((e) => e.state === "new")) return;
      continue;
    }
    let offline = false;
    const workers = Array.from({ length: PARALLEL }, async () => {
      for (let e = ready.shift(); e; e = ready.shift()) {
        const ok = await uploadOne(e);
        if (ok === "offline") { offline = true; return; }
      }
    });
    await Promise.all(workers);
    if (offline) await waitForNetwork();
  }
}

async function hashNew() {
  for (const e of list().filter((x) => x.state === "new")) {
    e.state = "hashing";
    e.hashProgress = 0;
    await save(e, { persist: false });
    try {
      e.sha256 = await hashFile(e.file, (p) => { e.hashProgress = p; changed(e); });
      e.state = "checking";
    } catch (err) {
      e.state = "failed";
      e.error = `Cannot read the file: ${err.message}`;
    }
    await save(e);
  }
}

/** Ask the server which hashes it already has, in one request per batch. */
async function checkKnown() {
  const todo = list().filter((e) => e.state === "checking");
  if (!todo.length) return;
  try {
    const { known } = await api.checkHashes([...new Set(todo.map((e) => e.sha256))]);
    const have = new Set(known);
    for (const e of todo) {
      e.state = have.has(e.sha256) ? "skipped" : "queued";
      if (e.state === "skipped") e.duplicate = true;
      await save(e);
    }
  } catch (err) {
    // Could not ask: upload anyway; the server still answers duplicate: true on create.
    for (const e of todo) { e.state = "queued"; await save(e); }
  }
}

function waitForNetwork() {
  return new Promise((resolve) => {
    const t = setTimeout(done, 5000);
    function done() { clearTimeout(t); removeEventListener("online", done); wake = null; resolve(); }
    addEventListener("online", done);
    wake = done;
  });
}

/** Upload one entry to completion. Returns true, false (failed for good) or "offline". */
async function uploadOne(e) {
  e.state = "uploading";
  e.error = null;
  await save(e, { persist: false });
  let attempts = 0;
  for (;;) {
    try {
      if (e.uploadId) {
        try {
          const up = await api.getUpload(e.uploadId);
          if (finished(e, up)) return await settle(e);
          e.sent = e.confirmed = up.offset;
        } catch (err) {
          if (err instanceof ApiError && err.status === 404) { e.uploadId = null; e.sent = 0; } else throw err;
        }
      }
      if (!e.uploadId) {
        const up = await api.createUpload({ filename: e.name, size: e.size, sha256: e.sha256, mime: e.type || undefined });
        e.uploadId = up.id;
        e.sent = up.offset || 0;
        await save(e);
        if (finished(e, up)) return await settle(e);
      }
      while (e.sent < e.size || e.size === 0) {
        const chunk = e.file.slice(e.sent, Math.min(e.size, e.sent + chunkSize));
        const base = e.sent;
        const t0 = performance.now();
        const up = await sendChunk(e.uploadId, base, chunk, (loaded) => { e.sent = base + loaded; changed(e); });
        const took = performance.now() - t0;
        if (chunk.size === chunkSize && took < 1500) chunkSize = Math.min(CHUNK_MAX, chunkSize * 2);
        else if (took > 6000) chunkSize = Math.max(CHUNK_MIN, chunkSize / 2);
        e.sent = e.confirmed = up.offset; // what the server has on disk, not just what left the phone
        if (finished(e, up)) return await settle(e);
        await save(e);
        if (e.size === 0) break;
      }
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.code === "offset_mismatch" && typeof err.body.offset === "number") { e.sent = e.confirmed = err.body.offset; continue; }
        if (err.status === 0) { e.state = "queued"; await save(e); return "offline"; }
        // an earlier chunk is still arriving (409 upload_busy) or ours stalled (408 client_gone):
        // the bytes that arrived are kept, so wait and continue from the server's offset
        if (err.code === "upload_busy" || err.status === 408) {
          if (++attempts <= 8) { await sleep(2000); continue; }
        }
        if (err.status === 429 || (err.status >= 500 && err.status !== 507)) {
          if (++attempts <= 5) { await sleep(1000 * attempts); continue; }
        }
        if (err.code === "checksum_mismatch" && ++attempts <= 1) {
          e.sent = 0; // the server reset the upload; the file may have changed since it was hashed
          continue;
        }
        if (err.status === 404 && e.uploadId && ++attempts <= 2) { e.uploadId = null; e.sent = 0; continue; }
      }
      e.state = "failed";
      e.error = err.message || String(err);
      // the server looked at the file and refused it (415, 413, 422 other than a checksum): for good
      e.permanent = err instanceof ApiError && [413, 415, 422].includes(err.status) && err.code !== "checksum_mismatch";
      await save(e);
      return false;
    }
  }
}

function finished(e, up) {
  if (up.status === "done") {
    e.state = "done";
    e.photoId = up.photo_id;
    e.duplicate = !!up.duplicate;
    e.sent = e.size;
    return true;
  }
  if (up.status === "failed") {
    e.state = "failed";
    e.permanent = true; // refused when it was ingested: the same bytes would be refused again
    e.error = up.error || "The server could not use this file";
    return true;
  }
  return false;
}

async function settle(e) {
  if (e.state === "done") delete e.file; // the photo is on the server: stop holding its bytes
  await save(e);
  return e.state === "done";
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** PATCH one chunk with XHR (fetch has no upload progress). Resolves to the Upload JSON. */
function sendChunk(uploadId, offset, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PATCH", url(`/api/uploads/${encodeURIComponent(uploadId)}`, { offset }));
    for (const [k, v] of Object.entries(authHeaders({ "Content-Type": "application/octet-stream" }))) {
      xhr.setRequestHeader(k, v);
    }
    xhr.timeout = 120000;
    xhr.upload.onprogress = (ev) => onProgress(ev.loaded);
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText || "{}"); } catch { /* keep {} */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else if (xhr.status === 401) {
        dispatchEvent(new CustomEvent("jaicat:unauthorized"));
        reject(new ApiError(401, "unauthorized", data.message || "Not paired", data));
      } else reject(new ApiError(xhr.status, data.error, data.message || `HTTP ${xhr.status}`, data));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "Connection lost during upload"));
    xhr.ontimeout = () => reject(new ApiError(0, "network", "Upload timed out"));
    xhr.send(blob);
  });
}
