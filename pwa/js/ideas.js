// Post ideas: three short texts with hashtags for a photo (or a few: "#ideas/3,7,9"), drafted by the
// server from the caption, tags, folder (a place or an event) and date; people only with the toggle.
// Copy one, or share it through the phone's share sheet with the photo.

import { api, media, describe } from "./api.js";
import { copyText, shareText } from "./photo-actions.js";
import { h, clear, toast } from "./ui.js";

export const title = "Post ideas";

export async function mount(view, route) {
  const ids = (route.parts[0] || "").split(",").map(Number).filter((n) => n > 0);
  const list = h("div#idea-list", h("p.muted", "Writing…"));
  const people = h("input#ideas-people", { type: "checkbox" });
  const thumbs = h("div.row.wrap", ids.slice(0, 6).map((id) => h("img.crop", { src: media(`/api/photos/${id}/thumb?size=256`), alt: "", width: 64, height: 64 })));
  view.append(h("div.crumbs", h("a", { href: ids.length === 1 ? `#photo/${ids[0]}` : "#library" }, ids.length === 1 ? "Photo" : "Library"),
    h("span", "›"), h("span", "Post ideas")),
  thumbs, h("label.toggle", people, "Name the people in the photo"), list);

  async function load() {
    clear(list).append(h("p.muted", "Writing…"));
    try {
      const r = await api.ideas(ids, people.checked);
      clear(list);
      r.ideas.forEach((idea, i) => {
        const text = `${idea.text}${idea.hashtags.length ? `\n\n${idea.hashtags.join(" ")}` : ""}`;
        list.append(h("section.card.idea", { dataset: { idea: i } },
          h("p.idea-text", text),
          h("div.row",
            h("button.btn.btn-primary.idea-copy", { type: "button", onclick: async () => {
              toast((await copyText(text)) ? "Copied" : "Could not copy: select the text instead", "ok", { timeout: 1500 });
            } }, "Copy"),
            h("button.btn.idea-share", { type: "button", onclick: async () => {
              const how = await shareText(text);
              if (how === "copied") toast("Copied: paste it where you post", "ok");
            } }, "Share"))));
      });
    } catch (err) {
      clear(list).append(h("p", `No ideas: ${describe(err)}`));
    }
  }
  people.addEventListener("change", load);
  await load();
}
