// Navigation state shared by the shell (app.js) and the screens, so screens never import app.js:
// the current route, go(hash), and what the library is browsing (the viewer pages through it).
// Routes look like "#review", "#library?folder=Pets", "#photo/12", "#regions/12", "#pair=K7QM2X".

let onNavigate = () => {};

// What the viewer swipes through: the photos of the last grid shown, plus a way to get more.
export const browsing = { items: [], more: null, label: "" };

export function parseRoute(hash = location.hash) {
  const raw = hash.replace(/^#/, "");
  const [path, qs = ""] = raw.split("?");
  const params = new URLSearchParams(qs);
  if (path.startsWith("pair=")) return { name: "connect", parts: [], params: new URLSearchParams({ code: path.slice(5) }) };
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts.shift() || "", parts, params };
}

// Going to the route already shown runs it again (a screen reloads itself this way).
export function go(hash) {
  if (location.hash === hash) onNavigate();
  else location.hash = hash;
}

// The shell's handler runs on every navigation: hash changes and go() to the current route.
export function listen(handler) {
  onNavigate = handler;
  addEventListener("hashchange", handler);
}
