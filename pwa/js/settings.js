// Settings: this phone and the other paired devices (rename, revoke), pair another phone with a QR
// code, auto-filing (autofiled.js), the server's version and addresses, the trash, and unpairing this phone.

import { api, clearSession, currentDevice, setSession, getToken, describe } from "./api.js";
import { go } from "./router.js";
import * as ws from "./ws.js";
import { h, clear, sheet, toast } from "./ui.js";
import { autoFileSetting } from "./autofiled.js";

export const title = "Settings";

const localTime = (iso) => (iso ? new Date(/[Zz]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`) : null);
const when = (iso) => {
  const d = localTime(iso);
  return d ? d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "never";
};

/** Draw QR rows ("0101…", 1 = dark) on a canvas, `scale` px a module. */
export function qrCanvas(rows, scale = 6) {
  const n = rows.length;
  const c = h("canvas#pair-qr.qr", { width: n * scale, height: n * scale, role: "img", "aria-label": "QR code to pair another phone" });
  const g = c.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, n * scale, n * scale);
  g.fillStyle = "#000";
  rows.forEach((row, y) => { for (let x = 0; x < row.length; x++) if (row[x] === "1") g.fillRect(x * scale, y * scale, scale, scale); });
  return c;
}

async function pairAnother() {
  const body = h("div.pair-another", h("p.muted", "Making a code…"));
  sheet("Pair another phone", body);
  try {
    const r = await api.pairCode();
    clear(body).append(
      h("p", "On the other phone, scan this code with the camera, or open Jaicat and type the code."),
      h("div.qr-box", qrCanvas(r.qr)),
      h("p.pair-code-big#pair-code-shown", r.code),
      h("p.muted#pair-expiry", `Valid until ${localTime(r.expires_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}, once.`),
      h("p.muted.pair-url", r.url));
  } catch (err) {
    clear(body).append(h("p", `No code: ${describe(err)}`));
  }
}

function renameDevice(d, onDone) {
  const input = h("input#device-rename", { type: "text", value: d.name, maxlength: 100, "aria-label": "Device name", autocomplete: "off" });
  const s = sheet(`Rename “${d.name}”`, h("form.row", { onsubmit: async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!name || name === d.name) { s.close(); return; }
    try {
      const nd = await api.renameDevice(d.id, name);
      if (nd.current) setSession(getToken(), nd);
      toast(`Renamed to “${nd.name}”`, "ok");
      s.close();
      onDone();
    } catch (err) { toast(`Not renamed: ${describe(err)}`, "error"); }
  } }, input, h("button.btn.btn-primary", { type: "submit" }, "Save")));
  input.focus();
  input.select();
}

async function unpair() {
  try { await api.logout(); } catch { /* already gone */ }
  clearSession();
  ws.disconnect();
  toast("This phone is no longer paired.", "ok", { across: true });
  go("#connect");
}

export async function mount(view) {
  const devicesBox = h("ul#device-list.device-list", h("li.muted", "Loading…"));
  const serverBox = h("dl#server-facts.facts", h("dt", "Server"), h("dd", "…"));

  async function loadDevices() {
    try {
      const { items } = await api.devices();
      clear(devicesBox);
      for (const d of items.filter((x) => !x.revoked)) {
        devicesBox.append(h("li.device", { dataset: { deviceId: d.id } },
          h("div.device-text", h("strong.device-name", d.name, d.current ? h("span.chip.chip-muted", "this phone") : null),
            h("small.muted", `paired ${when(d.created_at)} · last seen ${when(d.last_seen)}`)),
          h("div.row",
            h("button.btn.btn-small.device-rename", { type: "button", "aria-label": `Rename ${d.name}`, onclick: () => renameDevice(d, loadDevices) }, "Rename"),
            d.current ? null : h("button.btn.btn-small.btn-danger.device-revoke", { type: "button", "aria-label": `Revoke ${d.name}`, onclick: async () => {
              if (!confirm(`Revoke “${d.name}”? That phone will need to be paired again.`)) return;
              try { await api.revokeDevice(d.id); toast(`Revoked “${d.name}”`, "ok"); loadDevices(); } catch (err) { toast(describe(err), "error"); }
            } }, "Revoke"))));
      }
    } catch (err) {
      clear(devicesBox).append(h("li.muted", `Devices unavailable: ${describe(err)}`));
    }
  }

  view.append(
    h("section.card",
      h("h2", "This phone"),
      h("p", "Paired as ", h("strong#this-device", currentDevice().name || "this phone"), "."),
      h("div.row.wrap",
        h("button.btn.btn-primary#pair-another", { type: "button", onclick: pairAnother }, "Pair another phone"),
        h("button.btn.btn-danger#unpair-btn", { type: "button", onclick: () => { if (confirm("Unpair this phone from the server?")) unpair(); } }, "Unpair"))),
    h("section.card", h("h2", "Paired devices"), devicesBox),
    autoFileSetting(),
    h("section.card", h("h2", "Library"),
      h("div.row.wrap",
        h("a.btn#open-trash", { href: "#trash" }, "Trash"),
        h("a.btn", { href: "#library?favourite=1" }, "Favourites"),
        h("a.btn", { href: "#timeline" }, "Timeline"),
        h("a.btn", { href: "#map" }, "Map"))),
    h("section.card", h("h2", "Server"), serverBox));

  loadDevices();
  // a phone paired from the QR sheet (or renamed, or revoked elsewhere) shows at once
  const offDevices = ws.on("devices.changed", () => loadDevices());
  api.server().then((s) => {
    clear(serverBox).append(
      h("dt", "Version"), h("dd#server-version", `Jaicat ${s.version}${s.https ? " (https)" : ""}`),
      h("dt", "Addresses"), h("dd#server-urls", s.urls.map((u) => h("div", u))),
      h("dt", "This app"), h("dd", s.this_url));
  }).catch((err) => clear(serverBox).append(h("dt", "Server"), h("dd", describe(err))));
  return () => offDevices();
}
