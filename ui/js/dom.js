// Small DOM and formatting helpers. Text always goes in through
// textContent/attributes, never through HTML strings.

/** Creates an element: h('button', {type: 'button', onclick: f}, 'text'). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** 1234567 → "1.2 MiB". */
export function fmtBytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return i === 0 ? `${x} B` : `${x.toFixed(x >= 100 ? 0 : 1)} ${units[i]}`;
}

/** A number with at most `digits` decimals ("—" when not a number). */
export function fmtNum(n, digits = 2) {
  const v = Number(n);
  if (n === null || n === undefined || n === '' || !Number.isFinite(v)) return '—';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** Milliseconds since the epoch → "2024-03-15 09:30:00" in local time. */
export function fmtLocal(ms) {
  const d = new Date(ms);
  const p = (x, n = 2) => String(x).padStart(n, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Value of an <input type="datetime-local"> for `ms` (local time, seconds). */
export function toLocalInput(ms) {
  return fmtLocal(ms).replace(' ', 'T');
}

/** Milliseconds of a datetime-local value (NaN when empty or invalid). */
export function fromLocalInput(value) {
  if (!value) return NaN;
  return new Date(value).getTime();
}

/** Splits a pasted list of names on commas, spaces and new lines. */
export function splitNames(text) {
  return Array.from(new Set(String(text).split(/[\s,]+/).map((s) => s.trim()).filter(Boolean)));
}

/** The local time zone as "UTC+01:00". */
export function tzLabel() {
  const off = -new Date().getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** A short-lived message in the live region (kind: info | ok | error). */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : null }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4000);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next;
      next += 1;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

/** Goes to `#/<view>?<params>` (re-runs the route when already there). */
export function navigate(view, params) {
  const q = params ? new URLSearchParams(params).toString() : '';
  const hash = `#/${view}${q ? `?${q}` : ''}`;
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** Rewrites the current route's parameters without a history entry. */
export function replaceParams(view, params) {
  const q = new URLSearchParams(params).toString();
  const hash = `#/${view}${q ? `?${q}` : ''}`;
  history.replaceState(null, '', hash);
  rememberRoute(view, hash);
}

/** The navigation link of a view returns to its last parameters. */
export function rememberRoute(view, hash) {
  const link = document.querySelector(`nav.views a[data-view="${view}"]`);
  if (link) link.setAttribute('href', hash);
  try {
    sessionStorage.setItem(`strata.route.${view}`, hash);
  } catch {
    // Storage disabled: the link still works for this page.
  }
}

/** Restores the navigation links saved by rememberRoute (after a reload). */
export function restoreRoutes() {
  for (const link of document.querySelectorAll('nav.views a[data-view]')) {
    try {
      const hash = sessionStorage.getItem(`strata.route.${link.dataset.view}`);
      if (hash) link.setAttribute('href', hash);
    } catch {
      return;
    }
  }
}

/**
 * Asks for confirmation in the #confirm-dialog; resolves true only when
 * the user presses the confirming button (Cancel has the focus first).
 */
export function confirmDialog({ title, message, ok }) {
  const d = document.getElementById('confirm-dialog');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-message').textContent = message;
  document.getElementById('confirm-ok').textContent = ok;
  d.returnValue = 'cancel';
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

/** CSS class of a getPVStatus status text. */
export function statusClass(status) {
  switch (status) {
    case 'Being archived':
      return 'st-ok';
    case 'Paused':
      return 'st-paused';
    case 'Initial sampling':
    case 'Appliance assigned':
      return 'st-pending';
    case 'Not being archived':
      return 'st-none';
    default:
      return 'st-bad';
  }
}

/** Statuses that have a PVTypeInfo (stores, type info and details exist). */
export function hasTypeInfo(status) {
  return status === 'Being archived' || status === 'Paused' || status === 'Appliance assigned';
}

/**
 * Runs `render` (which replaces children of `container`) and gives the
 * focus back to the element with the same `data-focus-key`, so that
 * refreshes do not throw keyboard users back to the top.
 */
export function keepFocus(container, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : undefined;
  render();
  if (key) {
    const again = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}
