// Boot, screen dispatch on each route, tab bar, connection pill, job progress strip and event toasts.
// Screens are modules exporting mount(view, route) -> optional cleanup; router.js owns navigation,
// and screens tell the shell what happened through window events ("jaicat:paired", "jaicat:review-changed").

import { api, getToken, clearSession, url, describe } from "./api.js";
import * as ws from "./ws.js";
import { go, listen, parseRoute } from "./router.js";
import { h, clear, toast, progressBar } from "./ui.js";

const SCREENS = {
  connect: () => import("./connect.js"),
  upload: () => import("./upload.js"),
  review: () => import("./review.js"),
  library: () => import("./library.js"),
  search: () => import("./library.js"),
  photo: () => import("./viewer.js"),
  regions: () => import("./regions.js"),
  people: () => import("./people.js"),
  settings: () => import("./settings.js"),
  trash: () => import("./trash.js"),
  timeline: () => import("./timeline.js"),
  map: () => import("./map.js"),
  ideas: () => import("./ideas.js"),
};
const TAB_OF = { search: "library", photo: "library", regions: "library", trash: "settings", timeline: "library",
  map: "library", ideas: "library" };
const OPEN_WITHOUT_TOKEN = new Set(["connect", "upload"]); // upload still shows the local queue

let cleanup = null;
let navSeq = 0;

async function route() {
  const seq = ++navSeq;
  let r = parseRoute();
  if (!SCREENS[r.name]) r = { name: getToken() ? "review" : "connect", parts: [], params: new URLSearchParams() };
  if (!getToken() && !OPEN_WITHOUT_TOKEN.has(r.name)) r = { name: "connect", parts: [], params: r.params };
  const mod = await SCREENS[r.name]();
  if (seq !== navSeq) return; // a newer navigation won
  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } cleanup = null; }
  // Each navigation mounts into its own element: a screen still loading when the user moves on keeps
  // appending to its own (detached) element, never into the next screen's.
  const view = h("div.screen");
  clear(document.getElementById("view")).append(view);
  // they were about the last screen; one shown for this navigation (data-across) survives it, once
  for (const t of document.querySelectorAll(".toast:not(.toast-error)")) {
    if (t.dataset.across) delete t.dataset.across; else t.remove();
  }
  document.body.dataset.screen = r.name;
  document.getElementById("screen-title").textContent = mod.title || "";
  const tab = TAB_OF[r.name] || r.name;
  for (const a of document.querySelectorAll("#tabs a")) a.toggleAttribute("aria-current", a.dataset.tab === tab);
  try {
    const done = (await mod.mount(view, r)) || null;
    if (seq === navSeq) cleanup = done;
    else if (done) done(); // left before it finished loading: undo what it set up
  } catch (err) {
    console.error(err);
    view.append(h("div.empty", h("p", `This screen could not load: ${describe(err)}`),
      h("button.btn", { type: "button", onclick: () => route() }, "Try again")));
  }
}

// --- connection status -------------------------------------------------------------------------
const net = { online: navigator.onLine, live: false };

function renderNet() {
  const pill = document.getElementById("net-status");
  if (!pill) return;
  let text = "Live", cls = "ok";
  if (!net.online) { text = "Offline"; cls = "bad"; }
  else if (!getToken()) { text = "Not paired"; cls = "warn"; }
  else if (!net.live) { text = "Connecting…"; cls = "warn"; }
  pill.textContent = text;
  pill.className = `net-pill net-${cls}`;
  document.body.classList.toggle("is-offline", !net.online);
}

export function isOnline() {
  return net.online;
}

addEventListener("online", () => { net.online = true; renderNet(); });
addEventListener("offline", () => { net.online = false; net.live = false; renderNet(); });
ws.on("_status", (s) => { net.live = s.state === "open"; if (net.live) net.online = true; renderNet(); });

export function startLive() {
  if (!getToken()) return;
  ws.connect(() => {
    const u = new URL(url("/ws"));
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("token", getToken() || "");
    return u.toString();
  });
  refreshBadge();
  // jobs that started before this page opened have no progress event yet: show them now
  api.jobs({ status: "running" }).then((r) => {
    for (const j of r.items) showJob({ job_id: j.id, kind: j.kind, done: j.done, total: j.total, status: j.status, message: j.message });
  }).catch(() => {});
}

// --- review badge, jobs, event toasts -------------------------------------------------------------
export async function refreshBadge() {
  const badge = document.getElementById("review-badge");
  try {
    const r = await api.review({ limit: 1 });
    badge.hidden = !r.count;
    badge.textContent = r.count > 99 ? "99+" : String(r.count);
  } catch { /* the pill already says why */ }
}

// One compact line under the top bar for background jobs: the latest one, and how many others run.
const jobs = new Map(); // job_id -> last progress event
const jobBar = progressBar();
jobBar.el.classList.add("job-line");

function renderJobs() {
  const box = document.getElementById("jobs");
  const list = [...jobs.values()].sort((a, b) => b.seen - a.seen);
  if (!list.length) { jobBar.el.remove(); return; }
  const ev = list[0];
  const others = list.length - 1;
  const label = `${ev.kind || "job"} ${ev.done}/${ev.total}${ev.message ? ` · ${ev.message}` : ""}${others ? ` (+${others} more)` : ""}`;
  jobBar.set(ev.total ? ev.done / ev.total : 0, label);
  if (!jobBar.el.isConnected) box.append(jobBar.el);
}

function showJob(ev) {
  const job = { ...ev, seen: performance.now() };
  jobs.set(ev.job_id, job);
  if (ev.status === "done" || ev.status === "failed") {
    if (ev.status === "failed") toast(`${ev.kind || "Job"} failed: ${ev.message || "see the server log"}`, "error");
    setTimeout(() => { if (jobs.get(ev.job_id) === job) { jobs.delete(ev.job_id); renderJobs(); } }, 2000);
  }
  renderJobs();
}

ws.on("job.progress", showJob);
ws.on("photo.failed", (ev) => toast(`Photo ${ev.photo_id} could not be analysed: ${ev.error}`, "error"));
ws.on("suggestion.ready", () => refreshBadge());
ws.on("library.changed", () => refreshBadge());
ws.on("upload.received", () => refreshBadge());

addEventListener("jaicat:paired", () => startLive());
addEventListener("jaicat:review-changed", () => refreshBadge());

addEventListener("jaicat:unauthorized", () => {
  if (!getToken()) return;
  clearSession();
  ws.disconnect();
  toast("This phone is no longer paired with the server. Pair it again.", "error");
  renderNet();
  go("#connect");
});

// --- boot ------------------------------------------------------------------------------------------
async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  // A new shell took over (sw.js skips waiting): this page still runs the old code, so offer a reload.
  const hadController = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (!hadController) return; // first install, nothing changed under the page
    const t = toast("Jaicat was updated. ", "info", { timeout: 0 });
    t.querySelector(".toast-msg").append(h("button.btn.btn-small", { type: "button", onclick: () => location.reload() }, "Reload"));
  });
  try {
    // a module worker (it imports js/db.js; Chromium 91+, Safari 15+): a browser without them gets no offline shell
    await navigator.serviceWorker.register("sw.js", { scope: "./", type: "module" });
  } catch (err) {
    console.warn("service worker not registered", err); // needs https or localhost
  }
}

// Chrome offers installation through this event; keep it for the header's Install button.
let installPrompt = null;
addEventListener("beforeinstallprompt", (e) => {
  e.preventDefault();
  installPrompt = e;
  document.getElementById("install-btn").hidden = false;
});
addEventListener("appinstalled", () => {
  installPrompt = null;
  document.getElementById("install-btn").hidden = true;
  toast("Jaicat is installed: open it from the home screen, and share photos to it from the gallery.", "ok");
});
document.getElementById("install-btn").addEventListener("click", async () => {
  if (!installPrompt) return;
  installPrompt.prompt();
  await installPrompt.userChoice.catch(() => null);
  installPrompt = null;
  document.getElementById("install-btn").hidden = true;
});

addEventListener("unhandledrejection", (ev) => {
  toast(describe(ev.reason), "error");
});

renderNet();
registerServiceWorker();
startLive();
listen(route);
route();
