// The public HTTP API as the console uses it: /mgmt/bpl/* and
// /retrieval/*, by paths relative to the page (/mgmt/ui/), so that the
// console also works behind a proxy that adds a prefix.
//
// API key: when the server answers 401 (`[security] api_key` set), the key
// is asked for once, kept in sessionStorage (this tab only, gone when it
// closes) and sent as `Authorization: Bearer <key>` from then on.

const KEY_NAME = 'strata.apiKey';
const MGMT = '../bpl/';
const DATA = '../../retrieval/data/';
const RETRIEVAL_BPL = '../../retrieval/bpl/';

/** An HTTP error with the server's message. */
export class ApiError extends Error {
  constructor(status, message, url) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.url = url;
  }
}

let keyPrompt = null;
let pendingPrompt = null;
const keyListeners = new Set();

/** `fn(rejected) → Promise<string|null>` asks the user for the key. */
export function setKeyPrompt(fn) {
  keyPrompt = fn;
}

/** Called with `true`/`false` whenever a key is stored or forgotten. */
export function onKeyChange(fn) {
  keyListeners.add(fn);
}

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_NAME);
  } catch {
    return null;
  }
}

export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_NAME, key);
    else sessionStorage.removeItem(KEY_NAME);
  } catch {
    // Storage disabled: the key lives until the next 401.
  }
  keyListeners.forEach((fn) => fn(Boolean(key)));
}

function askKey(rejected) {
  if (!keyPrompt) return Promise.resolve(null);
  if (!pendingPrompt) {
    pendingPrompt = keyPrompt(rejected).finally(() => {
      pendingPrompt = null;
    });
  }
  return pendingPrompt;
}

/** Query string; arrays repeat the key, null/undefined are left out. */
export function qs(params = {}) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
    else u.append(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

async function errorOf(resp, url) {
  let message = resp.statusText;
  try {
    const text = await resp.text();
    try {
      message = JSON.parse(text).message || text;
    } catch {
      message = text || message;
    }
  } catch {
    // Keep the status text.
  }
  return new ApiError(resp.status, message, url);
}

/** fetch with the API key; asks for it on 401 and retries. */
export async function request(url, init = {}, opts = {}) {
  const headers = new Headers(init.headers || {});
  const key = apiKey();
  if (key) headers.set('Authorization', `Bearer ${key}`);
  const resp = await fetch(url, { ...init, headers, signal: opts.signal });
  if (resp.status === 401) {
    const fresh = await askKey(Boolean(key));
    if (fresh) {
      setApiKey(fresh);
      return request(url, init, opts);
    }
    throw new ApiError(401, 'This action needs the API key.', url);
  }
  if (!resp.ok) throw await errorOf(resp, url);
  return resp;
}

/** GET /mgmt/bpl/<action> → JSON. */
export async function mgmt(action, params, opts) {
  const resp = await request(`${MGMT}${action}${qs(params)}`, {}, opts);
  return resp.json();
}

/** POST /mgmt/bpl/<action> with a JSON body → JSON. */
export async function mgmtPost(action, params, body) {
  const resp = await request(`${MGMT}${action}${qs(params)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return resp.json();
}

/** GET /retrieval/bpl/<action> → JSON. */
export async function retrievalBpl(action, params, opts) {
  const resp = await request(`${RETRIEVAL_BPL}${action}${qs(params)}`, {}, opts);
  return resp.json();
}

/** URL of /retrieval/data/getData.<ext> (relative to the page). */
export function dataUrl(ext, params) {
  return `${DATA}getData.${ext}${qs(params)}`;
}

/** GET of a retrieval data URL → text. */
export async function dataText(url, opts) {
  const resp = await request(url, {}, opts);
  return resp.text();
}

/**
 * Whether a GET endpoint exists: false on 404 (unknown action), the JSON
 * otherwise. Used for reports that only some servers offer.
 */
export async function optional(action, params) {
  try {
    return await mgmt(action, params);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return undefined;
    throw e;
  }
}
