// What a user does to one photo or a selection, shared by the viewer and the library's select mode:
// move to a folder, delete (to the trash, with Undo), star, share or download the original.

import { api, media, describe } from "./api.js";
import { pickFolder } from "./folder-picker.js";
import { h, toast } from "./ui.js";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Ask for a folder and move the photos there; resolves to the folder, or null if nothing moved. */
export async function movePhotos(ids) {
  const choice = await pickFolder({ title: ids.length === 1 ? "Move to folder" : `Move ${ids.length} photos to` });
  if (!choice) return null;
  try {
    const r = await api.movePhotos(ids, choice.folder, choice.create);
    toast(`Moved ${plural(r.moved, "photo")} to ${r.folder || "the library root"}`, "ok", { across: true });
    return r.folder;
  } catch (err) {
    toast(`Not moved: ${describe(err)}`, "error");
    return null;
  }
}

/** Put photos in the trash; the toast offers Undo (restore) for a while. Resolves true if trashed. */
export async function trashPhotos(ids, { onUndo } = {}) {
  try {
    await api.trashPhotos(ids);
  } catch (err) {
    toast(`Not deleted: ${describe(err)}`, "error");
    return false;
  }
  const t = toast(`${plural(ids.length, "photo")} moved to the trash. `, "ok", { timeout: 8000, across: true });
  if (t) {
    t.querySelector(".toast-msg").append(h("button.btn.btn-small#undo-trash", { type: "button", onclick: async () => {
      t.remove();
      try {
        await api.restorePhotos(ids);
        toast(`Restored ${plural(ids.length, "photo")}`, "ok", { across: true });
        onUndo && onUndo();
      } catch (err) { toast(`Not restored: ${describe(err)}`, "error"); }
    } }, "Undo"));
  }
  return true;
}

/** Star or unstar photos; resolves to the new state, or null on failure. */
export async function setFavourite(ids, on) {
  try {
    for (const id of ids) await api.setFavourite(id, on);
    return on;
  } catch (err) {
    toast(`Not ${on ? "starred" : "unstarred"}: ${describe(err)}`, "error");
    return null;
  }
}

/** Share the original file through the phone's share sheet (Web Share API with files); where the
 * browser cannot share files, download it instead. */
export async function sharePhoto(p) {
  const href = media(p.original_url);
  if (navigator.canShare) {
    try {
      const res = await fetch(href, { credentials: "same-origin" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const file = new File([await res.blob()], p.filename, { type: p.mime || "application/octet-stream" });
      if (navigator.canShare({ files: [file] })) {
        await navigator.share({ files: [file], title: p.filename });
        return "shared";
      }
    } catch (err) {
      if (err && err.name === "AbortError") return "cancelled"; // the user closed the share sheet
      console.warn("share failed, downloading instead", err);
    }
  }
  const a = h("a", { href, download: p.filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  return "downloaded";
}

/** Share a text (a post idea) through the share sheet, else copy it. */
export async function shareText(text) {
  if (navigator.share) {
    try { await navigator.share({ text }); return "shared"; } catch (err) { if (err && err.name === "AbortError") return "cancelled"; }
  }
  return (await copyText(text)) ? "copied" : "failed";
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // clipboard needs a secure context: fall back to a selected textarea and execCommand
    const ta = h("textarea", { style: { position: "fixed", opacity: "0" } });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand && document.execCommand("copy");
    ta.remove();
    return !!ok;
  }
}
