// The public HTTP API as the console uses it: /mgmt/bpl/* and
// /retrieval/*, by paths relative to the page (/mgmt/ui/), so that the
// console also works behind a proxy that adds a prefix.
//
// What the server offers comes from its OpenAPI document (/openapi.json):
// which actions exist, and which need the API key (operations with
// `security`, listed when `[security] api_key` is set).
//
// API key: asked for once before the first call that needs it (or when the
// server answers 401 to a wrong key), kept in sessionStorage (this tab
// only, gone when it closes) and sent as `Authorization: Bearer <key>`.

const KEY_NAME = 'strata.apiKey';
const MGMT = '../bpl/';
const DATA = '../../retrieval/data/';
const RETRIEVAL_BPL = '../../retrieval/bpl/';
const OPENAPI = '../../openapi.json';
const MGMT_PATH = '/mgmt/bpl/';

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

let specPromise = null;

/** The server's OpenAPI document (fetched once per page). */
export function spec() {
  if (!specPromise) {
    specPromise = fetch(OPENAPI).then((resp) => {
      if (!resp.ok) throw new ApiError(resp.status, 'no API description (/openapi.json)', OPENAPI);
      return resp.json();
    });
    specPromise.catch(() => {
      specPromise = null;
    });
  }
  return specPromise;
}

/** Whether the server offers the management action `action`. */
export async function hasAction(action) {
  return Boolean((await spec()).paths[`${MGMT_PATH}${action}`]);
}

/** Whether `method` on the management action `action` needs the API key. */
async function needsKey(action, method) {
  let doc;
  try {
    doc = await spec();
  } catch {
    return false; // Without the document, a 401 still asks for the key.
  }
  const op = doc.paths[`${MGMT_PATH}${action}`]?.[method];
  return Boolean(op?.security?.length);
}

/** Asks for the key before a call that needs it, when none is kept. */
async function ensureKey(action, method, url) {
  if (apiKey() || !(await needsKey(action, method))) return;
  const fresh = await askKey(false);
  if (!fresh) throw new ApiError(401, 'This action needs the API key.', url);
  setApiKey(fresh);
}

/** fetch with the API key; asks for it again on 401 and retries. */
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
  const url = `${MGMT}${action}${qs(params)}`;
  await ensureKey(action, 'get', url);
  const resp = await request(url, {}, opts);
  return resp.json();
}

/** POST /mgmt/bpl/<action> with a JSON body → JSON. */
export async function mgmtPost(action, params, body) {
  const url = `${MGMT}${action}${qs(params)}`;
  await ensureKey(action, 'post', url);
  const resp = await request(url, {
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
