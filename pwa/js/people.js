// People: named people (rename, merge, confirm their suggested faces, choose a cover, "not a face")
// and clusters of unknown faces to name or hide.

import { api, media, describe } from "./api.js";
import { h, clear, sheet, toast } from "./ui.js";

export const title = "People";

export async function mount(view) {
  const known = h("div#people-list.people-grid");
  const unknown = h("div#unknown-list.cluster-list");
  view.append(h("h2.section-title", "People"), known, h("h2.section-title", "Unknown faces"), unknown);

  async function load() {
    clear(known).append(h("p.muted", "Loading…"));
    clear(unknown);
    let people;
    try {
      people = (await api.people()).items;
    } catch (err) {
      clear(known).append(h("p.muted", `People unavailable: ${describe(err)}`));
      return;
    }
    clear(known);
    if (!people.length) known.append(h("p.muted", "No named people yet. Name a face below or on a photo."));
    for (const p of people) {
      known.append(h("button.person", { type: "button", dataset: { personId: p.id }, onclick: () => openPerson(p, people) },
        p.cover_url ? h("img", { src: media(p.cover_url), alt: "", loading: "lazy" }) : h("span.avatar", p.name.slice(0, 1)),
        h("span.person-name", p.name), h("small", `${p.photo_count} photo${p.photo_count === 1 ? "" : "s"}`)));
    }
    try {
      const { items } = await api.unknownFaces();
      if (!items.length) unknown.append(h("p.muted", "No unknown faces waiting."));
      for (const c of items) unknown.append(clusterCard(c));
    } catch (err) {
      unknown.append(h("p.muted", `Unknown faces unavailable: ${describe(err)}`));
    }
  }

  function clusterCard(c) {
    const name = h("input.cluster-name", { type: "text", placeholder: "Name", list: "people-datalist", "aria-label": "Name these faces" });
    return h("form.card.cluster", { dataset: { cluster: c.cluster }, onsubmit: async (e) => {
      e.preventDefault();
      const n = name.value.trim();
      if (!n) return;
      try {
        await api.nameCluster(c.cluster, n);
        toast(`Named ${c.count} face${c.count > 1 ? "s" : ""} ${n}`, "ok");
        load();
      } catch (err) { toast(describe(err), "error"); }
    } },
    h("div.faces-row", c.faces.slice(0, 8).map((f) => h("img.face", { src: media(f.crop_url), alt: "", loading: "lazy" }))),
    h("p.muted", `${c.count} face${c.count > 1 ? "s" : ""}`),
    h("div.row.cluster-name-row", name, h("button.btn.btn-primary", { type: "submit" }, "Name")),
    h("div.row.cluster-actions",
      h("button.btn.btn-small.hide-stranger", { type: "button", onclick: async () => {
        try {
          await api.hideCluster(c.cluster);
          toast("Hidden: this stranger's faces will not be shown again", "ok");
          load();
        } catch (err) { toast(describe(err), "error"); }
      } }, "Hide stranger"),
      h("button.btn.btn-small.not-faces", { type: "button", onclick: async () => {
        try {
          await api.notFaces(c.cluster);
          toast("Not faces: removed, and never found again", "ok");
          load();
        } catch (err) { toast(describe(err), "error"); }
      } }, "Not a face")));
  }

  // One face of a person: make it the cover, or say it is not a face at all.
  function faceTile(p, f, s) {
    return h("div.face-tile", { dataset: { faceId: f.id } },
      h("img.face", { src: media(f.crop_url), alt: f.confirmed ? "confirmed face" : "suggested face", loading: "lazy" }),
      h("div.row",
        h("button.btn.make-cover", { type: "button", onclick: async () => {
          try { await api.setCover(p.id, f.id); toast("Cover chosen", "ok"); s.close(); load(); } catch (err) { toast(describe(err), "error"); }
        } }, "Cover"),
        h("button.btn.not-a-face", { type: "button", onclick: async (e) => {
          try { await api.notAFace(f.id); e.target.closest(".face-tile").remove(); toast("Not a face: removed", "ok"); load(); } catch (err) { toast(describe(err), "error"); }
        } }, "Not a face")));
  }

  function openPerson(p, people) {
    const name = h("input", { type: "text", value: p.name, "aria-label": "Name" });
    const into = h("select", { "aria-label": "Merge into" }, h("option", { value: "" }, "Merge into…"),
      people.filter((x) => x.id !== p.id).map((x) => h("option", { value: x.id }, x.name)));
    const faces = h("div.faces-row");
    const confirmSlot = h("div.row");  // holds "Confirm all" once the person's suggested faces are known
    const confirmAll = h("button.btn.btn-primary.confirm-all", { type: "button", onclick: async () => {
      try {
        const r = await api.confirmAllFaces(p.id);
        toast(`Confirmed ${r.confirmed} face${r.confirmed === 1 ? "" : "s"} of ${p.name}`, "ok");
        s.close(); load();
      } catch (err) { toast(describe(err), "error"); }
    } });
    const s = sheet(p.name, h("div",
      h("form.row", { onsubmit: async (e) => {
        e.preventDefault();
        try { await api.renamePerson(p.id, name.value.trim()); toast("Renamed", "ok"); s.close(); load(); } catch (err) { toast(describe(err), "error"); }
      } }, name, h("button.btn.btn-primary", { type: "submit" }, "Rename")),
      h("div.row", into, h("button.btn", { type: "button", onclick: async () => {
        if (!into.value) return;
        try { await api.mergePerson(p.id, Number(into.value)); toast("Merged", "ok"); s.close(); load(); } catch (err) { toast(describe(err), "error"); }
      } }, "Merge")),
      h("a.btn", { href: `#search?q=${encodeURIComponent(`person:"${p.name}"`)}`, onclick: () => s.close() }, "Show photos"),
      confirmSlot, faces));
    api.person(p.id).then((d) => {
      const suggested = (d.faces || []).filter((f) => !f.confirmed).length;
      if (suggested) {
        confirmAll.textContent = `Confirm all ${suggested} suggested`;
        confirmSlot.append(confirmAll);
      }
      for (const f of (d.faces || []).slice(0, 24)) faces.append(faceTile(p, f, s));
    }).catch(() => {});
  }

  const datalist = h("datalist#people-datalist");
  view.append(datalist);
  api.people().then((r) => r.items.forEach((p) => datalist.append(h("option", { value: p.name })))).catch(() => {});
  await load();
}
