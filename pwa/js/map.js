// Map: the photos that carry GPS, on map tiles the phone loads itself from the tile host the server
// names (`map_tiles`), so the server never goes online. Drag to pan, + and − to zoom; a marker opens
// its photo, a numbered marker (photos too close to tell apart) zooms in.

import { api, media, describe } from "./api.js";
import { browsing, go } from "./router.js";
import { h, clear } from "./ui.js";

export const title = "Map";
const TILE = 256;
const MARKER = 44; // px: a finger's target; markers closer than this are grouped

// Web Mercator: world pixel coordinates at zoom z
const project = (lat, lon, z) => {
  const s = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  const scale = TILE * 2 ** z;
  return { x: ((lon + 180) / 360) * scale, y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale };
};

export async function mount(view) {
  const box = h("div#map.map", { role: "application", "aria-label": "Map of photos" });
  const status = h("p#map-status.muted");
  view.append(h("div.crumbs", h("a", { href: "#library" }, "Library"), h("span", "›"), h("span", "Map")), box, status);
  let data;
  try {
    data = await api.places();
  } catch (err) {
    status.textContent = `The map could not be loaded: ${describe(err)}`;
    return undefined;
  }
  if (!data.tiles) { box.remove(); status.textContent = "The map is turned off on this server."; return undefined; }
  if (!data.items.length) { box.remove(); status.textContent = "No photos with a location yet: photos taken with location on show up here."; return undefined; }
  browsing.items = data.items.map((p) => ({ ...p, id: p.id }));
  browsing.more = null;
  browsing.label = "Map";

  const W = () => box.clientWidth, H = () => box.clientHeight;
  // start with every photo in view
  let z = 16;
  const lats = data.items.map((p) => p.lat), lons = data.items.map((p) => p.lon);
  for (; z > 1; z--) {
    const a = project(Math.max(...lats), Math.min(...lons), z), b = project(Math.min(...lats), Math.max(...lons), z);
    if (b.x - a.x < W() - 2 * MARKER && b.y - a.y < H() - 2 * MARKER) break;
  }
  const c0 = project((Math.max(...lats) + Math.min(...lats)) / 2, (Math.max(...lons) + Math.min(...lons)) / 2, z);
  let cx = c0.x, cy = c0.y; // world pixel at the centre of the box

  const tiles = h("div.map-tiles"), markers = h("div.map-markers");
  // tiles come from the tile host straight to the phone: when they cannot, say so (markers still work)
  const host = (() => { try { return new URL(data.tiles.replace(/[{}]/g, "")).host; } catch { return "the tile host"; } })();
  const note = h("p.banner.banner-warn#map-tiles-note", { hidden: true },
    `Map tiles could not be loaded from ${host} (no connection to it?). The photos are still placed on the map.`);
  let loadedTiles = 0, failedTiles = 0;
  const tileDone = (img, ok) => {
    if (ok) loadedTiles++; else { failedTiles++; img.classList.add("map-tile-failed"); }
    note.hidden = !(failedTiles && !loadedTiles);
  };
  const zoomTo = (nz, wx = cx, wy = cy) => {
    nz = Math.max(1, Math.min(18, nz));
    const f = 2 ** (nz - z);
    cx = wx * f; cy = wy * f; z = nz;
    render();
  };
  box.before(note);
  box.append(tiles, markers,
    h("div.map-zoom", h("button.btn#zoom-in", { type: "button", "aria-label": "Zoom in", onclick: () => zoomTo(z + 1) }, "+"),
      h("button.btn#zoom-out", { type: "button", "aria-label": "Zoom out", onclick: () => zoomTo(z - 1) }, "−")),
    h("div.map-credit", "© ", h("a", { href: "https://www.openstreetmap.org/copyright", target: "_blank", rel: "noopener" }, "OpenStreetMap"), " contributors"));

  function render() {
    const w = W(), hgt = H();
    const left = cx - w / 2, top = cy - hgt / 2;
    clear(tiles);
    loadedTiles = 0; failedTiles = 0;
    const n = 2 ** z;
    for (let ty = Math.floor(top / TILE); ty <= Math.floor((top + hgt) / TILE); ty++) {
      if (ty < 0 || ty >= n) continue;
      for (let tx = Math.floor(left / TILE); tx <= Math.floor((left + w) / TILE); tx++) {
        const wrapped = ((tx % n) + n) % n;
        const src = data.tiles.replace("{z}", z).replace("{x}", wrapped).replace("{y}", ty);
        const img = h("img.map-tile", { src, alt: "", draggable: false, referrerpolicy: "origin", // the tile host's usage policy asks for the referring site
          style: { left: `${tx * TILE - left}px`, top: `${ty * TILE - top}px` } });
        img.addEventListener("load", () => tileDone(img, true));
        img.addEventListener("error", () => tileDone(img, false));
        tiles.append(img);
      }
    }
    // group markers closer than a finger's width
    const groups = [];
    for (const p of data.items) {
      const q = project(p.lat, p.lon, z);
      const x = q.x - left, y = q.y - top;
      if (x < -MARKER || y < -MARKER || x > w + MARKER || y > hgt + MARKER) continue;
      const g = groups.find((o) => Math.abs(o.x - x) < MARKER && Math.abs(o.y - y) < MARKER);
      if (g) g.items.push(p); else groups.push({ x, y, wx: q.x, wy: q.y, items: [p] });
    }
    clear(markers);
    for (const g of groups) {
      const p = g.items[0];
      markers.append(h("button.map-marker", {
        type: "button", dataset: { photoId: p.id, count: g.items.length },
        "aria-label": g.items.length > 1 ? `${g.items.length} photos here: zoom in` : `Photo ${p.filename}`,
        style: { left: `${g.x - MARKER / 2}px`, top: `${g.y - MARKER / 2}px` },
        onclick: () => (g.items.length > 1 && z < 18 ? zoomTo(z + 2, g.wx, g.wy) : go(`#photo/${p.id}`)),
      }, h("img", { src: media(p.thumb_url), alt: "" }), g.items.length > 1 ? h("b.map-count", String(g.items.length)) : null));
    }
    status.textContent = `${data.items.length} photo${data.items.length > 1 ? "s" : ""} with a location`;
  }

  // pan with a finger or the mouse
  let drag = null;
  box.addEventListener("pointerdown", (e) => {
    if (e.target.closest("button, a")) return;
    drag = { x: e.clientX, y: e.clientY, cx, cy };
    box.setPointerCapture(e.pointerId);
  });
  box.addEventListener("pointermove", (e) => {
    if (!drag) return;
    cx = drag.cx - (e.clientX - drag.x);
    cy = drag.cy - (e.clientY - drag.y);
    render();
  });
  const end = () => { drag = null; };
  box.addEventListener("pointerup", end);
  box.addEventListener("pointercancel", end);
  render();
  const onResize = () => render();
  addEventListener("resize", onResize);
  return () => removeEventListener("resize", onResize);
}
