// Photo viewer: the preview image with its tags, people, regions and filing history; swipe left or
// right (or the arrow buttons / keys) to move through the list the library showed last.

import { api, media, describe } from "./api.js";
import { swipeable } from "./gestures.js";
import { movePhotos, setFavourite, sharePhoto, trashPhotos } from "./photo-actions.js";
import { browsing, go } from "./router.js";
import { h, clear, toast, chipEditor, clock } from "./ui.js";

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

// What the stage shows: a video plays (the browser asks for byte ranges, so seeking a long one does not
// download it); a Live Photo is its still, and "Live" plays its motion part over it.
function picture(p) {
  if (p.media === "video") {
    // a video browsers cannot play as it is (an iPhone's HEVC) plays its H.264 preview once the server has made it
    const src = p.video_preview_url || p.original_url;
    const v = h("video.viewer-img.viewer-video", { src: media(src), poster: media(p.preview_url), controls: true,
      playsinline: true, preload: "metadata", "aria-label": `Video ${p.filename}, ${clock(p.duration)}`,
      "data-playing": p.video_preview_url ? "preview" : "original" });
    // no preview yet and no decoder here: say so rather than show a dead player
    v.addEventListener("error", () => toast(p.video_preview_url
      ? "This video cannot be played here; the Original button downloads it"
      : "This browser cannot play this video; a playable preview is being made (open it again shortly), and the Original button downloads it", "error"), { once: true });
    return v;
  }
  const img = h("img.viewer-img", { src: media(p.preview_url), alt: p.caption || p.filename, draggable: false });
  if (!p.live_video_url) return img;
  const motion = h("video.viewer-img.viewer-live", { src: media(p.live_video_url), playsinline: true, muted: true, preload: "none", hidden: true });
  motion.muted = true;
  const stop = () => { motion.pause(); motion.hidden = true; };
  motion.addEventListener("ended", stop);
  const play = h("button.btn.btn-small.live-btn#live-btn", { type: "button", "aria-label": "Play the Live Photo", onclick: () => {
    motion.hidden = false;
    motion.currentTime = 0;
    motion.play().catch(stop);
  } }, "◉ Live");
  return h("div.viewer-picture", img, motion, play);
}
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
    picture(p),
    h("button.nav-btn.nav-prev", { type: "button", "aria-label": "Previous photo", onclick: () => move(-1) }, "‹"),
    h("button.nav-btn.nav-next", { type: "button", "aria-label": "Next photo", onclick: () => move(1) }, "›"));
  swipeable(stage, { through: ".nav-btn, .live-btn, video[controls]", onSwipe: (dir) => { if (dir === "left") move(1); else if (dir === "right") move(-1); } });

  const tagsBox = h("div#photo-tags");
  let tagList = p.tags || [];
  // Tags: chips link to a search; "Edit" (or the ✎ chip) turns them into removable chips with an
  // add field, saved with PATCH /api/photos/<id>. Face names are people, edited on the regions screen.
  function showTags() {
    const chips = tagList.filter((t) => t.source !== "face")
      .map((t) => h("a.chip", { href: q(`tag:${quoted(t.name)}`) }, t.name));
    clear(tagsBox).append(
      chips.length ? h("div.chips", chips, h("button.chip.chip-btn#edit-tags-chip", { type: "button", "aria-label": "Edit tags", onclick: editTags }, "✎"))
        : h("p.muted", "No tags yet."),
      h("button.btn.btn-small#edit-tags-btn", { type: "button", onclick: editTags }, chips.length ? "Edit tags" : "Add tags"));
  }
  function editTags() {
    const editor = chipEditor(tagList.filter((t) => t.source !== "face").map((t) => t.name),
      { label: "tag", placeholder: "Add a tag", suggest: tagSuggest });
    const save = h("button.btn.btn-primary#save-tags-btn", { type: "button", onclick: async () => {
      // a name typed but not yet added still counts: people expect Save to keep what they typed
      const pending = editor.el.querySelector("input").value.trim();
      const wanted = [...new Set([...editor.values(), ...(pending ? [pending] : [])])];
      save.disabled = true;
      try {
        tagList = (await api.setPhotoTags(p.id, wanted)).tags || [];
        toast("Tags saved", "ok", { timeout: 1500 });
        showTags();
      } catch (err) {
        toast(`Tags not saved: ${describe(err)}`, "error");
        save.disabled = false;
      }
    } }, "Save tags");
    clear(tagsBox).append(editor.el, h("div.row", save, h("button.btn#cancel-tags-btn", { type: "button", onclick: showTags }, "Cancel")));
    editor.el.querySelector("input").focus();
  }
  showTags();
  const people = [...new Map((p.faces || []).filter((f) => f.person).map((f) => [f.person.id, f.person])).values()]
    .map((person) => h("a.chip.chip-person", { href: `#search?q=${encodeURIComponent(`person:${quoted(person.name)}`)}` }, person.name));
  const unknownFaces = (p.faces || []).filter((f) => !f.person).length;
  // the actions a gallery has: star, move, share, delete (to the trash, with Undo), post ideas
  const star = h("button.btn.action-btn#favourite-btn", { type: "button", "aria-pressed": p.favourite ? "true" : "false",
    "aria-label": p.favourite ? "Remove from favourites" : "Add to favourites", onclick: async () => {
      const on = await setFavourite([p.id], !p.favourite);
      if (on === null) return;
      p.favourite = on;
      star.setAttribute("aria-pressed", on ? "true" : "false");
      star.setAttribute("aria-label", on ? "Remove from favourites" : "Add to favourites");
      star.firstChild.textContent = on ? "★" : "☆";
    } }, h("span", { "aria-hidden": "true" }, p.favourite ? "★" : "☆"), h("small", "Favourite"));
  const actions = h("div.viewer-actions", star,
    h("button.btn.action-btn#move-btn", { type: "button", onclick: async () => {
      const folder = await movePhotos([p.id]);
      if (folder !== null) go(`#photo/${p.id}`);
    } }, h("span", { "aria-hidden": "true" }, "⇱"), h("small", "Move")),
    h("button.btn.action-btn#share-btn", { type: "button", onclick: () => sharePhoto(p) },
      h("span", { "aria-hidden": "true" }, "⇪"), h("small", "Share")),
    h("a.btn.action-btn#ideas-btn", { href: `#ideas/${p.id}` }, h("span", { "aria-hidden": "true" }, "✎"), h("small", "Post ideas")),
    h("button.btn.action-btn.btn-danger#delete-btn", { type: "button", onclick: async () => {
      const next = await neighbour(id, 1) || await neighbour(id, -1);
      if (!(await trashPhotos([p.id], { onUndo: () => go(`#photo/${p.id}`) }))) return;
      browsing.items = browsing.items.filter((x) => x.id !== p.id);
      go(next ? `#photo/${next}` : "#library");
    } }, h("span", { "aria-hidden": "true" }, "✕"), h("small", "Delete")));
  const where = p.folder !== null && p.folder !== undefined
    ? h("a", { href: `#library?folder=${encodeURIComponent(p.folder)}` }, p.folder || "(library root)")
    : h("a", { href: "#review" }, p.status === "skipped" ? "Skipped (inbox)" : "Inbox — waiting for review");

  view.append(stage, actions, h("section.card.photo-info",
    h("h2.photo-name", p.filename),
    p.description ? h("p.description", p.description) : null,
    p.caption ? h("p.caption", p.caption) : null,
    h("dl.facts",
      h("dt", "Folder"), h("dd#photo-folder", where),
      p.taken_at ? [h("dt", "Taken"), h("dd", p.taken_at.replace("T", " "))] : null,
      p.camera ? [h("dt", "Camera"), h("dd", [p.camera.make, p.camera.model].filter(Boolean).join(" "))] : null,
      h("dt", "Size"), h("dd", `${p.width}×${p.height}`),
      p.media === "video" ? [h("dt", "Length"), h("dd#video-length", clock(p.duration))] : null),
    h("h3", "Tags"), tagsBox,
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

let tagCache = null;
async function tagSuggest(text) {
  if (!tagCache) tagCache = api.tags().then((r) => r.items.map((t) => t.name)).catch(() => { tagCache = null; return []; });
  const all = await tagCache;
  const ql = text.toLowerCase();
  return all.filter((t) => t.toLowerCase().includes(ql));
}
