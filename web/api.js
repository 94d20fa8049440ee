// The REST API (docs/rest.md) and the signed-in session, shared by every tab of the browser.

const KEY = "roomcast.session";
const BASE = "/api/v1";

const READABLE = {
  invalid_credentials: "Wrong email or password.",
  rate_limited: "Too many attempts: wait a moment and try again.",
  registration_closed: "Sign-up is closed on this server: ask an admin for an account.",
  unauthorized: "Your session has ended: please sign in again.",
  token_expired: "Your session expired: please sign in again.",
  token_revoked: "You were signed out: please sign in again.",
  token_reused: "This session was used elsewhere and has been closed: please sign in again.",
  forbidden: "Only a project head (or an admin) may do that.",
  not_found: "Not found: it does not exist, or you are not a member.",
  conflict: "That conflicts with the current state.",
  invalid_state: "Not possible in the meeting's current state.",
  invalid_link: "This link is not valid.",
  link_used: "This link has already been used.",
  link_expired: "This link has expired.",
  link_revoked: "This link was revoked.",
  wrong_account: "This link is for another account.",
  already_member: "Already a member.",
  already_invited: "Already invited.",
  payload_too_large: "Too large.",
  unsupported_media_type: "This kind of file is not supported.",
  service_unavailable: "The server cannot do that right now: try again shortly.",
  store_unavailable: "The server's store is unreachable: try again shortly.",
  not_joined: "Not in that room (reconnecting?).",
  version_conflict: "Someone else changed this row first: its current values are shown, edit again from them.",
  version_required: "The change did not say which version of the row it was made from.",
  invalid_record: "A value does not fit its column.",
  internal: "Something went wrong on the server (it has been logged).",
};

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || "http_" + status;
    this.details = error?.details;
  }
  readable() {
    return describeError(this.code, this.message, this.details);
  }
}

export function describeError(code, message, details) {
  const fields = details?.fields || (Array.isArray(details) ? details : null);
  if ((code === "validation_error" || code === "invalid_record") && fields?.length) {
    return "Please check: " + fields.map((f) => `${(f.loc || []).filter((p) => p !== "body").join(".")}: ${f.message}`).join("; ");
  }
  const known = READABLE[code];
  return known ? `${known}${message && known !== message ? ` (${message})` : ""}` : message || code;
}

function expOf(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp * 1000;
  } catch {
    return 0;
  }
}

export const session = {
  get() {
    try {
      return JSON.parse(localStorage.getItem(KEY));
    } catch {
      return null;
    }
  },
  save(pair, user) {
    const current = this.get();
    const value = {
      access_token: pair.access_token, refresh_token: pair.refresh_token,
      access_exp: expOf(pair.access_token), user: user || pair.user || current?.user,
    };
    localStorage.setItem(KEY, JSON.stringify(value));
    return value;
  },
  clear() {
    localStorage.removeItem(KEY);
  },
  // Another tab signed in, refreshed or signed out.
  onChange(fn) {
    addEventListener("storage", (e) => { if (e.key === KEY) fn(this.get()); });
  },
};

// Refresh tokens rotate and a reused one closes the whole session, so only one tab refreshes
// at a time, and a tab that waited takes the pair the other one stored.
export async function refreshTokens(staleAccess) {
  const run = async () => {
    const current = session.get();
    if (!current) throw new ApiError(401, { code: "unauthorized" });
    if (current.access_token !== staleAccess && current.access_exp - Date.now() > 60000) return current;
    const pair = await request("/auth/refresh", { method: "POST", body: { refresh_token: current.refresh_token }, auth: false });
    return session.save(pair);
  };
  return navigator.locks ? navigator.locks.request("roomcast-refresh", run) : run();
}

// A request the server has not answered in this time fails with `timeout` instead of leaving
// the page waiting; an upload and a file's download are exempt (a large file takes as long as
// the link needs).
let timeoutMs = 30000;
// For a test that waits for the timeout without waiting 30 s.
export function setRequestTimeout(ms) {
  timeoutMs = ms;
}

function timedOut(method) {
  const seconds = timeoutMs / 1000;
  return new ApiError(0, {
    code: "timeout",
    message: method === "GET"
      ? `The server did not answer in ${seconds} s: try again.`
      : `The server did not answer in ${seconds} s: the change may have been made; reload to see.`,
  });
}

async function request(path, { method = "GET", body, query, form, auth = true, blob = false, ifMatch } = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = {};
  if (ifMatch !== undefined) headers["If-Match"] = `"${ifMatch}"`;
  const token = auth ? session.get()?.access_token : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  // The timer covers the body too: an answer that starts and then stalls also fails.
  const signal = form || blob ? undefined : AbortSignal.timeout(timeoutMs);
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload, signal });
  } catch (err) {
    if (err?.name === "TimeoutError") throw timedOut(method);
    throw new ApiError(0, { code: "network", message: "The server cannot be reached (offline?)." });
  }
  if (response.status === 204) return null;
  if (!response.ok) {
    let error;
    try {
      error = (await response.json()).error;
    } catch { /* not our envelope */ }
    const err = new ApiError(response.status, error);
    err.token = token;
    throw err;
  }
  try {
    return await (blob ? response.blob() : response.json());
  } catch (err) {
    if (err?.name === "TimeoutError") throw timedOut(method);
    throw err;
  }
}

// Every call: one refresh and one retry when the access token expired meanwhile.
export async function api(path, options = {}) {
  try {
    return await request(path, options);
  } catch (err) {
    if (err.code !== "token_expired" || options.auth === false) throw err;
    await refreshTokens(err.token);
    return request(path, options);
  }
}

export const get = (path, query) => api(path, { query });
export const post = (path, body) => api(path, { method: "POST", body });
export const patch = (path, body) => api(path, { method: "PATCH", body });
export const del = (path) => api(path, { method: "DELETE" });
// A change made from a known version of a row (Records): 409 version_conflict if it moved on.
export const patchFrom = (path, body, version) => api(path, { method: "PATCH", body, ifMatch: version });
export const delFrom = (path, version) => api(path, { method: "DELETE", ifMatch: version });

// Upload one file as multipart (docs/pipeline.md); its job reports progress on the socket.
export const upload = (projectId, file) => {
  const form = new FormData();
  form.append("file", file);
  return api(`/projects/${projectId}/uploads`, { method: "POST", form });
};

// A picture behind the bearer token, as a blob: URL an <img> can show.
export async function pictureUrl(path) {
  const blob = await api(path.replace(BASE, ""), { blob: true });
  return URL.createObjectURL(blob);
}
