// Pairing: the app talks to the server it was loaded from. Enter the 6-character code the server
// printed (or open its QR link, /#pair=CODE, which fills it in and pairs at once).

import { api, base, setSession, getToken, currentDevice, describe, clearSession } from "./api.js";
import { go } from "./router.js";
import * as ws from "./ws.js";
import { h, toast } from "./ui.js";

export const title = "Connect";
// a code's characters (no look-alikes: never 0, 1, I, L, O); what is typed is upper-cased, never dropped
const NOT_IN_CODES = /[^ABCDEFGHJKMNPQRSTUVWXYZ23456789]/;
const typed = (text) => text.toUpperCase().replace(/[^A-Z0-9]/g, "");

/** The phone's model as its browser tells it ("Pixel 8", "SM-S918B"), else "iPhone", "Android phone"…
 * Chrome's reduced user agent says "Android 10; K": the model then comes from userAgentData. */
function defaultName() {
  const ua = navigator.userAgent;
  const model = (/Android [\d.]+; ([^;)]+?)(?: Build\/[^;)]*)?\)/.exec(ua) || [])[1];
  if (model && model.trim() !== "K") return model.trim();
  const os = /Android/.test(ua) ? "Android" : /iPhone/.test(ua) ? "iPhone" : /iPad/.test(ua) ? "iPad" : /Mac/.test(ua) ? "Mac" : /Windows/.test(ua) ? "Windows" : "Linux";
  return /iPhone|iPad/.test(os) ? os : `${os} phone`.replace(/(Mac|Windows|Linux) phone/, "$1 browser");
}

async function modelName() {
  try {
    const v = await navigator.userAgentData.getHighEntropyValues(["model"]);
    return (v.model || "").trim() || null;
  } catch { return null; }
}

export async function mount(view, route) {
  const status = h("p.server-status", "Checking the server…");
  const code = h("input#pair-code.code-input", {
    type: "text", inputmode: "text", autocomplete: "one-time-code", autocapitalize: "characters",
    maxlength: 6, placeholder: "K7QM2X", "aria-label": "Pairing code", required: true,
  });
  const name = h("input#device-name", { type: "text", value: localStorage.getItem("jaicat.name") || defaultName(),
    "aria-label": "Name of this phone", maxlength: 60 });
  if (!localStorage.getItem("jaicat.name") && / phone$/.test(name.value)) {
    modelName().then((m) => { if (m && name.value === defaultName()) name.value = m; });
  }
  const submit = h("button.btn.btn-primary.btn-block#pair-btn", { type: "submit" }, "Pair this phone");
  const preset = route.params.get("code");
  const paired = getToken() && !preset; // a QR link always means "pair this phone (again)"
  const codeHint = h("p.hint#pair-code-hint", "Shown in the terminal where the server runs (or run ", h("code", "jaicat pair"), ").");
  const unlike = h("p.hint.bad#pair-code-warn", { hidden: true }, "A code never has 0, 1, I, L or O: check it against the one shown.");
  const checkCode = () => {
    const at = code.selectionStart;
    code.value = typed(code.value);
    if (at !== null) code.setSelectionRange(Math.min(at, code.value.length), Math.min(at, code.value.length));
    unlike.hidden = !NOT_IN_CODES.test(code.value);
  };
  code.addEventListener("input", checkCode);

  const form = h("form.card.connect-card", { onsubmit: async (e) => { e.preventDefault(); await pair(); } },
    h("label", "Pairing code", code), unlike, codeHint,
    h("label", "This phone's name", name),
    submit);

  async function pair() {
    const c = code.value.trim().toUpperCase();
    if (c.length !== 6) { toast("The code has 6 characters.", "warn"); code.focus(); return; }
    submit.disabled = true;
    submit.textContent = "Pairing…";
    try {
      const r = await api.pair(c, name.value.trim() || defaultName());
      setSession(r.token, r.device);
      localStorage.setItem("jaicat.name", name.value.trim());
      toast(`Paired as “${r.device.name}”`, "ok", { across: true });
      history.replaceState(null, "", location.pathname + location.search); // drop #pair=CODE
      dispatchEvent(new Event("jaicat:paired")); // the shell goes live
      go("#upload");
    } catch (err) {
      const msg = err.status === 401 ? "That code is wrong or has expired. Ask the server for a new one."
        : err.status === 429 ? "Too many attempts; wait a minute." : describe(err);
      toast(msg, "error");
      submit.disabled = false;
      submit.textContent = "Pair this phone";
    }
  }

  const parts = [
    h("section.hero", h("img", { src: "icons/icon-192.png", alt: "", width: 72, height: 72 }),
      h("h2", "Connect to your Jaicat"), h("p.muted", "Server: ", h("strong#server-origin", base.host)), status),
  ];
  if (paired) {
    const dev = currentDevice();
    parts.push(h("div.card", h("p", "This phone is paired", dev.name ? ` as “${dev.name}”` : "", "."),
      h("div.row", h("a.btn.btn-primary", { href: "#upload" }, "Continue"),
        h("button.btn", { type: "button", onclick: async () => {
          try { await api.logout(); } catch { /* already gone */ }
          clearSession(); ws.disconnect(); go("#connect");
        } }, "Unpair"))));
  } else {
    parts.push(form);
  }
  view.append(h("div.connect", parts));

  api.health().then((hlt) => {
    status.textContent = `Jaicat ${hlt.version} is running${hlt.https ? " (https)" : ""}.`;
    status.classList.add("ok");
  }).catch((err) => {
    status.textContent = err.network ? "The server cannot be reached right now." : describe(err);
    status.classList.add("bad");
  });

  if (preset) {
    code.value = typed(preset).slice(0, 6);
    checkCode();
    if (code.value.length === 6 && unlike.hidden) pair();
  } else if (!paired) {
    code.focus();
  }
}
