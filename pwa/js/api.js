// fetch + token + errors, in one place. Routes and shapes: docs/API.md.
// The token lives in localStorage and is sent as a Bearer header; pairing also sets an HttpOnly
// cookie, which is what lets <img src="/api/photos/1/thumb"> load without putting the token in URLs.

const TOKEN_KEY = "jaicat.token";
const DEVICE_KEY = "jaicat.device";

export class ApiError extends Error {
  constructor(status, code, message, body = {}) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.body = body;
  }
  /** True when the request never reached the server (offline, DNS, reset) — worth retrying. */
  get network() {
    return this.status === 0;
  }
}

export const base = new URL("./", location.href); // the server the app was loaded from

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setSession(token, device) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(DEVICE_KEY, JSON.stringify(device || {}));
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(DEVICE_KEY);
}

export function currentDevice() {
  try { return JSON.parse(localStorage.getItem(DEVICE_KEY) || "{}"); } catch { return {}; }
}

export function url(path, query) {
  const u = new URL(path.replace(/^\//, ""), base);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u.toString();
}

/** Resolve a server-given URL such as "/api/photos/1/thumb?size=256" against the server. */
export function media(path) {
  return path ? url(path) : "";
}

export function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}`, ...extra } : { ...extra };
}

/**
 * request("POST", "/api/review/3/accept", {json: {...}}) -> parsed JSON (or null for 204).
 * Throws ApiError; status 0 means a network failure. A 401 also fires "jaicat:unauthorized".
 */
export async function request(method, path, { json, body, query, headers, signal, timeout = 30000 } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  if (signal) signal.addEventListener("abort", () => ctrl.abort(), { once: true });
  const init = { method, headers: authHeaders(headers), signal: ctrl.signal, credentials: "same-origin", cache: "no-store" };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let res;
  try {
    res = await fetch(url(path, query), init);
  } catch (err) {
    throw new ApiError(0, "network", navigator.onLine ? "Cannot reach the Jaicat server" : "You are offline");
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 200) }; }
  }
  if (!res.ok) {
    const e = new ApiError(res.status, data && data.error, (data && data.message) || res.statusText, data || {});
    if (res.status === 401 && !path.endsWith("/api/pair")) dispatchEvent(new CustomEvent("jaicat:unauthorized"));
    throw e;
  }
  return data;
}

const get = (p, query) => request("GET", p, { query });
const post = (p, json = {}) => request("POST", p, { json });

export const api = {
  health: () => get("/api/health"),
  pair: (code, name) => post("/api/pair", { code, name }),
  logout: () => post("/api/logout"),
  pairCode: () => post("/api/pair/code"),
  server: () => get("/api/server"),
  devices: () => get("/api/devices"),
  renameDevice: (id, name) => request("PATCH", `/api/devices/${id}`, { json: { name } }),
  revokeDevice: (id) => request("DELETE", `/api/devices/${id}`),

  checkHashes: (sha256) => post("/api/uploads/check", { sha256 }),
  createUpload: (meta) => post("/api/uploads", meta),
  getUpload: (id) => get(`/api/uploads/${encodeURIComponent(id)}`),
  deleteUpload: (id) => request("DELETE", `/api/uploads/${encodeURIComponent(id)}`),

  photos: (query) => get("/api/photos", query),
  photo: (id) => get(`/api/photos/${id}`),
  search: (q, limit = 60, cursor) => get("/api/search", { q, limit, cursor }),
  setPhotoTags: (id, tags) => request("PATCH", `/api/photos/${id}`, { json: { tags } }),
  setFavourite: (id, favourite) => request("PATCH", `/api/photos/${id}`, { json: { favourite } }),
  movePhotos: (ids, folder, create = false) => post("/api/photos/move", { ids, folder, create }),
  trashPhotos: (ids) => post("/api/photos/trash", { ids }),
  restorePhotos: (ids) => post("/api/photos/restore", { ids }),
  trash: (query) => get("/api/trash", query),
  timeline: () => get("/api/timeline"),
  timelinePhotos: (query) => get("/api/timeline/photos", query),
  places: () => get("/api/places"),
  ideas: (ids, people) => post("/api/ideas", { ids, people }),
  emptyTrash: (ids) => post("/api/trash/empty", ids ? { ids } : {}),

  review: (query) => get("/api/review", query),
  accept: (id, body) => post(`/api/review/${id}/accept`, body),
  fix: (id, body) => post(`/api/review/${id}/fix`, body),
  skip: (id) => post(`/api/review/${id}/skip`, {}),
  group: (id) => get(`/api/review/${id}/group`),
  acceptAll: (ids, folder) => post("/api/review/accept-all", { photo_ids: ids, folder }),
  undo: (decisionId) => post("/api/review/undo", decisionId ? { decision_id: decisionId } : {}),
  undoPhoto: (photoId) => post("/api/review/undo", { photo_id: photoId }),
  autoFiledSeen: (ids) => post("/api/review/auto-filed/seen", { photo_ids: ids }),
  settings: () => get("/api/settings"),
  setAutoFile: (value) => request("PATCH", "/api/settings", { json: { auto_file: value } }),
  decisions: (query) => get("/api/decisions", query),

  folders: () => get("/api/folders"),
  createFolder: (path) => post("/api/folders", { path }),
  renameFolder: (from, to) => post("/api/folders/rename", { from, to }),
  tags: () => get("/api/tags"),

  regions: (photoId) => get(`/api/photos/${photoId}/regions`),
  addRegion: (photoId, box) => post(`/api/photos/${photoId}/regions`, box),
  updateRegion: (id, fields) => request("PATCH", `/api/regions/${id}`, { json: fields }),
  deleteRegion: (id) => request("DELETE", `/api/regions/${id}`),
  regionLabels: () => get("/api/regions/labels"),
  similarRegions: (id, limit = 20) => get(`/api/regions/${id}/similar`, { limit }),

  people: () => get("/api/people"),
  person: (id) => get(`/api/people/${id}`),
  renamePerson: (id, name) => request("PATCH", `/api/people/${id}`, { json: { name } }),
  mergePerson: (id, into) => post(`/api/people/${id}/merge`, { into }),
  unknownFaces: () => get("/api/people/unknown"),
  nameCluster: (cluster, name) => post(`/api/people/unknown/${cluster}/name`, { name }),
  confirmFace: (id, body) => post(`/api/faces/${id}/confirm`, body || {}),
  rejectFace: (id) => post(`/api/faces/${id}/reject`),
  confirmAllFaces: (id, except) => post(`/api/people/${id}/confirm-all`, { except: except || [] }),
  setCover: (id, faceId) => post(`/api/people/${id}/cover`, { face_id: faceId }),
  hideCluster: (cluster) => post(`/api/people/unknown/${cluster}/hide`),
  notFaces: (cluster) => post(`/api/people/unknown/${cluster}/not-faces`),
  notAFace: (id) => post(`/api/faces/${id}/not-a-face`),

  jobs: (query) => get("/api/jobs", query),
};

/** Human text for an error, for toasts. */
export function describe(err) {
  if (err instanceof ApiError) {
    if (err.network) return err.message;
    return `${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ""}`;
  }
  return String((err && err.message) || err);
}
