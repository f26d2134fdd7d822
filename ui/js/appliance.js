// The appliance view: health and rates (getApplianceMetrics), tier usage
// (getStorageMetrics), ETL figures where the API reports them, the
// name/value metrics (getApplianceMetricsForAppliance), versions and the
// reports. Reports the server's OpenAPI document does not list are not
// shown.

import { hasAction, mgmt } from './api.js';
import { $, fill, fmtBytes, fmtLocal, fmtNum, h, toast } from './dom.js';
import { openPv } from './pvdialog.js';

const AUTO_MS = 10000;

/** Reports, shown when /openapi.json lists their action. */
const REPORTS = [
  { id: 'paused', label: 'Paused', action: 'getPausedPVsReport' },
  { id: 'disconnected', label: 'Disconnected', action: 'getCurrentlyDisconnectedPVs', noLimit: true },
  { id: 'never', label: 'Never connected', action: 'getNeverConnectedPVs', noLimit: true },
  { id: 'events', label: 'Top event rates', action: 'getEventRateReport' },
  { id: 'storage', label: 'Top storage rates', action: 'getStorageRateReport' },
  { id: 'consumed', label: 'Storage consumed', action: 'getPVsByStorageConsumed' },
  { id: 'silent', label: 'Silent', action: 'getSilentPVsReport' },
  { id: 'lost', label: 'Lost connections', action: 'getLostConnectionsReport' },
  { id: 'added', label: 'Recently added', action: 'getRecentlyAddedPVs' },
  { id: 'modified', label: 'Recently modified', action: 'getRecentlyModifiedPVs' },
  { id: 'dropped-ts', label: 'Dropped events: timestamps', action: 'getPVsByDroppedEventsTimestamp' },
  { id: 'dropped-buf', label: 'Dropped events: buffer', action: 'getPVsByDroppedEventsBuffer' },
  { id: 'dropped-type', label: 'Dropped events: type change', action: 'getPVsByDroppedEventsTypeChange' },
];

const state = { visible: false, timer: null, report: 'paused', probed: false, available: new Set() };

function bind() {
  if (state.bound) return;
  state.bound = true;
  $('#app-refresh').addEventListener('click', () => {
    refresh();
    loadReport();
  });
  $('#app-auto').addEventListener('change', schedule);
  $('#report-limit').addEventListener('change', loadReport);
}

function card(label, value, cls) {
  return h('div', { class: `stat ${cls || ''}` }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value));
}

async function refresh() {
  clearTimeout(state.timer);
  const [metrics, storage, rows, versions] = await Promise.allSettled([
    mgmt('getApplianceMetrics'),
    mgmt('getStorageMetrics'),
    mgmt('getApplianceMetricsForAppliance'),
    mgmt('getVersions'),
  ]);
  const failed = [metrics, storage, rows, versions].filter((r) => r.status === 'rejected');
  failed.forEach((r) => toast(`Appliance: ${r.reason.message}`, 'error'));
  if (metrics.status === 'fulfilled') renderMetrics(metrics.value[0] || {});
  if (storage.status === 'fulfilled') renderTiers(storage.value);
  if (rows.status === 'fulfilled') renderRows(rows.value);
  renderEtl(metrics.value?.[0] || {}, rows.value || []);
  if (versions.status === 'fulfilled') {
    fill($('#versions'), Object.entries(versions.value).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }
  $('#app-updated').textContent = `Updated ${fmtLocal(Date.now())}`;
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  if (state.visible && $('#app-auto').checked) state.timer = setTimeout(refresh, AUTO_MS);
}

function renderMetrics(m) {
  $('#app-identity').textContent = m.instance || '';
  const working = m.status === 'Working';
  fill($('#app-cards'),
    card('Status', m.status ?? '—', working ? 'good' : 'bad'),
    card('PVs', fmtNum(m.pvCount, 0)),
    card('Paused', fmtNum(m.pausedPVCount, 0)),
    card('Connected', fmtNum(m.connectedPVCount, 0)),
    card('Disconnected', fmtNum(m.disconnectedPVCount, 0), Number(m.disconnectedPVCount) > 0 ? 'warn' : ''),
    card('Events/s', fmtNum(m.eventRate, 1)),
    card('Data rate', m.dataRate === undefined ? '—' : `${fmtBytes(Math.round(Number(m.dataRate)))}/s`),
    card('Per day', m.dataRateGBPerDay === undefined ? '—' : `${fmtNum(m.dataRateGBPerDay, 3)} GB`),
    card('Skipped write cycles', fmtNum(m.skippedWriteCycles, 0), Number(m.skippedWriteCycles) > 0 ? 'warn' : ''));
}

function renderTiers(list) {
  fill($('#tier-table tbody'), list.map((t) => {
    const free = Number(t.available_space_percent);
    return h('tr', {},
      h('th', { scope: 'row', 'data-label': 'Tier' }, t.name),
      h('td', { 'data-label': 'Partitions' }, (t.partitionGranularity || '').replace(/^PARTITION_/, '').toLowerCase() || '—'),
      h('td', { 'data-label': 'Files', class: 'num' }, fmtNum(t.totalFiles, 0)),
      h('td', { 'data-label': 'Bytes', class: 'num' }, fmtBytes(t.totalSizeBytes)),
      h('td', { 'data-label': 'Disk free' }, Number.isFinite(free)
        ? [h('meter', {
          min: 0, max: 100, low: 10, high: 25, optimum: 100, value: free, 'aria-label': `${t.name} disk free`,
        }), ` ${fmtNum(free, 1)} % of ${fmtBytes(t.total_space)}`]
        : '—'),
      h('td', { 'data-label': 'Folder', class: 'url' }, t.rootFolder || '—'));
  }));
}

function renderEtl(metrics, rows) {
  const items = Object.entries(metrics).filter(([k]) => /etl/i.test(k)).map(([k, v]) => [k, v]);
  rows.filter((r) => /etl/i.test(r.name)).forEach((r) => items.push([r.name, r.value]));
  $('#etl-card').hidden = items.length === 0;
  fill($('#etl-list'), items.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function renderRows(rows) {
  fill($('#metrics-table tbody'), rows.map((r) => h('tr', {},
    h('th', { scope: 'row' }, r.name), h('td', {}, r.value), h('td', { class: 'muted' }, r.source))));
}

/** Finds the reports this server offers (its OpenAPI document). */
async function probe() {
  if (state.probed) return;
  let offered;
  try {
    offered = await Promise.all(REPORTS.map((r) => hasAction(r.action)));
  } catch (e) {
    toast(`Reports: ${e.message}`, 'error');
    return;
  }
  state.probed = true;
  REPORTS.forEach((r, i) => {
    if (offered[i]) state.available.add(r.id);
  });
  if (!state.available.has(state.report)) state.report = REPORTS.find((r) => state.available.has(r.id))?.id;
  renderReportButtons();
}

function renderReportButtons() {
  fill($('#report-buttons'), REPORTS.filter((r) => state.available.has(r.id)).map((r) => h('button', {
    type: 'button',
    class: 'chip',
    'aria-pressed': String(r.id === state.report),
    dataset: { report: r.id },
    onclick: () => {
      state.report = r.id;
      renderReportButtons();
      loadReport();
    },
  }, r.label)));
}

function cell(key, value) {
  if (key === 'pvName') {
    return h('button', { type: 'button', class: 'link pvname', onclick: () => openPv(value) }, value);
  }
  const s = String(value);
  if (/^-?\d+\.\d{4,}$/.test(s)) return fmtNum(s, 3);
  return s;
}

async function loadReport() {
  const r = REPORTS.find((x) => x.id === state.report);
  const body = $('#report-body');
  if (!r) return;
  try {
    const rows = await mgmt(r.action, r.noLimit ? {} : { limit: $('#report-limit').value });
    if (!rows.length) {
      fill(body, h('p', { class: 'muted' }, `${r.label}: no PV.`));
      return;
    }
    const cols = [];
    rows.forEach((row) => Object.keys(row).forEach((k) => {
      if (!cols.includes(k)) cols.push(k);
    }));
    fill(body, h('table', { class: 'data stack', dataset: { report: r.id } },
      h('caption', { class: 'sr-only' }, r.label),
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((row) => h('tr', {},
        cols.map((c) => h('td', { 'data-label': c }, row[c] === undefined ? '' : cell(c, row[c]))))))));
  } catch (e) {
    fill(body, h('p', { class: 'error' }, `${r.label}: ${e.message}`));
  }
}

export async function show() {
  bind();
  state.visible = true;
  refresh();
  await probe();
  loadReport();
}

export function hide() {
  state.visible = false;
  clearTimeout(state.timer);
}
