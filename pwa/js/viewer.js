// Photo viewer: the preview image with its tags, people, regions and filing history; swipe left or
// right (or the arrow buttons / keys) to move through the list the library showed last.

import { api, media, describe } from "./api.js";
import { swipeable } from "./gestures.js";
import { browsing } from "./library.js";
import { go } from "./app.js";
import { h, toast } from "./ui.js";

export const title = "Photo";

async function neighbour(id, step) {
  let i = browsing.items.findIndex((p) => p.id === id);
  if (i < 0) return null;
  if (step > 0 && i + 1 >= browsing.items.length && browsing.more) {
    await browsing.more();
    i = browsing.items.findIndex((p) => p.id === id);
  }
  const p = browsing.items[i + step];
  return p ? p.id : null;
}

const q = (s) => `#search?q=${encodeURIComponent(s)}`;
const quoted = (s) => (/\s/.test(s) ? `"${s}"` : s);

export async function mount(view, route) {
  const id = Number(route.parts[0]);
  let p;
  try {
    p = await api.photo(id);
  } catch (err) {
    view.append(h("div.empty", h("p", `This photo cannot be shown: ${describe(err)}`), h("a.btn", { href: "#library" }, "Library")));
    return undefined;
  }
  const move = async (step) => {
    const n = await neighbour(id, step);
    if (n) go(`#photo/${n}`); else toast(step > 0 ? "That was the last photo" : "That was the first photo", "info", { timeout: 1200 });
  };
  const stage = h("div#viewer-stage.viewer-stage",
    h("img.viewer-img", { src: media(p.preview_url), alt: p.caption || p.filename, draggable: false }),
    h("button.nav-btn.nav-prev", { type: "button", "aria-label": "Previous photo", onclick: () => move(-1) }, "‹"),
    h("button.nav-btn.nav-next", { type: "button", "aria-label": "Next photo", onclick: () => move(1) }, "›"));
  swipeable(stage, { onSwipe: (dir) => { if (dir === "left") move(1); else if (dir === "right") move(-1); } });

  const tags = (p.tags || []).map((t) => h("a.chip", { href: q(`tag:${quoted(t.name)}`) }, t.name));
  const people = [...new Map((p.faces || []).filter((f) => f.person).map((f) => [f.person.id, f.person])).values()]
    .map((person) => h("a.chip.chip-person", { href: `#search?q=${encodeURIComponent(`person:${quoted(person.name)}`)}` }, person.name));
  const unknownFaces = (p.faces || []).filter((f) => !f.person).length;
  const where = p.folder !== null && p.folder !== undefined
    ? h("a", { href: `#library?folder=${encodeURIComponent(p.folder)}` }, p.folder || "(library root)")
    : h("a", { href: "#review" }, p.status === "skipped" ? "Skipped (inbox)" : "Inbox — waiting for review");

  view.append(stage, h("section.card.photo-info",
    h("h2.photo-name", p.filename),
    p.caption ? h("p.caption", p.caption) : null,
    h("dl.facts",
      h("dt", "Folder"), h("dd#photo-folder", where),
      p.taken_at ? [h("dt", "Taken"), h("dd", p.taken_at.replace("T", " "))] : null,
      p.camera ? [h("dt", "Camera"), h("dd", [p.camera.make, p.camera.model].filter(Boolean).join(" "))] : null,
      h("dt", "Size"), h("dd", `${p.width}×${p.height}`)),
    h("h3", "Tags"), tags.length ? h("div.chips", tags) : h("p.muted", "No tags yet."),
    h("h3", "People"), people.length || unknownFaces ? h("div.chips", people, unknownFaces ? h("span.chip.chip-muted", `${unknownFaces} unknown`) : null) : h("p.muted", "Nobody recognised."),
    h("h3", "Regions"), (p.regions || []).length ? h("div.chips", p.regions.map((r) => h("a.chip", { href: q(r.label) }, r.label || "?"))) : h("p.muted", "None marked."),
    h("div.row.wrap",
      h("a.btn.btn-primary#regions-btn", { href: `#regions/${p.id}` }, "Regions & faces"),
      h("a.btn#more-like-btn", { href: q(`similar:${p.id}`) }, "More like this"),
      h("a.btn", { href: media(p.original_url), target: "_blank", rel: "noopener" }, "Original"))));

  const onKey = (e) => {
    if (e.target.closest("input, textarea")) return;
    if (e.key === "ArrowRight") move(1);
    else if (e.key === "ArrowLeft") move(-1);
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
