// "Choose another folder" sheet: recent folders first (from the decision log), then every folder,
// filtered by a search box; typing a name that does not exist offers to create it.

import { api, describe } from "./api.js";
import { h, clear, sheet, toast } from "./ui.js";

export function flattenTree(node, out = []) {
  for (const c of node.children || []) {
    out.push({ path: c.path, count: c.count || 0 });
    flattenTree(c, out);
  }
  return out;
}

export async function recentFolders(limit = 6) {
  const seen = [];
  try {
    const { items } = await api.decisions({ limit: 50 });
    for (const d of items) {
      if (d.chosen_folder && !d.undone && d.action !== "skip" && !seen.includes(d.chosen_folder)) seen.push(d.chosen_folder);
      if (seen.length >= limit) break;
    }
  } catch { /* recent list is a convenience */ }
  return seen;
}

/** Resolves to {folder, create} or null when dismissed. `suggested` folders are listed first. */
export function pickFolder({ title = "Choose a folder", suggested = [] } = {}) {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v) => { if (!settled) { settled = true; resolve(v); s.close(); } };
    const search = h("input#folder-search", { type: "search", placeholder: "Search or type a new folder (a/b)",
      "aria-label": "Search folders", enterkeyhint: "go", autocomplete: "off" });
    const list = h("ul.folder-list#folder-options");
    const body = h("div.picker", search, list);
    const s = sheet(title, body, { onClose: () => { if (!settled) { settled = true; resolve(null); } } });
    let all = [];
    let recent = [];

    const option = (path, note, create = false) => h("li", h("button.folder-option", {
      type: "button", dataset: { folder: path, create: create ? "1" : "" }, onclick: () => finish({ folder: path, create }),
    }, h("span.folder-name", create ? `Create “${path}”` : path || "(library root)"), note ? h("span.folder-note", note) : null));

    const render = () => {
      const q = search.value.trim().replace(/^\/+|\/+$/g, "");
      const ql = q.toLowerCase();
      clear(list);
      const shown = new Set();
      const add = (path, note) => {
        if (shown.has(path)) return;
        if (ql && !path.toLowerCase().includes(ql)) return;
        shown.add(path);
        list.append(option(path, note));
      };
      for (const f of suggested) add(f.folder, f.score !== undefined ? `suggested ${Math.round(f.score * 100)}%` : "suggested");
      for (const f of recent) add(f, "recent");
      for (const f of all) add(f.path, f.count ? `${f.count} photo${f.count > 1 ? "s" : ""}` : "");
      if (q && !all.some((f) => f.path.toLowerCase() === ql)) list.prepend(option(q, "new folder", true));
      if (!list.children.length) list.append(h("li.muted", "No folders yet: type a name to create one."));
    };
    search.addEventListener("input", render);
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        const first = list.querySelector(".folder-option");
        if (first) first.click();
      }
    });
    render();
    Promise.all([api.folders().then((t) => flattenTree(t)), recentFolders()]).then(([a, r]) => {
      all = a;
      recent = r;
      render();
    }).catch((err) => toast(`Folders could not be loaded: ${describe(err)}`, "error"));
    setTimeout(() => search.focus(), 50);
  });
}

/** Make sure a folder exists (ignoring "already exists"), for flows whose API needs it to. */
export async function ensureFolder(path) {
  try { await api.createFolder(path); } catch (err) { if (err.status !== 409) throw err; }
}
