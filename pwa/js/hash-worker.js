// Hashes Files off the main thread. Message in: {id, file, mode?}; out: {id, progress} while
// working, then {id, sha256} or {id, error}. Small files go to SubtleCrypto in one piece when it is
// available (native speed); big files, or any file without SubtleCrypto, stream through Sha256.
import { Sha256 } from "./sha256.js";

const WHOLE_LIMIT = 64 * 1024 * 1024; // above this, reading the whole file at once costs too much memory
const SLICE = 4 * 1024 * 1024;

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function hashFile(id, file, mode) {
  const subtle = self.crypto && self.crypto.subtle;
  const whole = mode === "whole" || (mode !== "stream" && subtle && file.size <= WHOLE_LIMIT);
  if (whole && subtle) {
    const digest = await subtle.digest("SHA-256", await file.arrayBuffer());
    return hex(digest);
  }
  const h = new Sha256();
  for (let off = 0; off < file.size; off += SLICE) {
    h.update(new Uint8Array(await file.slice(off, off + SLICE).arrayBuffer()));
    self.postMessage({ id, progress: Math.min(1, (off + SLICE) / file.size) });
  }
  return h.hex();
}

self.onmessage = async (ev) => {
  const { id, file, mode } = ev.data;
  try {
    self.postMessage({ id, sha256: await hashFile(id, file, mode) });
  } catch (err) {
    self.postMessage({ id, error: String((err && err.message) || err) });
  }
};
