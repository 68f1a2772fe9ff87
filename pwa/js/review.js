// Review: a stack of cards, one per photo waiting to be filed, with the server's folder suggestion.
// Swipe right = accept the suggestion, left = skip, up (or tap) = choose another folder; each has a
// button too. Tags and people can be edited on the card; Undo reverts the last decision.
// New suggestions arrive over the websocket ("suggestion.ready") while the screen is open.

import { api, media, describe } from "./api.js";
import * as ws from "./ws.js";
import { swipeable } from "./gestures.js";
import { pickFolder } from "./folder-picker.js";
import { autoFiledStrip } from "./autofiled.js";
import { h, clear, toast, chipEditor, mediaBadge } from "./ui.js";

export const title = "Review";

export async function mount(view) {
  const cards = []; // [{photo, detail, tags, people, edited}]
  const undoStack = []; // [{decision, photo}]
  let busy = false;
  let total = 0;

  const countEl = h("span#review-count.muted");
  const undoBtn = h("button.btn#undo-btn", { type: "button", disabled: true, onclick: () => undo() }, "↶ Undo");
  // "Skipped": photos left for later stay listed here until filed (GET /api/review?status=skipped)
  let showing = "waiting";
  const skippedBtn = h("button.btn#skipped-btn", { type: "button", "aria-pressed": "false", onclick: () => toggleSkipped() }, "Skipped");
  const stack = h("div#card-stack.card-stack");
  const skipBtn = h("button.btn.btn-round.btn-skip#skip-btn", { type: "button", "aria-label": "Skip (swipe left)", onclick: () => decide("skip") }, "✕");
  const chooseBtn = h("button.btn.btn-round.btn-choose#choose-btn", { type: "button", "aria-label": "Choose another folder (swipe up)", onclick: () => decide("choose") }, "↑");
  const acceptBtn = h("button.btn.btn-round.btn-accept#accept-btn", { type: "button", "aria-label": "Accept the suggested folder (swipe right)", onclick: () => decide("accept") }, "✓");
  const controls = h("div.review-controls", skipBtn, chooseBtn, acceptBtn);
  // "File all 6 here": the top card's burst or person, where the top suggestion puts them all
  const groupBtn = h("button.btn.btn-small#group-btn", { type: "button", hidden: true, onclick: () => fileGroup() });
  let group = null; // {photoId, folder, ids}
  const editor = h("div#card-editor.card-editor");
  const notice = h("p.banner.banner-offline", "Offline: decisions need the server. Cards will refresh when you are back online.");

  // photos Jaicat filed by itself (auto_file): an undo from the strip puts the photo back here
  const strip = autoFiledStrip({ onBack: (p) => { if (showing === "waiting" && !has(p.id)) { cards.push(newCard(p)); total += 1; renderSoon(); } } });
  view.append(h("div.review-head", countEl, h("span", skippedBtn, " ", undoBtn)), strip.el, notice, stack, controls,
    h("div.review-group", groupBtn), editor);

  const top = () => cards[0];
  const topSuggestion = (c) => (c && c.photo.suggestions && c.photo.suggestions[0]) || null;
  const sureTop = (c) => (isSure(topSuggestion(c)) ? topSuggestion(c) : null);

  function renderCount() {
    countEl.textContent = total ? `${total} ${showing === "skipped" ? "skipped" : "waiting"}` : "";
    undoBtn.disabled = !undoStack.length || busy;
    for (const b of [skipBtn, chooseBtn, acceptBtn]) b.disabled = !top() || busy;
  }

  // below the server's sure score a first suggestion is a guess: the card asks, the guesses are choices
  let sureScore = 0.5;
  const isSure = (s) => !!s && (s.score || 0) >= sureScore;
  const choiceChip = (s, cls) => h(`button.chip.chip-btn${cls}${s.new ? ".chip-new" : ""}`, {
    type: "button", dataset: s.new ? { folder: s.folder, new: "true" } : { folder: s.folder }, title: s.new ? s.reason : undefined,
    onclick: () => decide("accept", s.folder),
  }, s.new ? `＋ New: ${s.folder}` : s.folder);

  function suggestionEl(p, sug) {
    const best = sug[0];
    if (!best) return h("div.suggestion.none", h("span.label", p.analysed_at ? "No suggestion — choose a folder" : "Analysing… (you can choose a folder now)"));
    if (!isSure(best)) {
      return h("div.suggestion.unsure", h("span.label", "Not sure — choose a folder"),
        h("div.alternatives", sug.map((s) => choiceChip(s, ".choice"))));
    }
    return h("div.suggestion",
      h("span.label", best.new ? "Suggested new folder" : "Suggested folder"),
      h("strong.suggested-folder", best.folder),
      h("span.reason", best.new ? best.reason : `${Math.round((best.score || 0) * 100)}%${best.reason ? ` · ${best.reason}` : ""}`));
  }

  function cardEl(c, depth) {
    const p = c.photo;
    const sug = p.suggestions || [];
    const el = h("article.review-card", { dataset: { photoId: p.id, depth }, "aria-label": `Photo ${p.filename}` },
      h("div.card-img", h("img", { src: media(p.preview_url || p.thumb_url), alt: p.caption || p.filename, draggable: false }), mediaBadge(p)),
      h("div.swipe-hint.hint-right", "File"), h("div.swipe-hint.hint-left", "Skip"), h("div.swipe-hint.hint-up", "Choose"),
      h("div.card-body", suggestionEl(p, sug),
        // a proposed new folder (named like the household's event folders) is created when accepted
        sug.length > 1 && isSure(sug[0]) ? h("div.alternatives", sug.slice(1).map((s) => choiceChip(s, ""))) : null,
        h("p.card-meta", [p.filename, p.taken_at && p.date_source !== "file" ? p.taken_at.slice(0, 10) : null, p.caption].filter(Boolean).join(" · "))));
    return el;
  }

  function dropAutoFiled() {
    for (let i = cards.length - 1; i >= 0; i--) if (cards[i].autoFiled) { cards.splice(i, 1); total = Math.max(0, total - 1); }
    renderSoon();
  }

  function render() {
    if (cards.some((c) => c.autoFiled) && !busy) { dropAutoFiled(); return; }
    clear(stack);
    if (!cards.length) {
      stack.append(h("div.empty#review-empty", h("p", "All caught up."), h("p.muted", "New photos appear here as soon as they are analysed."),
        h("a.btn", { href: "#upload" }, "Upload photos")));
      clear(editor);
      groupBtn.hidden = true;
      renderCount();
      return;
    }
    cards.slice(0, 2).reverse().forEach((c, i, arr) => stack.append(cardEl(c, arr.length - 1 - i)));
    const el = stack.lastElementChild;
    attachSwipe(el);
    loadGroup(top());
    renderEditor();
    renderCount();
  }

  function renderEditor() {
    const c = top();
    clear(editor);
    if (!c) return;
    const tags = chipEditor(c.tags, { label: "tag", placeholder: "Add a tag", suggest: tagSuggest,
      onChange: (v) => { c.tags = v; c.edited = true; } });
    const people = chipEditor(c.people, { label: "person", placeholder: "Add a person", suggest: peopleSuggest,
      onChange: (v) => { c.people = v; c.edited = true; } });
    editor.append(h("details.card-edit", h("summary", `Tags & people${c.tags.length + c.people.length ? ` (${c.tags.length + c.people.length})` : ""}`),
      h("h3", "Tags"), tags.el, h("h3", "People"), people.el,
      h("a.btn.btn-small", { href: `#regions/${c.photo.id}` }, "Mark regions & faces…")));
    if (!c.detail) loadDetail(c);
  }

  async function loadDetail(c) {
    try {
      c.detail = await api.photo(c.photo.id);
      if (!c.edited) {
        c.tags = (c.detail.tags || []).map((t) => t.name);
        c.people = [...new Set((c.detail.faces || []).filter((f) => f.person).map((f) => f.person.name))];
        if (top() === c) renderEditor();
      }
    } catch { /* the card still works without details */ }
  }

  function attachSwipe(el) {
    const set = (dx, dy) => {
      el.style.transform = `translate(${dx}px, ${Math.min(dy, 40)}px) rotate(${dx / 18}deg)`;
      el.style.setProperty("--right", Math.max(0, Math.min(1, dx / 120)));
      el.style.setProperty("--left", Math.max(0, Math.min(1, -dx / 120)));
      el.style.setProperty("--up", Math.max(0, Math.min(1, -dy / 120)) * (Math.abs(dy) > Math.abs(dx) ? 1 : 0));
    };
    swipeable(el, {
      onMove: (dx, dy) => { el.classList.add("dragging"); set(dx, dy); },
      onCancel: () => { el.classList.remove("dragging"); set(0, 0); if (pendingRender) renderSoon(); },
      onTap: () => decide("choose"),
      onSwipe: (dir) => {
        el.classList.remove("dragging");
        set(0, 0);
        decide(dir === "right" ? "accept" : dir === "left" ? "skip" : "choose");
      },
    });
  }

  function flyOut(dir) {
    const el = stack.querySelector('.review-card[data-depth="0"]');
    if (!el) return;
    el.classList.add(`fly-${dir}`);
  }

  async function decide(kind, folder) {
    const c = top();
    if (!c || busy) return;
    let body;
    let action = kind;
    if (kind === "choose" || (kind === "accept" && !folder && !sureTop(c))) {
      const picked = await pickFolder({ suggested: c.photo.suggestions || [] });
      if (!picked) return;
      action = "fix";
      body = { folder: picked.folder, create: picked.create || undefined };
    } else if (kind === "accept") {
      body = { folder: folder || topSuggestion(c).folder };
    }
    if (action !== "skip" && c.edited) {
      // accept and fix both carry tag/people edits: a card filed where suggested stays an "accept"
      // (the suggester learns it was right), only another folder makes it a "fix".
      Object.assign(body, { tags: c.tags, people: c.people });
    }
    busy = true;
    renderCount();
    flyOut(kind === "skip" ? "left" : kind === "accept" ? "right" : "up");
    try {
      const r = action === "skip" ? await api.skip(c.photo.id)
        : action === "fix" ? await api.fix(c.photo.id, body) : await api.accept(c.photo.id, body);
      cards.splice(cards.indexOf(c), 1);
      total = Math.max(0, total - 1);
      undoStack.push({ decision: r.decision, card: c });
      const where = r.photo.folder ?? r.decision.chosen_folder;
      toast(action === "skip" ? "Skipped" : `Filed in ${where}`, "ok", { timeout: 1800 });
      dispatchEvent(new Event("jaicat:review-changed"));
    } catch (err) {
      toast(`Not filed: ${describe(err)}`, "error");
    } finally {
      busy = false;
      render();
      pendingRender = false;
      if (cards.length < 3) loadMore();
    }
  }

  async function loadGroup(c) {
    groupBtn.hidden = true;
    group = null;
    if (!c || !topSuggestion(c)) return;
    try {
      const r = await api.group(c.photo.id);
      if (top() !== c || !r.folder || r.count < 2) return;
      group = { photoId: c.photo.id, folder: r.folder, ids: r.items.map((p) => p.id) };
      groupBtn.textContent = `File all ${r.count} in ${r.folder}`;
      groupBtn.hidden = false;
    } catch { /* the single-card buttons still work */ }
  }

  async function fileGroup() {
    const g = group;
    if (!g || busy || !top() || top().photo.id !== g.photoId) return;
    busy = true;
    renderCount();
    try {
      const r = await api.acceptAll(g.ids, g.folder);
      const done = new Set(r.decisions.map((d) => d.photo_id));
      for (const d of r.decisions) undoStack.push({ decision: d, card: cards.find((c) => c.photo.id === d.photo_id) || null });
      for (let i = cards.length - 1; i >= 0; i--) if (done.has(cards[i].photo.id)) cards.splice(i, 1);
      total = Math.max(0, total - done.size);
      toast(`Filed ${done.size} in ${g.folder}`, "ok", { timeout: 1800 });
      dispatchEvent(new Event("jaicat:review-changed"));
    } catch (err) {
      toast(`Not filed: ${describe(err)}`, "error");
    } finally {
      busy = false;
      render();
      if (cards.length < 3) loadMore();
    }
  }

  async function undo() {
    const last = undoStack[undoStack.length - 1];
    if (!last || busy) return;
    busy = true;
    renderCount();
    try {
      const r = await api.undo(last.decision.id);
      undoStack.pop();
      const back = r.photo.status === "skipped" ? "skipped" : "waiting";
      if (back === showing && !has(r.photo.id)) {
        cards.unshift(last.card ? { ...last.card, photo: r.photo } : newCard(r.photo));
        total += 1;
      }
      toast("Undone", "ok", { timeout: 1500 });
      dispatchEvent(new Event("jaicat:review-changed"));
    } catch (err) {
      toast(`Undo failed: ${describe(err)}`, "error");
    } finally {
      busy = false;
      render();
    }
  }

  const has = (id) => cards.some((c) => c.photo.id === id);
  const newCard = (photo) => ({ photo, detail: null, tags: [], people: [], edited: false });

  let cursor = null;
  let loading = false;
  async function loadMore(reset = false) {
    if (loading) return;
    loading = true;
    try {
      const r = await api.review({ limit: 20, cursor: reset ? undefined : cursor || undefined,
        status: showing === "skipped" ? "skipped" : undefined });
      total = r.count ?? total;
      if (typeof r.sure === "number") sureScore = r.sure;
      cursor = r.next_cursor;
      const before = cards.length;
      for (const p of r.items) if (!has(p.id)) cards.push(newCard(p));
      if (reset || before === 0) render(); else renderCount();
    } catch (err) {
      if (!cards.length) {
        clear(stack);
        stack.append(h("div.empty", h("p", `Cannot load the review queue: ${describe(err)}`),
          h("button.btn", { type: "button", onclick: () => loadMore(true) }, "Try again")));
      } else toast(describe(err), "error");
    } finally {
      loading = false;
    }
  }

  let pendingRender = false;
  function renderSoon() {
    // never rebuild a card under a finger or mid-decision; the new suggestion shows once it ends
    if (busy || stack.querySelector(".dragging")) { pendingRender = true; return; }
    pendingRender = false;
    render();
  }

  async function onSuggestion(ev) {
    const existing = cards.find((c) => c.photo.id === ev.photo_id);
    if (existing) {
      const analysed = existing.photo.analysed_at || (ev.refresh ? null : "now");
      existing.photo = { ...existing.photo, suggestions: ev.folders, analysed_at: analysed,
        status: existing.photo.status === "inbox" && !ev.refresh ? "suggested" : existing.photo.status };
      if (cards.indexOf(existing) < 2) renderSoon();
      return;
    }
    if (ev.refresh || showing === "skipped") return; // unloaded cards come with their page, already fresh
    try {
      const p = await api.photo(ev.photo_id);
      if (has(p.id) || (p.status !== "suggested" && p.status !== "inbox")) return;
      cards.push(newCard(p));
      total += 1;
      if (cards.length === 1 && !busy) render(); else renderCount();
    } catch { /* it will come with the next page */ }
  }

  const offs = [
    ws.on("suggestion.ready", onSuggestion),
    ws.on("upload.received", (ev) => { if (!has(ev.photo_id)) onSuggestion({ photo_id: ev.photo_id, folders: null }); }),
    ws.on("_status", (s) => { if (s.state === "open" && !cards.length) loadMore(true); }),
    ws.on("photo.auto_filed", (ev) => { // filed by Jaicat itself: its card goes (once no finger is on it)
      const c = cards.find((x) => x.photo.id === ev.photo_id);
      if (!c) return;
      c.autoFiled = true;
      if (c !== top() || !(busy || stack.querySelector(".dragging"))) dropAutoFiled();
    }),
  ];
  const onKey = (e) => {
    if (e.target.closest("input, textarea") || document.querySelector(".sheet")) return;
    if (e.key === "ArrowRight") decide("accept");
    else if (e.key === "ArrowLeft") decide("skip");
    else if (e.key === "ArrowUp") { e.preventDefault(); decide("choose"); }
    else if ((e.ctrlKey || e.metaKey) && e.key === "z") undo();
  };
  document.addEventListener("keydown", onKey);

  async function toggleSkipped() {
    if (busy) return;
    showing = showing === "skipped" ? "waiting" : "skipped";
    skippedBtn.setAttribute("aria-pressed", String(showing === "skipped"));
    skippedBtn.textContent = showing === "skipped" ? "Back to review" : "Skipped";
    cards.length = 0;
    cursor = null;
    total = 0;
    await loadMore(true);
  }

  async function loadUndo() {
    // undo comes from the decision log, so it survives a reload (several levels, newest last)
    try {
      const r = await api.decisions({ limit: 20 });
      const live = r.items.filter((d) => !d.undone && d.action !== "undo" && d.action !== "confirm");
      undoStack.push(...live.reverse().map((decision) => ({ decision, card: null })));
      renderCount();
    } catch { /* undo stays empty until the next decision */ }
  }

  stack.append(h("div.empty", h("p.muted", "Loading…")));
  await Promise.all([loadMore(true), loadUndo()]);
  return () => { offs.forEach((off) => off()); strip.close(); document.removeEventListener("keydown", onKey); };
}

let tagCache = null;
async function tagSuggest(q) {
  if (!tagCache) tagCache = api.tags().then((r) => r.items.map((t) => t.name)).catch(() => []);
  const all = await tagCache;
  const ql = q.toLowerCase();
  return all.filter((t) => t.toLowerCase().includes(ql));
}

async function peopleSuggest(q) {
  const r = await api.people();
  const ql = q.toLowerCase();
  return r.items.map((p) => p.name).filter((n) => n.toLowerCase().includes(ql));
}
