// Upload screen: pick many photos/videos (or receive them from the share sheet), then watch the
// queue hash, skip known files and upload, with per-file and total progress. Works offline: the
// queue lives in IndexedDB and continues when the connection returns.

import * as uploader from "./uploader.js";
import { idb } from "./store.js";
import { getToken } from "./api.js";
import { h, clear, progressBar, formatBytes, toast } from "./ui.js";

export const title = "Upload";

const STATE_TEXT = {
  new: "Waiting to hash", hashing: "Hashing", checking: "Checking", queued: "Queued",
  uploading: "Uploading", done: "Uploaded", skipped: "Already on the server", failed: "Failed",
};

/** Files handed over by the share target (sw.js) wait in the "shared" store until we queue them. */
async function takeShared() {
  const shared = await idb.all("shared");
  if (!shared.length) return 0;
  await uploader.enqueue(shared.map((s) => s.file));
  for (const s of shared) await idb.del("shared", s.id);
  return shared.length;
}

export async function mount(view, route) {
  const input = h("input#file-input.visually-hidden", { type: "file", multiple: true, accept: "image/*,video/*" });
  const total = progressBar("Nothing queued");
  total.el.id = "total-progress";
  const summary = h("p#queue-summary.muted");
  const listEl = h("ul#upload-list.upload-list");
  const actions = h("div.row.queue-actions");
  const rows = new Map();

  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    if (files.length) {
      await uploader.enqueue(files);
      toast(`${files.length} file${files.length > 1 ? "s" : ""} queued`, "info", { timeout: 2000 });
    }
  });

  view.append(
    h("section.upload-pick",
      h("label.btn.btn-primary.btn-big.pick-btn", { for: "file-input" }, "Choose photos & videos"), input,
      !getToken() ? h("p.banner.banner-warn", "Not paired yet: files wait here until you ", h("a", { href: "#connect" }, "pair this phone"), ".") : null,
      h("p.banner.banner-offline", "You are offline. The queue is saved on this phone and continues when the connection returns.")),
    h("section.card.queue-card", h("h2", "Queue"), total.el, summary, actions, listEl),
  );

  function row(e) {
    let r = rows.get(e.id);
    if (!r) {
      const bar = progressBar();
      const state = h("span.upload-state");
      const el = h("li.upload-item", { dataset: { id: e.id } },
        h("div.upload-line", h("span.upload-name", e.name), h("span.upload-size", formatBytes(e.size))),
        bar.el, state,
        h("button.icon-btn.upload-remove", { type: "button", "aria-label": `Remove ${e.name} from the queue`,
          onclick: () => uploader.remove(e.id) }, "×"));
      r = { el, bar, state };
      rows.set(e.id, r);
    }
    const frac = e.state === "done" || e.state === "skipped" ? 1
      : e.state === "hashing" ? (e.hashProgress || 0) * 0.05
        : e.size ? (e.sent || 0) / e.size : 0;
    r.bar.set(frac);
    r.el.dataset.state = e.state;
    r.state.textContent = e.state === "failed" ? `Failed: ${e.error}`
      : e.state === "uploading" ? `Uploading ${Math.round(frac * 100)}%`
        : e.state === "done" && e.duplicate ? "Already on the server" : STATE_TEXT[e.state] || e.state;
    return r.el;
  }

  function render() {
    const items = uploader.list();
    const seen = new Set(items.map((e) => e.id));
    for (const [id, r] of rows) if (!seen.has(id)) { r.el.remove(); rows.delete(id); }
    const want = items.map(row);
    if (want.some((el, i) => listEl.children[i] !== el)) { clear(listEl); listEl.append(...want); }
    const t = uploader.totals();
    if (!t.count) {
      total.set(0, "Nothing queued");
      const last = uploader.lastCleared;
      summary.textContent = last ? `Done: ${last.sent} sent${last.known ? `, ${last.known} already on the server` : ""}. Pick more to send them too.`
        : "Pick photos to send them to your Jaicat.";
    } else {
      total.set(t.size ? t.sent / t.size : 1, `${t.done}/${t.count} done · ${formatBytes(t.sent)} of ${formatBytes(t.size)}`);
      summary.textContent = t.active ? `${t.active} in progress` : t.failed ? `${t.failed} failed` : "All done";
    }
    view.querySelector(".queue-card").dataset.complete = t.count > 0 && !t.active && !t.failed ? "true" : "false";
    clear(actions);
    if (t.retryable) actions.append(h("button.btn#retry-failed", { type: "button", onclick: () => uploader.retryFailed() }, "Retry failed"));
    if (t.done) actions.append(h("button.btn", { type: "button", onclick: () => uploader.clearFinished() }, "Clear finished"));
  }

  let frame = 0;
  const onChange = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); }); };
  uploader.queue.addEventListener("change", onChange);
  await uploader.load();
  render();

  if (route.params.get("share_error")) toast(`Sharing failed: ${route.params.get("share_error")}`, "error");
  const n = await takeShared().catch((err) => { toast(`Could not read shared files: ${err.message}`, "error"); return 0; });
  if (n) toast(`${n} shared file${n > 1 ? "s" : ""} queued`, "ok");
  if (getToken()) uploader.start();

  return () => {
    uploader.queue.removeEventListener("change", onChange);
    cancelAnimationFrame(frame);
  };
}
