// Pointer Events gestures, so one code path serves touch, mouse and pen.

const MOVED = 8; // px: less than this between press and release is a tap

/** After a drag that began on a button, the browser may still send that button a click on release:
 * swallow the next click on `el` (once, briefly) so a swipe is never also a tap. */
function swallowNextClick(el) {
  const stop = (ev) => { ev.stopPropagation(); ev.preventDefault(); };
  el.addEventListener("click", stop, { capture: true, once: true });
  setTimeout(() => el.removeEventListener("click", stop, { capture: true }), 400);
}

/**
 * Make `el` swipeable. Calls onMove(dx, dy) while dragging, onSwipe("left"|"right"|"up") when the
 * drag passes the threshold (a third of the width, or a fast flick), onCancel() when it snaps back,
 * and onTap() for a press without movement. The element needs `touch-action: none` in CSS.
 * A press on a control matching `through` (e.g. the viewer's edge arrows) is a tap on it when it does
 * not move, and a swipe when it does; other controls never start a swipe.
 */
export function swipeable(el, { onMove, onSwipe, onCancel, onTap, threshold = 0.3, through = null } = {}) {
  let start = null;
  const down = (e) => {
    if (e.button > 0 || start) return;
    const control = e.target.closest("button, input, a, select, textarea, [data-no-swipe]");
    const onControl = !!(control && through && control.matches(through));
    if (control && !onControl) return;
    start = { x: e.clientX, y: e.clientY, t: performance.now(), id: e.pointerId, onControl };
    // capturing would send the release (and so the click) to `el`: a control keeps its own tap
    if (!onControl) try { el.setPointerCapture(e.pointerId); } catch { /* synthetic pointer ids cannot be captured */ }
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
    const { onControl } = start;
    start = null;
    const w = el.offsetWidth || 300;
    const fast = Math.hypot(dx, dy) / dt > 0.6 && Math.hypot(dx, dy) > 40; // px per ms: a flick
    if (Math.hypot(dx, dy) < MOVED) {
      onCancel && onCancel();
      if (!onControl) onTap && onTap(e); // the control's own click does the tap
      return;
    }
    if (onControl) swallowNextClick(el);
    if (Math.abs(dx) > Math.abs(dy) && (Math.abs(dx) > w * threshold || fast)) {
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
 * A press on an existing box (`.box`) that moves draws a new box over it; one that does not move is
 * a tap on that box (it is selected).
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
    const onBox = !!e.target.closest(".box");
    if (!onBox && e.target.closest("button, input, a")) return;
    if (!onBox) e.preventDefault(); // on a box, the default (its click, on a tap) must stay
    start = { p: norm(e), x: e.clientX, y: e.clientY, id: e.pointerId, onBox, drawing: !onBox };
    if (!onBox) try { el.setPointerCapture(e.pointerId); } catch { /* synthetic pointer */ }
  };
  const move = (e) => {
    if (!start || e.pointerId !== start.id) return;
    if (!start.drawing) {
      if (Math.hypot(e.clientX - start.x, e.clientY - start.y) < MOVED) return;
      start.drawing = true; // a drag from a box: a new box, not a tap on the old one
      try { el.setPointerCapture(e.pointerId); } catch { /* synthetic pointer */ }
    }
    onChange && onChange(boxOf(start.p, norm(e)));
  };
  const up = (e) => {
    if (!start || e.pointerId !== start.id) return;
    const { drawing, onBox } = start;
    const box = boxOf(start.p, norm(e));
    start = null;
    if (!drawing) return; // a tap on a box: its click selects it
    if (onBox) swallowNextClick(el);
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
