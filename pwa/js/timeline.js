// Timeline: every photo by date, newest first, under month headers, with a scrubber of years on the
// right edge (tap or drag along it to jump). "#timeline?until=2023-12" starts at that month.
// Photos without a capture date (none in the file, or only the file's modification time) come last,
// under "Undated": never under the month they were copied or sent in.

import { api, media, describe } from "./api.js";
import { browsing, go } from "./router.js";
import { h } from "./ui.js";

export const title = "Timeline";

const UNDATED = "undated";
const monthName = (m) => (m === UNDATED ? "Undated"
  : new Date(`${m}-01T12:00:00`).toLocaleDateString([], { month: "long", year: "numeric" }));
const monthOf = (p) => (p.taken_at && p.date_source !== "file" ? p.taken_at.slice(0, 7) : UNDATED);

export async function mount(view, route) {
  const until = route.params.get("until") || null;
  const body = h("div#timeline.timeline");
  const status = h("p#timeline-status.muted.grid-status", "Loading…");
  const sentinel = h("div.sentinel");
  const rail = h("nav#scrubber.scrubber", { "aria-label": "Jump to a year" });
  view.append(h("div.crumbs", h("a", { href: "#library" }, "Library"), h("span", "›"), h("span", "Timeline")),
    body, status, sentinel, rail);

  let months = [];
  let undated = 0;
  try {
    ({ months, undated } = await api.timeline());
  } catch (err) {
    status.textContent = `The timeline could not be loaded: ${describe(err)}`;
    return undefined;
  }
  const years = [...new Set(months.map((m) => m.month.slice(0, 4)))];
  const counts = Object.fromEntries(months.map((m) => [m.month, m.count]));
  counts[UNDATED] = undated;
  const jump = (year) => {
    const head = body.querySelector(`.date-head[data-month^="${year}-"]`);
    if (head) head.scrollIntoView({ block: "start" });
    else go(`#timeline?until=${year}-12`);
  };
  for (const y of years) rail.append(h("button.scrub-year", { type: "button", dataset: { year: y }, onclick: () => jump(y) }, y));
  if (undated) {
    rail.append(h("button.scrub-year", { type: "button", title: "Photos without a capture date", onclick: () => {
      const head = body.querySelector(`.date-head[data-month="${UNDATED}"]`);
      if (head) head.scrollIntoView({ block: "start" }); else go(`#timeline?until=${UNDATED}`);
    } }, "?"));
  }
  // drag along the rail: the year under the finger is where the timeline goes
  rail.addEventListener("pointermove", (e) => {
    if (!e.buttons && e.pointerType !== "touch") return;
    const b = document.elementFromPoint(e.clientX, e.clientY);
    if (b && b.dataset && b.dataset.year) jump(b.dataset.year);
  });

  let cursor = null, done = false, loading = false, shown = null, grid = null;
  browsing.items = [];
  browsing.label = "Timeline";
  async function more() {
    if (done || loading) return;
    loading = true;
    try {
      const r = await api.timelinePhotos({ limit: 60, cursor: cursor || undefined, until: until || undefined });
      cursor = r.next_cursor;
      done = !cursor;
      for (const p of r.items) {
        const m = monthOf(p);
        if (m !== shown) {
          shown = m;
          body.append(h("h2.date-head", { dataset: { month: m } }, monthName(m),
            counts[m] ? h("small.muted", ` · ${counts[m]}`) : null));
          grid = h("div.photo-grid");
          body.append(grid);
        }
        browsing.items.push(p);
        grid.append(h("a.thumb", { href: `#photo/${p.id}`, dataset: { photoId: p.id } },
          h("img", { src: media(p.thumb_url), alt: p.caption || p.filename, loading: "lazy" }),
          p.favourite ? h("span.thumb-star", "★") : null));
      }
      status.textContent = browsing.items.length ? (done ? "" : "") : "No photos yet.";
    } catch (err) {
      status.textContent = `Could not load photos: ${describe(err)}`;
    } finally {
      loading = false;
    }
    if (!done && io) { io.unobserve(sentinel); io.observe(sentinel); }
  }
  browsing.more = async () => { await more(); return !done; };
  const io = new IntersectionObserver((ents) => { if (ents.some((e) => e.isIntersecting)) more(); }, { rootMargin: "600px" });
  io.observe(sentinel);
  await more();
  return () => io.disconnect();
}
