// The IndexedDB schema, one place for the page (js/store.js) and the service worker (sw.js, a module
// worker). Stores: "queue" (upload entries, File objects included, so the queue survives reloads),
// "shared" (files handed over by the Web Share Target), "kv" (misc). A new store or index means a
// new DB_VERSION and its step in upgrade().

export const DB_NAME = "jaicat";
export const DB_VERSION = 1;
export const STORES = {
  queue: { keyPath: "id" },
  shared: { keyPath: "id", autoIncrement: true },
  kv: undefined, // out-of-line keys
};

function upgrade(db) {
  for (const [name, options] of Object.entries(STORES)) {
    if (!db.objectStoreNames.contains(name)) db.createObjectStore(name, options);
  }
}

export function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => upgrade(req.result);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
