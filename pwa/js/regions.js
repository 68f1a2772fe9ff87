// Regions and faces on one photo. Drag on the photo (finger or mouse) to draw a box, label it
// (autocomplete from known labels), then see visually similar regions from the library.
// Faces found by the server show as boxes that can be named, confirmed or rejected.
// Boxes are normalised 0-1 on the upright image; the preview JPEG is upright, so they map directly.

import { api, media, describe } from "./api.js";
import { drawBox } from "./gestures.js";
import { h, clear, toast, debounce } from "./ui.js";

export const title = "Regions";
const LABELS_KEY = "jaicat.labels";

function rememberLabel(label) {
  const known = JSON.parse(localStorage.getItem(LABELS_KEY) || "[]").filter((l) => l !== label);
  known.unshift(label);
  localStorage.setItem(LABELS_KEY, JSON.stringify(known.slice(0, 200)));
}

/** Known labels for autocomplete: this photo's labels, the library's region labels (most used first,
 * from the server), then ones typed on this phone and the library's tags. */
async function labelOptions(regions) {
  const out = new Set();
  for (const r of regions) if (r.label) out.add(r.label);
  const [labels, tags] = await Promise.allSettled([api.regionLabels(), api.tags()]);
  if (labels.status === "fulfilled") for (const l of labels.value.items) out.add(l.label);
  for (const l of JSON.parse(localStorage.getItem(LABELS_KEY) || "[]")) out.add(l);
  if (tags.status === "fulfilled") for (const t of tags.value.items) out.add(t.name);
  return [...out];
}

const pct = (v) => `${(v * 100).toFixed(3)}%`;
function place(el, b) {
  Object.assign(el.style, { left: pct(b.x), top: pct(b.y), width: pct(b.w), height: pct(b.h) });
  return el;
}

export async function mount(view, route) {
  const id = Number(route.parts[0]);
  const photo = await api.photo(id);
  let regions = photo.regions || [];
  let faces = photo.faces || [];
  let selected = null; // {kind: "region"|"face", item}

  const img = h("img.region-img", { src: media(photo.preview_url), alt: photo.caption || photo.filename, draggable: false });
  const overlay = h("div.region-overlay");
  const ghost = h("div.box.box-draft", { hidden: true });
  const canvas = h("div#region-canvas.region-canvas", {
    // as wide as possible, but never taller than 62vh: boxes are fractions of this element, so its
    // aspect ratio must stay the image's
    style: { aspectRatio: `${photo.width} / ${photo.height}`, width: `min(100%, calc(62vh * ${photo.width / photo.height}))` },
  }, img, overlay, ghost);
  const panel = h("section#region-panel.region-panel");
  const labelsList = h("datalist#region-labels");

  view.append(
    h("div.region-head", h("a.btn.btn-small", { href: `#photo/${id}` }, "← Photo"),
      h("span.muted", "Drag on the photo to mark a region")),
    canvas, labelsList, panel);

  labelOptions(regions).then((ls) => { for (const l of ls) labelsList.append(h("option", { value: l })); });

  function renderBoxes() {
    clear(overlay);
    for (const r of regions) {
      overlay.append(place(h("button.box.box-region", {
        type: "button", dataset: { regionId: r.id }, "aria-label": `Region ${r.label || "(no label)"}`,
        "aria-pressed": selected && selected.item === r ? "true" : "false",
        onclick: () => select("region", r),
      }, h("span.box-label", r.label || "?")), r));
    }
    for (const f of faces) {
      const name = f.person ? f.person.name + (f.confirmed ? "" : "?") : "Unknown";
      overlay.append(place(h(`button.box.box-face${f.confirmed ? ".confirmed" : ""}`, {
        type: "button", dataset: { faceId: f.id }, "aria-label": `Face: ${name}`,
        "aria-pressed": selected && selected.item === f ? "true" : "false",
        onclick: () => select("face", f),
      }, h("span.box-label", name)), f));
    }
  }

  function select(kind, item) {
    selected = { kind, item };
    renderBoxes();
    if (kind === "region") showRegion(item); else showFace(item);
  }

  drawBox(canvas, {
    onChange: (b) => { ghost.hidden = !b; if (b) place(ghost, b); },
    onDone: (b) => { ghost.hidden = false; place(ghost, b); newRegion(b); },
  });

  function newRegion(box) {
    selected = null;
    renderBoxes();
    const input = h("input#region-label", { type: "text", list: "region-labels", placeholder: "What is it? e.g. red car",
      "aria-label": "Region label", enterkeyhint: "done", autocomplete: "off" });
    const save = h("button.btn.btn-primary#region-save", { type: "submit" }, "Save region");
    clear(panel).append(h("form.card", {
      onsubmit: async (e) => {
        e.preventDefault();
        const label = input.value.trim();
        if (!label) { toast("Give the region a label.", "warn"); input.focus(); return; }
        save.disabled = true;
        try {
          const r = await api.addRegion(id, { ...box, label });
          rememberLabel(label);
          regions.push(r);
          ghost.hidden = true;
          toast(`Saved “${label}”`, "ok", { timeout: 1800 });
          select("region", r);
        } catch (err) {
          toast(`Region not saved: ${describe(err)}`, "error");
          save.disabled = false;
        }
      },
    }, h("h2", "New region"), input, h("div.row", save,
      h("button.btn", { type: "button", onclick: () => { ghost.hidden = true; clear(panel); } }, "Cancel"))));
    input.focus();
  }

  function showRegion(r) {
    const input = h("input", { type: "text", value: r.label, list: "region-labels", "aria-label": "Region label" });
    const similar = h("ul#similar-list.similar-list", h("li.muted", "Looking for similar regions…"));
    clear(panel).append(h("div.card.region-detail",
      h("div.row", h("img.crop", { src: media(r.crop_url), alt: "", width: 64, height: 64 }),
        h("form.grow", { onsubmit: async (e) => {
          e.preventDefault();
          try {
            Object.assign(r, await api.updateRegion(r.id, { label: input.value.trim() }));
            rememberLabel(r.label);
            renderBoxes();
            toast("Label saved", "ok", { timeout: 1500 });
          } catch (err) { toast(describe(err), "error"); }
        } }, input)),
      h("div.row",
        h("button.btn.btn-danger", { type: "button", onclick: async () => {
          try {
            await api.deleteRegion(r.id);
            regions = regions.filter((x) => x !== r);
            selected = null;
            renderBoxes();
            clear(panel);
          } catch (err) { toast(describe(err), "error"); }
        } }, "Delete")),
      h("h3", "Similar in your library"), similar));
    loadSimilar(r, similar);
  }

  async function loadSimilar(r, list) {
    try {
      const { items } = await api.similarRegions(r.id, 20);
      clear(list);
      if (!items.length) list.append(h("li.muted", "Nothing similar yet."));
      for (const s of items) {
        const src = s.region ? s.region.crop_url : s.photo.thumb_url;
        list.append(h("li.similar-item", h("a", { href: `#photo/${s.photo.id}` },
          h("img", { src: media(src), alt: s.region ? s.region.label : s.photo.filename, loading: "lazy" }),
          h("span", `${s.region && s.region.label ? `${s.region.label} · ` : ""}${Math.round(s.score * 100)}%`))));
      }
    } catch (err) {
      clear(list).append(h("li.muted", `Similar regions unavailable: ${describe(err)}`));
    }
  }

  function showFace(f) {
    const name = h("input#face-name", { type: "text", list: "people-names", placeholder: "Who is this?",
      value: f.person && !f.confirmed ? "" : (f.person ? f.person.name : ""), "aria-label": "Person's name" });
    const people = h("datalist#people-names");
    api.people().then((r) => r.items.forEach((p) => people.append(h("option", { value: p.name })))).catch(() => {});
    const update = (nf) => { Object.assign(f, nf); renderBoxes(); showFace(f); };
    const suggestion = f.person && !f.confirmed
      ? h("div.row", h("span", "Is this ", h("strong", f.person.name), "?"),
        h("button.btn.btn-primary#face-confirm", { type: "button", onclick: async () => {
          try { update(await api.confirmFace(f.id, { person_id: f.person.id })); toast(`Confirmed ${f.person.name}`, "ok"); } catch (err) { toast(describe(err), "error"); }
        } }, "Yes"),
        h("button.btn#face-reject", { type: "button", onclick: async () => {
          try { update(await api.rejectFace(f.id)); toast("Noted: not them", "ok"); } catch (err) { toast(describe(err), "error"); }
        } }, "No"))
      : f.confirmed ? h("p", "Confirmed: ", h("strong", f.person.name)) : h("p.muted", "Unknown face");
    clear(panel).append(h("div.card.face-detail",
      h("div.row", h("img.crop", { src: media(f.crop_url), alt: "", width: 64, height: 64 }), suggestion),
      h("form.row", { onsubmit: async (e) => {
        e.preventDefault();
        const n = name.value.trim();
        if (!n) return;
        try { update(await api.confirmFace(f.id, { name: n })); toast(`Named ${n}`, "ok"); } catch (err) { toast(describe(err), "error"); }
      } }, name, people, h("button.btn", { type: "submit" }, "Name"))));
  }

  renderBoxes();
  const onResize = debounce(renderBoxes, 100);
  addEventListener("resize", onResize);
  return () => removeEventListener("resize", onResize);
}
