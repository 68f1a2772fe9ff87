// The trash: photos deleted from the viewer or the library wait here. Tap photos to select them,
// then restore them (back where they were) or delete them for good; "Empty trash" asks first.

import { api, media, describe } from "./api.js";
import { h, clear, toast } from "./ui.js";

export const title = "Trash";

export async function mount(view) {
  const grid = h("div#trash-grid.photo-grid");
  const status = h("p#trash-status.muted.grid-status", "Loading…");
  const selected = new Set();
  const restoreBtn = h("button.btn.btn-primary#restore-btn", { type: "button", disabled: true, onclick: () => restore() }, "Restore");
  const deleteBtn = h("button.btn.btn-danger#delete-forever-btn", { type: "button", disabled: true, onclick: () => destroy([...selected]) }, "Delete for good");
  const emptyBtn = h("button.btn.btn-danger#empty-trash-btn", { type: "button", onclick: () => destroy(null) }, "Empty trash");
  let items = [];

  const sync = () => {
    restoreBtn.disabled = deleteBtn.disabled = !selected.size;
    restoreBtn.textContent = selected.size ? `Restore ${selected.size}` : "Restore";
    emptyBtn.disabled = !items.length;
    for (const el of grid.children) el.setAttribute("aria-pressed", selected.has(Number(el.dataset.photoId)) ? "true" : "false");
  };

  async function load() {
    clear(grid);
    selected.clear();
    items = [];
    let cursor;
    try {
      do {
        const r = await api.trash({ limit: 200, cursor });
        items.push(...r.items);
        cursor = r.next_cursor;
      } while (cursor);
    } catch (err) {
      status.textContent = `The trash could not be loaded: ${describe(err)}`;
      return;
    }
    for (const p of items) {
      grid.append(h("button.thumb.thumb-select", { type: "button", dataset: { photoId: p.id }, "aria-label": `Select ${p.filename}`,
        onclick: () => { if (selected.has(p.id)) selected.delete(p.id); else selected.add(p.id); sync(); } },
      h("img", { src: media(p.thumb_url), alt: "", loading: "lazy" })));
    }
    status.textContent = items.length ? `${items.length} photo${items.length > 1 ? "s" : ""} in the trash. Tap to select.`
      : "The trash is empty.";
    sync();
  }

  async function restore() {
    const ids = [...selected];
    try {
      const r = await api.restorePhotos(ids);
      toast(`Restored ${r.restored} photo${r.restored === 1 ? "" : "s"}`, "ok");
      load();
    } catch (err) { toast(`Not restored: ${describe(err)}`, "error"); }
  }

  async function destroy(ids) {
    const n = ids ? ids.length : items.length;
    if (!n || !confirm(`Delete ${n} photo${n === 1 ? "" : "s"} for good? This cannot be undone.`)) return;
    try {
      const r = await api.emptyTrash(ids);
      toast(`Deleted ${r.deleted} photo${r.deleted === 1 ? "" : "s"} for good`, "ok");
      load();
    } catch (err) { toast(`Not deleted: ${describe(err)}`, "error"); }
  }

  view.append(h("div.crumbs", h("a", { href: "#settings" }, "Settings"), h("span", "›"), h("span", "Trash")),
    h("p.muted", "Deleted photos stay here until you empty the trash; restore puts them back where they were."),
    h("div.row.wrap.select-bar", restoreBtn, deleteBtn, emptyBtn), grid, status);
  await load();
}
