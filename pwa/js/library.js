// Library: folder tree, a lazily loaded thumbnail grid with infinite scroll, and search
// (free text, tag:, person:, folder:, similar:). "#library?folder=Pets" browses a folder,
// "#search?q=tag:dog beach" searches. The current list (router.js `browsing`) is shared with the photo viewer
// so it can swipe to the next photo.

import { api, media, describe } from "./api.js";
import { browsing, go } from "./router.js";
import { movePhotos, setFavourite, trashPhotos } from "./photo-actions.js";
import { h, clear, mediaBadge, sheet, toast } from "./ui.js";

export const title = "Library";

/** Returns a pager: async () => {items, done}. Search text goes to /api/search as typed: the server
 * parses tag:, person:, folder:, similar:<id> (more like this), after:/before: and free text itself,
 * and pages through the ranked results with a cursor like the other lists (infinite scroll). */
function pagerFor(route) {
  if (route.name === "search") {
    const q = route.params.get("q") || "";
    return cursorPager((cursor) => api.search(q, 60, cursor));
  }
  const query = {};
  if (route.params.has("folder")) query.folder = route.params.get("folder");
  if (route.params.has("status")) query.status = route.params.get("status");
  if (route.params.get("favourite") === "1") query.favourite = 1;
  return cursorPager((cursor) => api.photos({ ...query, limit: 60, cursor }));
}

function cursorPager(fetchPage) {
  let cursor = null;
  let done = false;
  return async () => {
    if (done) return { items: [], done: true };
    const r = await fetchPage(cursor || undefined);
    cursor = r.next_cursor;
    done = !cursor;
    return { items: r.items, done, hints: r.hints || [] };
  };
}

function crumbs(folder) {
  if (folder === null) return [h("span", "All photos")];
  const out = [h("a", { href: "#library" }, "All")];
  out.push(h("span", "›"), h("a", { href: "#library?folder=" }, "Library"));
  let acc = "";
  for (const part of folder.split("/").filter(Boolean)) {
    acc = acc ? `${acc}/${part}` : part;
    out.push(h("span", "›"), h("a", { href: `#library?folder=${encodeURIComponent(acc)}` }, part));
  }
  return out;
}

function flatten(node, out = []) {
  for (const c of node.children || []) { out.push(c.path); flatten(c, out); }
  return out;
}

function findNode(tree, path) {
  if (!path) return tree;
  for (const c of tree.children || []) {
    if (c.path === path) return c;
    if (path.startsWith(`${c.path}/`)) return findNode(c, path);
  }
  return null;
}

export async function mount(view, route) {
  const isSearch = route.name === "search";
  const folder = route.params.has("folder") ? route.params.get("folder") : null;
  const q = isSearch ? route.params.get("q") || "" : "";

  const input = h("input#search-input", { type: "search", value: q, placeholder: "Search: beach, tag:dog…",
    "aria-label": "Search photos", enterkeyhint: "search", autocomplete: "off" });
  const form = h("form.search-bar", { role: "search", onsubmit: (e) => {
    e.preventDefault();
    const v = input.value.trim();
    go(v ? `#search?q=${encodeURIComponent(v)}` : "#library");
  } }, input, h("button.btn.btn-primary", { type: "submit" }, "Search"));
  const folders = h("div#folder-tree.folder-tree");
  const hintBox = h("div#search-hints.search-hints", { role: "status" });
  // filter chips: pick a person, tag, folder or month instead of typing the syntax
  const addFilter = (token) => {
    const v = `${input.value.trim()} ${token}`.trim();
    go(`#search?q=${encodeURIComponent(v)}`);
  };
  const quote = (s) => (/[\s"]/.test(s) ? `"${s.replace(/"/g, "")}"` : s);
  const chooser = (label, load, toToken) => h("button.btn.btn-small.filter-chip", { type: "button", dataset: { filter: label.toLowerCase() },
    onclick: async () => {
      const list = h("ul.folder-list", h("li.muted", "Loading…"));
      const s = sheet(`Filter by ${label.toLowerCase()}`, list);
      try {
        const opts = await load();
        list.replaceChildren(...(opts.length ? opts.map((o) => h("li", h("button.folder-option", { type: "button",
          onclick: () => { s.close(); addFilter(toToken(o.value)); } }, h("span.folder-name", o.label), o.note ? h("span.folder-note", o.note) : null)))
          : [h("li.muted", `No ${label.toLowerCase()} yet.`)]));
      } catch (err) { list.replaceChildren(h("li.muted", describe(err))); }
    } }, label);
  const filters = h("div#filter-chips.row.wrap.filter-chips",
    chooser("Person", async () => (await api.people()).items.map((p) => ({ value: p.name, label: p.name, note: p.face_count ? String(p.face_count) : "" })), (v) => `person:${quote(v)}`),
    chooser("Tag", async () => (await api.tags()).items.map((t) => ({ value: t.name, label: t.name, note: String(t.count) })), (v) => `tag:${quote(v)}`),
    chooser("Folder", async () => flatten(await api.folders()).map((f) => ({ value: f, label: f })), (v) => `folder:${quote(v)}`),
    chooser("Date", async () => (await api.timeline()).months.map((m) => ({ value: m.month, label: m.month, note: String(m.count) })), (v) => `date:${v}`),
    h("button.btn.btn-small.filter-chip", { type: "button", dataset: { filter: "favourite" }, onclick: () => addFilter("is:favourite") }, "★"));
  const grid = h("div#photo-grid.photo-grid");
  const status = h("p#grid-status.muted.grid-status");
  const sentinel = h("div.sentinel");
  const head = isSearch
    ? h("div.crumbs", h("a", { href: "#library" }, "Library"), h("span", "›"), h("span", `Search “${q}”`))
    : h("nav.crumbs", { "aria-label": "Folder" }, crumbs(folder));

  if (folder) head.append(h("button.btn.btn-small.rename-folder#rename-folder", { type: "button", onclick: () => renameFolder(folder) }, "Rename"));
  if (route.params.get("favourite") === "1") head.append(h("span", "›"), h("span", "★ Favourites"));

  // Select mode: taps pick photos instead of opening them; the bar moves, stars or deletes the pick.
  const selected = new Set();
  let selecting = false;
  const bar = h("div#select-bar.row.wrap.select-bar");
  const selectBtn = h("button.btn.btn-small#select-btn", { type: "button", onclick: () => setSelecting(!selecting) }, "Select");
  head.append(selectBtn);
  function setSelecting(on) {
    selecting = on;
    selected.clear();
    selectBtn.textContent = on ? "Done" : "Select";
    grid.classList.toggle("selecting", on);
    renderBar();
  }
  function renderBar() {
    for (const el of grid.children) el.setAttribute("aria-pressed", selected.has(Number(el.dataset.photoId)) ? "true" : "false");
    clear(bar);
    if (!selecting) return;
    const ids = [...selected];
    const none = !ids.length;
    bar.append(h("strong#select-count", `${ids.length} selected`),
      h("button.btn.btn-small#select-move", { type: "button", disabled: none, onclick: async () => {
        if (await movePhotos(ids) !== null) go(location.hash);
      } }, "Move"),
      h("button.btn.btn-small#select-star", { type: "button", disabled: none, onclick: async () => {
        if (await setFavourite(ids, true)) { toast(`Starred ${ids.length}`, "ok"); setSelecting(false); }
      } }, "★ Star"),
      h("a.btn.btn-small#select-ideas", { href: none ? undefined : `#ideas/${ids.slice(0, 20).join(",")}`, "aria-disabled": none ? "true" : undefined }, "Post ideas"),
      h("button.btn.btn-small.btn-danger#select-delete", { type: "button", disabled: none, onclick: async () => {
        if (await trashPhotos(ids, { onUndo: () => go(location.hash) })) go(location.hash);
      } }, "Delete"));
  }
  grid.addEventListener("click", (e) => {
    const a = e.target.closest(".thumb");
    if (!selecting || !a) return;
    e.preventDefault();
    const pid = Number(a.dataset.photoId);
    if (selected.has(pid)) selected.delete(pid); else selected.add(pid);
    renderBar();
  });
  view.append(form, filters, hintBox, head, bar, folders, grid, status, sentinel);

  let subfolders = Promise.resolve(0); // how many folders are below this one (for the empty message)
  if (!isSearch) {
    subfolders = api.folders().then((tree) => {
      const node = folder === null ? tree : findNode(tree, folder);
      const kids = (node && node.children) || [];
      if (folder === null) {
        folders.append(h("a.folder-chip.inbox-chip", { href: "#library?status=inbox" }, "Inbox"),
          h("a.folder-chip#favourites-chip", { href: "#library?favourite=1" }, "★ Favourites"),
          h("a.folder-chip#timeline-chip", { href: "#timeline" }, "Timeline"),
          h("a.folder-chip#map-chip", { href: "#map" }, "Map"));
        if (route.params.get("status") === "inbox") head.append(h("span", "›"), h("span", "Inbox"));
      }
      for (const c of kids) {
        folders.append(h("a.folder-chip", { href: `#library?folder=${encodeURIComponent(c.path)}`, dataset: { folder: c.path } },
          h("span.folder-icon", { "aria-hidden": "true" }), c.name,
          c.count ? h("small", String(c.count)) : null,
          (c.children || []).length ? h("small.folder-more", { "aria-label": "has subfolders" }, "›") : null));
      }
      return kids.length;
    }).catch((err) => { folders.append(h("p.muted", `Folders unavailable: ${describe(err)}`)); return 0; });
  }

  const next = pagerFor(route);
  let done = false;
  let loading = false;
  browsing.items = [];
  browsing.label = isSearch ? `Search “${q}”` : folder ?? "All photos";

  async function more() {
    if (done || loading) return;
    loading = true;
    status.textContent = "Loading…";
    try {
      const r = await next();
      done = r.done;
      if (r.hints && r.hints.length && !hintBox.childElementCount) hintBox.append(...r.hints.map((t) => h("p.hint-line", t)));
      for (const p of r.items) {
        browsing.items.push(p);
        grid.append(h("a.thumb", { href: `#photo/${p.id}`, dataset: { photoId: p.id }, title: p.filename },
          h("img", { src: media(p.thumb_url), alt: p.caption || p.filename, loading: "lazy", decoding: "async" }),
          p.favourite ? h("span.thumb-star", { "aria-label": "favourite" }, "★") : null,
          mediaBadge(p),
          p.score !== undefined && p.score !== null ? h("span.thumb-score", `${Math.round(p.score * 100)}`) : null));
      }
      const n = browsing.items.length;
      status.textContent = n ? (done ? `${n} photo${n > 1 ? "s" : ""}` : "") : isSearch ? "No matches."
        : (await subfolders) ? "No photos directly in this folder: open one of its folders above."
          : "No photos here yet.";
    } catch (err) {
      status.textContent = "";
      status.append(`Could not load photos: ${describe(err)} `, h("button.btn.btn-small", { type: "button", onclick: () => more() }, "Retry"));
      return;
    } finally {
      loading = false;
    }
    // re-observing reports the sentinel's current state: a page that did not fill the screen loads the next
    if (!done && io) { io.unobserve(sentinel); io.observe(sentinel); }
  }
  let io = null;
  browsing.more = async () => { await more(); return !done; };

  io = new IntersectionObserver((ents) => { if (ents.some((e) => e.isIntersecting)) more(); }, { rootMargin: "600px" });
  io.observe(sentinel);
  await more();
  return () => io.disconnect();
}

/** Rename or move a library folder (its photos, subfolders and filing history follow). */
function renameFolder(from) {
  const input = h("input#rename-to", { type: "text", value: from, "aria-label": "New folder path", autocomplete: "off" });
  const s = sheet(`Rename “${from}”`, h("form.row", { onsubmit: async (e) => {
    e.preventDefault();
    const to = input.value.trim().replace(/^\/+|\/+$/g, "");
    if (!to || to === from) { s.close(); return; }
    try {
      const r = await api.renameFolder(from, to);
      toast(`Renamed to ${r.path} (${r.moved} photo${r.moved === 1 ? "" : "s"} moved)`, "ok", { across: true });
      s.close();
      go(`#library?folder=${encodeURIComponent(r.path)}`);
    } catch (err) {
      toast(`Not renamed: ${describe(err)}`, "error");
    }
  } }, input, h("button.btn.btn-primary", { type: "submit" }, "Rename")));
  input.focus();
  input.select();
}
