// The PVs view: search (glob or regex), the status table, pause/resume of
// one or many PVs, and archiving one PV or a pasted list.
//
// API: getAllPVs (search), getPVStatus (POST, the whole result), and per
// row of the shown page getStoresForPV?counts=true and getPVDetails (the
// engine's event rate); pauseArchivingPV / resumeArchivingPV / archivePV
// (POST JSON lists); getPolicyList.

import { ApiError, mgmt, mgmtPost } from './api.js';
import {
  $, fill, fmtBytes, fmtNum, h, hasTypeInfo, keepFocus, navigate, pool, replaceParams, splitNames,
  statusClass, toast,
} from './dom.js';
import { openPv } from './pvdialog.js';

const PAGE = 50;
const STATUS_CHUNK = 1000;
const POLL_MS = 2000;

const state = {
  names: [],
  statuses: new Map(),
  extras: new Map(),
  selected: new Set(),
  page: 0,
  query: null,
  seq: 0,
  pollTimer: null,
  visible: false,
  policiesLoaded: false,
};

const els = {};

function bind() {
  if (els.form) return;
  els.form = $('#search-form');
  els.pattern = $('#search-pattern');
  els.limit = $('#search-limit');
  els.tbody = $('#pv-table tbody');
  els.count = $('#result-count');
  els.selectAll = $('#select-all');
  els.pager = $('#view-pvs .pager');
  els.pageInfo = $('#page-info');
  els.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    search(readForm());
  });
  $('#pv-refresh').addEventListener('click', () => refreshStatuses(state.names));
  $('#page-prev').addEventListener('click', () => setPage(state.page - 1));
  $('#page-next').addEventListener('click', () => setPage(state.page + 1));
  els.selectAll.addEventListener('change', () => {
    for (const n of pageNames()) {
      if (els.selectAll.checked) state.selected.add(n);
      else state.selected.delete(n);
    }
    renderRows();
  });
  $('#bulk-pause').addEventListener('click', () => act('pauseArchivingPV', [...state.selected]));
  $('#bulk-resume').addEventListener('click', () => act('resumeArchivingPV', [...state.selected]));
  $('#bulk-plot').addEventListener('click', () => plot([...state.selected]));
  $('#archive-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    archive();
  });
  $('#archive-policy').addEventListener('change', showPolicyDesc);
}

function readForm() {
  const mode = document.querySelector('input[name="search-mode"]:checked').value;
  return { q: els.pattern.value.trim() || (mode === 'regex' ? '.*' : '*'), mode, limit: els.limit.value };
}

function writeForm(query) {
  els.pattern.value = query.q;
  const radio = document.querySelector(`input[name="search-mode"][value="${query.mode}"]`);
  if (radio) radio.checked = true;
  if ([...els.limit.options].some((o) => o.value === query.limit)) els.limit.value = query.limit;
}

/** Names matching the query: globs through getAllPVs, exact names as given. */
async function matchNames(query) {
  if (query.mode === 'regex') return mgmt('getAllPVs', { regex: query.q, limit: query.limit });
  const terms = splitNames(query.q);
  const globs = terms.filter((t) => /[*?]/.test(t));
  const names = terms.filter((t) => !/[*?]/.test(t));
  if (globs.length) names.push(...(await mgmt('getAllPVs', { pv: globs.join(','), limit: query.limit })));
  return Array.from(new Set(names));
}

async function search(query) {
  state.query = query;
  replaceParams('pvs', { q: query.q, mode: query.mode, limit: query.limit });
  const seq = ++state.seq;
  els.count.textContent = 'Searching…';
  try {
    const names = await matchNames(query);
    if (seq !== state.seq) return;
    state.names = names;
    state.page = 0;
    state.selected.clear();
    state.statuses.clear();
    state.extras.clear();
    await loadStatuses(names, seq);
  } catch (e) {
    if (seq !== state.seq) return;
    els.count.textContent = '';
    toast(`Search failed: ${e.message}`, 'error');
  }
}

async function loadStatuses(names, seq) {
  for (let i = 0; i < names.length; i += STATUS_CHUNK) {
    const chunk = names.slice(i, i + STATUS_CHUNK);
    const rows = await mgmtPost('getPVStatus', {}, chunk);
    if (seq !== state.seq) return;
    rows.forEach((r, j) => state.statuses.set(chunk[j] ?? r.pvName, r));
  }
  render();
}

/** Re-reads the statuses of `names` (and the extras of the shown page). */
async function refreshStatuses(names) {
  if (!names.length) return;
  const seq = state.seq;
  try {
    for (const n of names) state.extras.delete(n);
    await loadStatuses(names, seq);
  } catch (e) {
    toast(`Status failed: ${e.message}`, 'error');
  }
}

function pageNames() {
  return state.names.slice(state.page * PAGE, (state.page + 1) * PAGE);
}

function setPage(p) {
  const pages = Math.max(1, Math.ceil(state.names.length / PAGE));
  state.page = Math.min(Math.max(0, p), pages - 1);
  render();
}

function render() {
  const n = state.names.length;
  const limit = Number(state.query?.limit ?? -1);
  const capped = limit > 0 && n >= limit ? ` (the first ${limit}; refine the pattern or raise the limit)` : '';
  els.count.textContent = n === 1 ? `1 PV${capped}` : `${n} PVs${capped}`;
  const pages = Math.ceil(n / PAGE);
  els.pager.hidden = pages <= 1;
  els.pageInfo.textContent = `Page ${state.page + 1} of ${Math.max(1, pages)}`;
  $('#page-prev').disabled = state.page === 0;
  $('#page-next').disabled = state.page >= pages - 1;
  renderRows();
  loadExtras();
  schedulePoll();
}

function renderRows() {
  const names = pageNames();
  keepFocus(els.tbody, () => {
    if (!names.length) fill(els.tbody, h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No PV matches.')));
    else fill(els.tbody, names.map(row));
  });
  els.selectAll.checked = names.length > 0 && names.every((x) => state.selected.has(x));
  const none = state.selected.size === 0;
  $('#bulk-pause').disabled = none;
  $('#bulk-resume').disabled = none;
  $('#bulk-plot').disabled = none;
}

function row(name) {
  const st = state.statuses.get(name) || { status: '…' };
  const tr = h('tr', { dataset: { pv: name } },
    h('td', { class: 'sel', 'data-label': 'Select' }, h('input', {
      type: 'checkbox',
      'aria-label': `Select ${name}`,
      checked: state.selected.has(name),
      dataset: { focusKey: `select:${name}` },
      onchange: (ev) => {
        if (ev.target.checked) state.selected.add(name);
        else state.selected.delete(name);
        renderRows();
      },
    })),
    h('th', { scope: 'row', 'data-label': 'PV' }, h('button', {
      type: 'button', class: 'link pvname', dataset: { focusKey: `name:${name}` }, onclick: () => details(name),
    }, name)),
    h('td', { 'data-label': 'Status' }, h('span', { class: `badge ${statusClass(st.status)}` }, st.status)),
    h('td', { 'data-label': 'Connected' }, connection(st)),
    h('td', { 'data-label': 'Last event' }, st.lastEvent || '—'),
    h('td', { 'data-label': 'Events/s', class: 'num rate' }, ''),
    h('td', { 'data-label': 'Stores', class: 'stores' }, ''),
    h('td', { 'data-label': 'Actions', class: 'actions' }, actions(name, st)));
  fillExtras(tr, name);
  return tr;
}

function connection(st) {
  if (st.connectionState === 'true') return h('span', { class: 'conn yes' }, 'yes');
  if (st.connectionState === 'false') return h('span', { class: 'conn no' }, 'no');
  return '—';
}

function actions(name, st) {
  const button = (label, title, onclick) => h('button', {
    type: 'button', onclick, 'aria-label': `${title} ${name}`, dataset: { focusKey: `${label}:${name}` },
  }, label);
  const out = [];
  if (hasTypeInfo(st.status)) out.push(button('Plot', 'Plot', () => plot([name])));
  if (st.status === 'Being archived') {
    out.push(button('Pause', 'Pause', () => act('pauseArchivingPV', [name])));
  } else if (st.status === 'Paused') {
    out.push(button('Resume', 'Resume', () => act('resumeArchivingPV', [name])));
  } else if (st.status === 'Not being archived') {
    out.push(button('Archive', 'Archive', () => archiveNames([name], '')));
  }
  out.push(button('Details', 'Details of', () => details(name)));
  return out;
}

function fillExtras(tr, name) {
  const st = state.statuses.get(name);
  const ex = state.extras.get(name);
  const rate = tr.querySelector('.rate');
  const stores = tr.querySelector('.stores');
  if (!st || !hasTypeInfo(st.status)) {
    rate.textContent = '—';
    stores.textContent = '—';
    return;
  }
  if (!ex) {
    rate.textContent = '…';
    stores.textContent = '…';
    return;
  }
  rate.textContent = ex.rate === undefined ? '—' : fmtNum(ex.rate, 2);
  fill(stores, ex.stores.length
    ? h('ul', { class: 'storelist' }, ex.stores.map((s) => h('li', {},
      h('strong', {}, s.name), ` ${s.files} ${s.files === '1' ? 'file' : 'files'}, ${fmtBytes(s.bytes)}`)))
    : '—');
}

/** Stores (files, bytes) and event rate of the PVs on the shown page. */
async function loadExtras() {
  const seq = state.seq;
  const todo = pageNames().filter((n) => !state.extras.has(n) && hasTypeInfo(state.statuses.get(n)?.status));
  await pool(todo, 4, async (name) => {
    try {
      const st = state.statuses.get(name);
      const [stores, det] = await Promise.all([
        mgmt('getStoresForPV', { pv: name, counts: true }),
        st.status === 'Being archived' ? mgmt('getPVDetails', { pv: name }) : Promise.resolve([]),
      ]);
      if (seq !== state.seq) return;
      const rateRow = det.find((r) => r.source === 'engine' && /^Event rate/.test(r.name));
      state.extras.set(name, {
        rate: rateRow ? rateRow.value : undefined,
        stores: Object.entries(stores).map(([k, v]) => ({
          name: k,
          files: typeof v === 'object' ? v.files ?? '?' : '?',
          bytes: typeof v === 'object' ? v.bytes : undefined,
        })),
      });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) toast(`${name}: ${e.message}`, 'error');
      state.extras.set(name, { rate: undefined, stores: [] });
    }
    const tr = els.tbody.querySelector(`tr[data-pv="${CSS.escape(name)}"]`);
    if (tr) fillExtras(tr, name);
  });
}

/** Polls while a shown PV is between states (archive workflow). */
function schedulePoll() {
  clearTimeout(state.pollTimer);
  if (!state.visible) return;
  const pending = pageNames().filter((n) => {
    const s = state.statuses.get(n)?.status;
    return s === 'Initial sampling' || s === 'Appliance assigned';
  });
  if (pending.length) state.pollTimer = setTimeout(() => refreshStatuses(pending), POLL_MS);
}

function summarize(action, rows) {
  const list = Array.isArray(rows) ? rows : [rows];
  const bad = list.filter((r) => r.validation);
  bad.forEach((r) => toast(r.validation, 'error'));
  const ok = list.length - bad.length;
  const verb = { pauseArchivingPV: 'Paused', resumeArchivingPV: 'Resumed' }[action] || 'Done';
  if (ok) toast(`${verb}: ${ok} ${ok === 1 ? 'PV' : 'PVs'}`, 'ok');
}

async function act(action, names) {
  if (!names.length) return;
  try {
    summarize(action, await mgmtPost(action, {}, names));
  } catch (e) {
    toast(`${action}: ${e.message}`, 'error');
  }
  await refreshStatuses(names);
}

function plot(names) {
  const pvs = names.filter((n) => hasTypeInfo(state.statuses.get(n)?.status) || !state.statuses.has(n));
  if (!pvs.length) {
    toast('None of these PVs is archived.', 'error');
    return;
  }
  navigate('plot', pvs.map((pv) => ['pv', pv]));
}

function details(name) {
  openPv(name, {
    onChange: () => {
      if (state.query) search(state.query);
    },
  });
}

async function archive() {
  const names = splitNames($('#archive-names').value);
  if (!names.length) {
    toast('Enter at least one PV name.', 'error');
    $('#archive-names').focus();
    return;
  }
  await archiveNames(names, $('#archive-policy').value);
}

async function archiveNames(names, policy) {
  const out = $('#archive-result');
  try {
    const rows = await mgmtPost('archivePV', { policy: policy || null }, names);
    fill(out, rows.map((r) => h('li', {},
      h('span', { class: 'pvname' }, r.pvName), ': ', r.status || r.validation || JSON.stringify(r))));
    toast(`Archive requests: ${rows.length}`, 'ok');
    // Show the requested names with their statuses (polled until archived).
    const query = { q: names.join(' '), mode: 'glob', limit: state.query?.limit ?? '500' };
    writeForm(query);
    await search(query);
  } catch (e) {
    fill(out, h('li', { class: 'error' }, e.message));
    toast(`Archive failed: ${e.message}`, 'error');
  }
}

async function loadPolicies() {
  if (state.policiesLoaded) return;
  try {
    const list = await mgmt('getPolicyList');
    const sel = $('#archive-policy');
    for (const [name, desc] of Object.entries(list)) {
      sel.append(h('option', { value: name, dataset: { desc } }, name));
    }
    state.policiesLoaded = true;
    showPolicyDesc();
  } catch (e) {
    toast(`Policies: ${e.message}`, 'error');
  }
}

function showPolicyDesc() {
  const opt = $('#archive-policy').selectedOptions[0];
  $('#policy-desc').textContent = opt?.dataset.desc
    || 'The appliance picks the policy from its rules (name patterns, measured event rate).';
}

export function show(params) {
  bind();
  state.visible = true;
  loadPolicies();
  const mode = params.get('mode') ?? state.query?.mode ?? 'glob';
  const query = {
    q: params.get('q') ?? state.query?.q ?? '*',
    mode: mode === 'regex' ? 'regex' : 'glob',
    limit: params.get('limit') ?? state.query?.limit ?? '500',
  };
  const same = state.query && state.query.q === query.q && state.query.mode === query.mode
    && state.query.limit === query.limit;
  writeForm(query);
  if (!same) search(query);
  else refreshStatuses(state.names);
}

export function hide() {
  state.visible = false;
  clearTimeout(state.pollTimer);
}
