// One reconnecting websocket to the server's event stream. Screens subscribe by event type;
// "*" gets everything, "_status" gets "open" / "closed" so the UI can show that live updates stopped.

const listeners = new Map();
let socket = null;
let urlFn = null;
let retry = 0;
let timer = null;
let wanted = false;

export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

function emit(type, data) {
  for (const key of [type, "*"]) {
    for (const fn of listeners.get(key) || []) {
      try { fn(data); } catch (err) { console.error("ws listener", err); }
    }
  }
}

export function isOpen() {
  return !!socket && socket.readyState === WebSocket.OPEN;
}

/** Connect (or reconnect) to the URL returned by `makeUrl()`, re-evaluated on every attempt. */
export function connect(makeUrl) {
  urlFn = makeUrl;
  wanted = true;
  open();
}

export function disconnect() {
  wanted = false;
  clearTimeout(timer);
  if (socket) socket.close();
  socket = null;
}

export function send(obj) {
  if (isOpen()) socket.send(JSON.stringify(obj));
}

function open() {
  clearTimeout(timer);
  if (!wanted || !urlFn) return;
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  let s;
  try {
    s = new WebSocket(urlFn());
  } catch (err) {
    schedule();
    return;
  }
  socket = s;
  s.onopen = () => {
    retry = 0;
    emit("_status", { type: "_status", state: "open" });
  };
  s.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg && msg.type) emit(msg.type, msg);
  };
  s.onclose = (ev) => {
    if (socket === s) socket = null;
    emit("_status", { type: "_status", state: "closed", code: ev.code });
    schedule();
  };
  s.onerror = () => {}; // onclose follows and schedules the retry
}

function schedule() {
  if (!wanted) return;
  const delay = Math.min(30000, 500 * 2 ** retry) * (0.75 + Math.random() * 0.5);
  retry = Math.min(retry + 1, 6);
  timer = setTimeout(open, delay);
}

// Reconnect at once when the phone comes back online or the app is brought to the front.
addEventListener("online", () => { retry = 0; open(); });
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") { retry = 0; open(); }
});
