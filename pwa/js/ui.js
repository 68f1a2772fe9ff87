// Small DOM helpers shared by the screens: element builder, toasts, progress bars, bottom sheets.

/** h("div.card#id", {onclick, dataset, ...attrs}, ...children) — tiny hyperscript. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || "div");
  for (const part of rest) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else if (part[0] === "#") el.id = part.slice(1);
  }
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Show a toast. kind: "info" | "ok" | "error" | "warn". Errors stay until dismissed or 8 s.
 * Navigation clears the last screen's toasts, except errors and those shown with `{ across: true }`:
 * a toast that reports what a navigation is about to show ("Paired as…", "Renamed…") survives it. */
export function toast(message, kind = "info", { timeout, across = false } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return null;
  const t = h(`div.toast.toast-${kind}`, { role: kind === "error" ? "alert" : "status", dataset: across ? { across: "1" } : {} },
    h("span.toast-msg", message),
    h("button.toast-close", { type: "button", "aria-label": "Dismiss", onclick: () => t.remove() }, "×"));
  box.append(t);
  // at most two at once, so they never bury the screen; the oldest non-error goes first
  const extra = [...box.children].filter((x) => !x.classList.contains("toast-error")).slice(0, -1);
  while (box.children.length > 2 && extra.length) extra.shift().remove();
  const ms = timeout ?? (kind === "error" ? 8000 : kind === "ok" ? 2500 : 3500);
  if (ms > 0) setTimeout(() => t.remove(), ms);
  return t;
}

/** A labelled progress bar; returns {el, set(fraction, text?)}. */
export function progressBar(label = "") {
  const fill = h("div.progress-fill");
  const text = h("span.progress-text", label);
  const el = h("div.progress", { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 },
    h("div.progress-track", fill), text);
  return {
    el,
    set(fraction, t) {
      const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
      fill.style.width = `${pct}%`;
      el.setAttribute("aria-valuenow", pct);
      if (t !== undefined) text.textContent = t;
    },
  };
}

/** Open a bottom sheet with `content`; returns {el, close()}. Closes on backdrop tap or Escape. */
export function sheet(title, content, { onClose } = {}) {
  const close = () => {
    backdrop.remove();
    document.removeEventListener("keydown", onKey);
    onClose && onClose();
  };
  const onKey = (e) => e.key === "Escape" && close();
  const panel = h("div.sheet", { role: "dialog", "aria-modal": "true", "aria-label": title },
    h("div.sheet-head", h("h2", title),
      h("button.icon-btn.sheet-close", { type: "button", "aria-label": "Close", onclick: close }, "×")),
    content);
  const backdrop = h("div.sheet-backdrop", { onclick: (e) => e.target === backdrop && close() }, panel);
  document.body.append(backdrop);
  document.addEventListener("keydown", onKey);
  return { el: panel, close };
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** A chip list editor for tags or people: returns {el, values()}; onChange(values) after edits. */
export function chipEditor(values, { placeholder = "Add…", suggest, onChange, label = "item" } = {}) {
  let items = [...values];
  const list = h("div.chips");
  const listId = `dl-${Math.random().toString(36).slice(2)}`;
  const datalist = h("datalist", { id: listId });
  const input = h("input.chip-input", { type: "text", placeholder, list: listId, enterkeyhint: "done",
    "aria-label": `Add ${label}` });
  const render = () => {
    clear(list);
    for (const v of items) {
      list.append(h("span.chip", v,
        h("button.chip-x", { type: "button", "aria-label": `Remove ${label} ${v}`, onclick: () => {
          items = items.filter((x) => x !== v);
          render();
          onChange && onChange(items);
        } }, "×")));
    }
  };
  const add = () => {
    const v = input.value.trim();
    if (v && !items.includes(v)) {
      items.push(v);
      render();
      onChange && onChange(items);
    }
    input.value = "";
  };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); add(); } });
  // A pick from the suggestions is added at once. A "change" from leaving the field is not: adding a
  // chip then would push the button the finger is on (Save) down before the tap lands; what was typed
  // stays in the field, and Save reads it.
  input.addEventListener("change", () => { if (input.value.trim() && document.activeElement === input) add(); });
  if (suggest) {
    input.addEventListener("input", debounce(async () => {
      const opts = await suggest(input.value.trim()).catch(() => []);
      clear(datalist);
      for (const o of opts.slice(0, 20)) datalist.append(h("option", { value: o }));
    }, 200));
  }
  render();
  const el = h("div.chip-editor", list, h("div.chip-add", input, datalist,
    h("button.btn.btn-small", { type: "button", onclick: add }, "Add")));
  return { el, values: () => [...items] };
}

/** m:ss of a video's length. */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The corner mark of a thumbnail: "▶ 0:12" for a video, "◉ LIVE" for a Live Photo, else nothing. */
export function mediaBadge(p) {
  if (p.media === "video") return h("span.media-badge", { "aria-label": `video, ${clock(p.duration)}` }, `▶ ${clock(p.duration)}`);
  if (p.live_video_url) return h("span.media-badge", { "aria-label": "Live Photo" }, "◉ LIVE");
  return null;
}
