// Auto-filing on the phone: Review's "Auto-filed (N)" strip and the Settings control.
// The strip lists the photos Jaicat filed by itself (GET /api/photos?filed_by=auto), newest first, with
// how many are new since the last look. Opening it tells the server they were seen (from then on the
// suggester learns from them); each one opens in the viewer, or is moved elsewhere or undone in one tap
// (a correction: it counts against the auto-filing threshold, and the photo never files itself again).

import { api, media, describe } from "./api.js";
import * as ws from "./ws.js";
import { browsing } from "./router.js";
import { pickFolder } from "./folder-picker.js";
import { h, clear, toast } from "./ui.js";

const PAGE = 30;
export const TARGETS = [["off", "Off"], [0.01, "1%"], [0.02, "2%"], [0.05, "5%"], [0.1, "10%"]];

/** The strip: {el, close()}; `onBack(photo)` gets a photo an undo put back in the review queue. */
export function autoFiledStrip({ onBack = () => {} } = {}) {
  let total = 0;
  let unseen = 0;
  let open = false;
  let cursor = null;
  let items = [];
  const label = h("span.auto-filed-label");
  const fresh = h("span.chip.chip-count#auto-filed-new", { hidden: true });
  const toggle = h("button.btn.btn-small#auto-filed-btn", { type: "button", "aria-expanded": "false", onclick: () => setOpen(!open) },
    label, fresh);
  const list = h("ul#auto-filed-list.auto-filed-list", { hidden: true });
  const more = h("button.btn.btn-small#auto-filed-more", { type: "button", hidden: true, onclick: () => load() }, "More");
  const el = h("section#auto-filed.auto-filed", { hidden: true, "aria-label": "Photos Jaicat filed by itself" }, toggle, list, more);

  function renderHead() {
    label.textContent = `Auto-filed (${total})`;
    fresh.textContent = `${unseen} new`;
    fresh.hidden = !unseen;
    el.hidden = !total && !open;
    list.hidden = !open;
    more.hidden = !open || !cursor;
    toggle.setAttribute("aria-expanded", String(open));
  }

  function item(p) {
    return h("li.auto-filed-item", { dataset: { photoId: p.id } },
      h("a.auto-filed-open", { href: `#photo/${p.id}`, "aria-label": `Open ${p.filename}`, onclick: () => browseStrip() },
        h("img", { src: media(p.thumb_url), alt: p.caption || p.filename, loading: "lazy" })),
      h("span.auto-filed-folder", { title: p.folder }, p.folder),
      h("span.auto-filed-actions",
        h("button.btn.btn-small.auto-filed-move", { type: "button", "aria-label": `Move ${p.filename} to another folder`, onclick: () => move(p) }, "Move"),
        h("button.btn.btn-small.auto-filed-undo", { type: "button", "aria-label": `Undo filing ${p.filename}`, onclick: () => undo(p) }, "Undo")));
  }

  function browseStrip() { // the viewer swipes through the strip's photos
    browsing.items = items.slice();
    browsing.more = null;
    browsing.label = "Auto-filed";
  }

  function renderList() {
    clear(list);
    if (!items.length) list.append(h("li.muted", "Nothing auto-filed right now."));
    for (const p of items) list.append(item(p));
    renderHead();
  }

  async function summary() {
    try {
      const s = await api.settings();
      total = s.auto_filed;
      unseen = s.unseen;
    } catch { /* the strip stays as it was */ }
    renderHead();
  }

  async function seen(photos) { // the user is looking at these: they are kept as filed
    const ids = photos.map((p) => p.id);
    if (!ids.length) return;
    try { unseen = (await api.autoFiledSeen(ids)).unseen; } catch { /* seen again next time */ }
    renderHead();
  }

  async function load(reset = false) {
    try {
      const r = await api.photos({ filed_by: "auto", limit: PAGE, cursor: reset ? undefined : cursor || undefined });
      const known = new Set(items.map((p) => p.id));
      const page = r.items.filter((p) => !known.has(p.id));
      items = reset ? r.items : items.concat(page);
      cursor = r.next_cursor;
      renderList();
      await seen(reset ? r.items : page);
    } catch (err) {
      toast(`Auto-filed photos could not be loaded: ${describe(err)}`, "error");
    }
  }

  async function setOpen(v) {
    open = v;
    renderHead();
    if (open) await load(true);
  }

  const drop = (p) => { // the server's count, not one less: another phone's change may have come first
    items = items.filter((x) => x.id !== p.id);
    renderList();
    summary();
  };

  async function move(p) {
    const picked = await pickFolder({ title: `Move ${p.filename}`, suggested: (p.suggestions || []).filter((s) => s.folder !== p.folder && !s.new) });
    if (!picked) return;
    try {
      const r = await api.fix(p.id, { folder: picked.folder, create: picked.create || undefined });
      drop(p);
      toast(`Moved to ${r.photo.folder}`, "ok", { timeout: 1800 });
    } catch (err) { toast(`Not moved: ${describe(err)}`, "error"); }
  }

  async function undo(p) {
    try {
      const r = await api.undoPhoto(p.id);
      drop(p);
      toast("Undone: back in review", "ok", { timeout: 1800 });
      onBack(r.photo);
    } catch (err) { toast(`Undo failed: ${describe(err)}`, "error"); }
  }

  async function onAutoFiled(ev) {
    total += 1;
    if (!open) { unseen += 1; renderHead(); return; }
    try {
      const p = await api.photo(ev.photo_id);
      if (!items.some((x) => x.id === p.id)) items.unshift(p);
      renderList();
      await seen([p]);
    } catch { renderHead(); }
  }

  const offs = [
    ws.on("photo.auto_filed", onAutoFiled),
    // moved or undone from another phone (or the viewer): the counts follow
    ws.on("library.changed", (ev) => { if (items.some((p) => p.id === ev.photo_id) || ev.change === "kept") summary(); }),
  ];
  summary();
  return { el, close: () => offs.forEach((off) => off()) };
}

/** Settings: how sure Jaicat must be to file a photo by itself, with how it stands now. */
export function autoFileSetting() {
  const select = h("select#auto-file-select", { "aria-label": "File photos automatically", onchange: () => save() });
  const status = h("p.muted#auto-file-status", "…");
  const el = h("section.card#auto-file-card", h("h2", "Auto-filing"),
    h("p", "When Jaicat is sure enough where a photo goes, it can file it itself, so you only swipe the photos it is unsure of. ",
      "Choose how often it may be wrong: at 5%, about 1 in 20 auto-filed photos would land in the wrong folder. ",
      "It learns how sure it is from your own swipes, never files into a new folder, and stops by itself if you correct it too often. ",
      "Auto-filed photos are listed in Review, where one tap moves or undoes each."),
    h("label.row", "File automatically: ", select), status);

  function show(s) {
    const value = s.auto_file;
    clear(select);
    const options = TARGETS.some(([v]) => v === value) ? TARGETS : [...TARGETS, [value, `${+(value * 100).toFixed(2)}%`]];
    for (const [v, text] of options) select.append(h("option", { value: String(v), selected: v === value }, v === "off" ? text : `Up to ${text} wrong`));
    status.textContent = value === "off" ? "Off: every photo waits for you."
      : s.paused ? "Paused: recent auto-filed photos were corrected too often. It resumes once its choices agree with yours again."
        : s.threshold === null ? `Waiting for more of your decisions (${s.decisions} so far; about 30 are needed).`
          : `On: photos its first choice is at least ${Math.round(s.threshold * 100)}% sure of file themselves (${s.auto_filed} so far).`;
  }

  async function save() {
    const v = select.value === "off" ? "off" : Number(select.value);
    try {
      show(await api.setAutoFile(v));
      toast(v === "off" ? "Auto-filing is off" : "Auto-filing is on", "ok", { timeout: 1500 });
    } catch (err) { toast(`Not changed: ${describe(err)}`, "error"); }
  }

  api.settings().then(show).catch((err) => { status.textContent = `Unavailable: ${describe(err)}`; });
  return el;
}
