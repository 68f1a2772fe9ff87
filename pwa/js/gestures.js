// Pointer Events gestures, so one code path serves touch, mouse and pen.

/**
 * Make `el` swipeable. Calls onMove(dx, dy) while dragging, onSwipe("left"|"right"|"up") when the
 * drag passes the threshold (a third of the width, or a fast flick), onCancel() when it snaps back,
 * and onTap() for a press without movement. The element needs `touch-action: none` in CSS.
 */
export function swipeable(el, { onMove, onSwipe, onCancel, onTap, threshold = 0.3 } = {}) {
  let start = null;
  const down = (e) => {
    if (e.button > 0 || start) return;
    if (e.target.closest("button, input, a, select, textarea, [data-no-swipe]")) return;
    start = { x: e.clientX, y: e.clientY, t: performance.now(), id: e.pointerId };
    try { el.setPointerCapture(e.pointerId); } catch { /* synthetic pointer ids cannot be captured */ }
  };
  const move = (e) => {
    if (!start || e.pointerId !== start.id) return;
    onMove && onMove(e.clientX - start.x, e.clientY - start.y);
  };
  const up = (e) => {
    if (!start || e.pointerId !== start.id) return;
    const dx = e.clientX - start.x;
    const dy = e.clientY - start.y;
    const dt = Math.max(1, performance.now() - start.t);
    start = null;
    const w = el.offsetWidth || 300;
    const fast = Math.hypot(dx, dy) / dt > 0.6 && Math.hypot(dx, dy) > 40; // px per ms: a flick
    if (Math.hypot(dx, dy) < 8) {
      onCancel && onCancel();
      onTap && onTap(e);
    } else if (Math.abs(dx) > Math.abs(dy) && (Math.abs(dx) > w * threshold || fast)) {
      onSwipe && onSwipe(dx > 0 ? "right" : "left");
    } else if (dy < 0 && Math.abs(dy) > Math.abs(dx) && (-dy > (el.offsetHeight || 400) * 0.2 || fast)) {
      onSwipe && onSwipe("up");
    } else {
      onCancel && onCancel();
    }
  };
  const cancel = (e) => {
    if (!start || e.pointerId !== start.id) return;
    start = null;
    onCancel && onCancel();
  };
  el.addEventListener("pointerdown", down);
  el.addEventListener("pointermove", move);
  el.addEventListener("pointerup", up);
  el.addEventListener("pointercancel", cancel);
  return () => {
    el.removeEventListener("pointerdown", down);
    el.removeEventListener("pointermove", move);
    el.removeEventListener("pointerup", up);
    el.removeEventListener("pointercancel", cancel);
  };
}

/**
 * Drag out a rectangle on `el` (which wraps the image). onChange(box) while dragging, onDone(box)
 * on release; box = {x, y, w, h} normalised 0-1 to el's box, so it is independent of display size.
 * Boxes smaller than `minSize` (fraction of each side) count as taps and are ignored.
 */
export function drawBox(el, { onChange, onDone, minSize = 0.02 } = {}) {
  let start = null;
  const norm = (e) => {
    const r = el.getBoundingClientRect();
    return {
      x: Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)),
      y: Math.max(0, Math.min(1, (e.clientY - r.top) / r.height)),
    };
  };
  const boxOf = (a, b) => ({
    x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y),
  });
  const down = (e) => {
    if (e.button > 0 || start) return;
    if (e.target.closest("button, input, a, .box-label")) return;
    e.preventDefault();
    start = { p: norm(e), id: e.pointerId };
    try { el.setPointerCapture(e.pointerId); } catch { /* synthetic pointer */ }
  };
  const move = (e) => {
    if (!start || e.pointerId !== start.id) return;
    onChange && onChange(boxOf(start.p, norm(e)));
  };
  const up = (e) => {
    if (!start || e.pointerId !== start.id) return;
    const box = boxOf(start.p, norm(e));
    start = null;
    if (box.w >= minSize && box.h >= minSize) onDone && onDone(box);
    else onChange && onChange(null);
  };
  el.addEventListener("pointerdown", down);
  el.addEventListener("pointermove", move);
  el.addEventListener("pointerup", up);
  el.addEventListener("pointercancel", (e) => { if (start && e.pointerId === start.id) { start = null; onChange && onChange(null); } });
  return () => {
    el.removeEventListener("pointerdown", down);
    el.removeEventListener("pointermove", move);
    el.removeEventListener("pointerup", up);
  };
}
