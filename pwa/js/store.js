// IndexedDB, promisified, over the schema in js/db.js (which sw.js opens too).

import { openDb } from "./db.js";

let dbPromise = null;

export function openStore() {
  if (!dbPromise) dbPromise = openDb();
  return dbPromise;
}

async function tx(store, mode, fn) {
  const db = await openStore();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    const s = t.objectStore(store);
    let result;
    const r = fn(s);
    if (r) r.onsuccess = () => { result = r.result; };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("IndexedDB transaction aborted"));
  });
}

export const idb = {
  get: (store, key) => tx(store, "readonly", (s) => s.get(key)),
  all: (store) => tx(store, "readonly", (s) => s.getAll()),
  put: (store, value, key) => tx(store, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key))),
  del: (store, key) => tx(store, "readwrite", (s) => s.delete(key)),
  clear: (store) => tx(store, "readwrite", (s) => s.clear()),
};
