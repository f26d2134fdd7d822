// The plot view: one or more PVs over a range, fetched through
// /retrieval/data/getData.csv with a post-processor sized to the chart's
// pixel width (`lttb_N`: N chosen points; `optimized_N`: N bins of
// mean/min/max, raw samples when fewer). Drag to zoom, buttons or arrow
// keys to pan; ranges that end now refresh themselves ("live"). Export
// writes exactly the samples shown, one row per PV and sample.
//
// getData.csv keeps the server's value text and exact timestamps, and has
// no NaN problem (JSON may write bare NaN, see [retrieval] json_nonfinite).

import uPlot from '../vendor/uPlot.esm.js';
import { dataText, dataUrl, retrievalBpl } from './api.js';
import { exportCsv, numbersOf, parseDataCsv, xOf } from './csv.js';
import {
  $, fill, fmtLocal, fromLocalInput, h, keepFocus, replaceParams, splitNames, toLocalInput, toast, tzLabel,
} from './dom.js';

const COLORS = ['#1f6fd1', '#d1495b', '#2a9d55', '#9b5de5', '#e07a00', '#00838f', '#6d4c41', '#c2185b'];
const RAW_MAX_SPAN_S = 3600;
const MIN_POINTS = 16;
const NOT_NUMERIC = /STRING|V4_GENERIC/;

const state = {
  pvs: [],
  range: { kind: 'preset', span: 3600 },
  reduce: 'lttb',
  live: true,
  zoomStack: [],
  series: [],
  shown: null,
  seq: 0,
  abort: null,
  timer: null,
  visible: false,
  chart: null,
  layout: '',
  fetchedWidth: 0,
  resizeTimer: null,
  hidden: new Set(),
  reported: new Set(),
};
const metaCache = new Map();
const els = {};

function bind() {
  if (els.form) return;
  els.form = $('#plot-form');
  els.pvs = $('#plot-pvs');
  els.range = $('#plot-range');
  els.from = $('#plot-from');
  els.to = $('#plot-to');
  els.reduce = $('#plot-reduce');
  els.live = $('#plot-live');
  els.chart = $('#chart');
  els.status = $('#plot-status');
  els.legend = $('#plot-legend');
  els.sources = $('#plot-sources');
  document.querySelectorAll('#view-plot .tz').forEach((e) => {
    e.textContent = `(${tzLabel()})`;
  });
  els.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    applyForm();
  });
  els.range.addEventListener('change', () => {
    els.live.disabled = els.range.value === 'custom';
  });
  for (const input of [els.from, els.to]) {
    input.addEventListener('input', () => {
      els.range.value = 'custom';
      els.live.disabled = true;
    });
  }
  $('#zoom-in').addEventListener('click', () => zoomBy(0.5));
  $('#zoom-out').addEventListener('click', () => zoomBy(2));
  $('#pan-left').addEventListener('click', () => panBy(-0.5));
  $('#pan-right').addEventListener('click', () => panBy(0.5));
  $('#zoom-back').addEventListener('click', undoZoom);
  $('#export-csv').addEventListener('click', exportShown);
  els.chart.addEventListener('keydown', onKey);
  new ResizeObserver(onResize).observe(els.chart);
  document.addEventListener('visibilitychange', scheduleLive);
}

function chartSize() {
  const width = Math.max(240, Math.floor(els.chart.clientWidth));
  const height = window.innerWidth < 600 ? 260 : 380;
  return { width, height };
}

function onResize() {
  const { width, height } = chartSize();
  if (state.chart) state.chart.setSize({ width, height });
  clearTimeout(state.resizeTimer);
  if (state.fetchedWidth && Math.abs(width - state.fetchedWidth) / state.fetchedWidth > 0.25) {
    state.resizeTimer = setTimeout(load, 400);
  }
}

function onKey(ev) {
  const keys = {
    ArrowLeft: () => panBy(-0.25),
    ArrowRight: () => panBy(0.25),
    '+': () => zoomBy(0.5),
    '=': () => zoomBy(0.5),
    '-': () => zoomBy(2),
    Backspace: undoZoom,
  };
  const f = keys[ev.key];
  if (f) {
    ev.preventDefault();
    f();
  }
}

/** The window [from, to] in ms for the current range. */
function windowOf(range) {
  if (range.kind === 'preset') {
    const to = Date.now();
    return { from: to - range.span * 1000, to };
  }
  return { from: range.from, to: range.to };
}

function isLive() {
  return state.range.kind === 'preset' && state.live;
}

function applyForm() {
  state.pvs = splitNames(els.pvs.value);
  state.reduce = els.reduce.value;
  state.live = els.live.checked;
  if (els.range.value === 'custom') {
    const from = fromLocalInput(els.from.value);
    const to = fromLocalInput(els.to.value);
    if (!(from < to)) {
      toast('Choose a start before the end.', 'error');
      els.from.focus();
      return;
    }
    state.range = { kind: 'abs', from, to };
  } else {
    state.range = { kind: 'preset', span: Number(els.range.value) };
  }
  state.zoomStack = [];
  state.reported.clear();
  $('#zoom-back').disabled = true;
  writeParams();
  load();
}

function writeForm() {
  els.pvs.value = state.pvs.join(' ');
  els.reduce.value = state.reduce;
  els.live.checked = state.live;
  if (state.range.kind === 'preset') {
    const opt = [...els.range.options].find((o) => o.value === String(state.range.span));
    if (opt) els.range.value = opt.value;
  } else {
    els.range.value = 'custom';
  }
  els.live.disabled = state.range.kind !== 'preset';
  const w = windowOf(state.range);
  els.from.value = toLocalInput(w.from);
  els.to.value = toLocalInput(w.to);
}

function writeParams() {
  const p = state.pvs.map((pv) => ['pv', pv]);
  if (state.range.kind === 'preset') p.push(['range', String(state.range.span)]);
  else p.push(['from', new Date(state.range.from).toISOString()], ['to', new Date(state.range.to).toISOString()]);
  p.push(['reduce', state.reduce]);
  if (!state.live) p.push(['live', 'off']);
  replaceParams('plot', p);
}

function setRange(range, remember = true) {
  if (remember) state.zoomStack.push(state.range);
  state.range = range;
  $('#zoom-back').disabled = state.zoomStack.length === 0;
  writeForm();
  writeParams();
  load();
}

function zoomBy(factor) {
  const w = state.shown || windowOf(state.range);
  const mid = (w.from + w.to) / 2;
  const half = Math.max(500, ((w.to - w.from) * factor) / 2);
  setRange({ kind: 'abs', from: Math.round(mid - half), to: Math.round(mid + half) });
}

function panBy(fraction) {
  const w = state.shown || windowOf(state.range);
  const d = Math.round((w.to - w.from) * fraction);
  setRange({ kind: 'abs', from: w.from + d, to: w.to + d });
}

function undoZoom() {
  const prev = state.zoomStack.pop();
  if (prev) setRange(prev, false);
}

async function metaOf(pv, signal) {
  if (!metaCache.has(pv)) {
    const m = await retrievalBpl('getMetadata', { pv }, { signal });
    metaCache.set(pv, m);
  }
  return metaCache.get(pv);
}

function ppFor(n) {
  if (state.reduce === 'lttb') return `lttb_${Math.max(3, n)}`;
  if (state.reduce === 'optimized') return `optimized_${n}`;
  return null;
}

async function loadOne(pv, from, to, n, signal) {
  let meta;
  try {
    meta = await metaOf(pv, signal);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return { pv, error: e.message };
  }
  if (NOT_NUMERIC.test(meta.DBRType || '')) return { pv, meta, error: `${meta.DBRType}: not a number, not plotted` };
  const pp = ppFor(n);
  const url = dataUrl('csv', {
    pv, from: new Date(from).toISOString(), to: new Date(to).toISOString(), pp,
  });
  try {
    const samples = parseDataCsv(await dataText(url, { signal }));
    return { pv, meta, pp, url, samples };
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return { pv, meta, pp, url, error: e.message };
  }
}

async function load() {
  clearTimeout(state.timer);
  if (!state.pvs.length) {
    els.status.textContent = 'Choose PVs and a range.';
    return;
  }
  const w = windowOf(state.range);
  if (state.reduce === 'raw' && w.to - w.from > RAW_MAX_SPAN_S * 1000) {
    els.status.textContent = 'Raw samples are limited to one hour: zoom in or choose lttb or optimized.';
    return;
  }
  state.abort?.abort();
  const abort = new AbortController();
  state.abort = abort;
  const seq = ++state.seq;
  const { width } = chartSize();
  const n = Math.max(MIN_POINTS, Math.round(width));
  els.status.textContent = 'Loading…';
  if (state.range.kind === 'preset') {
    els.from.value = toLocalInput(w.from);
    els.to.value = toLocalInput(w.to);
  }
  let series;
  try {
    series = await Promise.all(state.pvs.map((pv) => loadOne(pv, w.from, w.to, n, abort.signal)));
  } catch (e) {
    if (e.name !== 'AbortError') toast(e.message, 'error');
    return;
  }
  if (seq !== state.seq) return;
  state.series = series;
  state.shown = w;
  state.fetchedWidth = width;
  draw();
  renderSources();
  scheduleLive();
}

function scheduleLive() {
  clearTimeout(state.timer);
  if (!state.visible || !isLive() || document.visibilityState !== 'visible' || !state.pvs.length) return;
  const span = state.range.span;
  const every = Math.min(60, Math.max(2, span / 300)) * 1000;
  state.timer = setTimeout(load, every);
}

/** One plotted series per PV (mean/min/max for optimized bins). */
function columnsOf(s) {
  const xs = [];
  const ys = [];
  const lo = [];
  const hi = [];
  const vector = state.reduce === 'optimized' && s.pp && Number(s.meta?.elementCount ?? 1) <= 1;
  for (const smp of s.samples) {
    const v = numbersOf(smp.text);
    const clean = (x) => (Number.isFinite(x) ? x : null);
    xs.push(xOf(smp));
    if (vector && v.length === 5 && smp.text.startsWith('[')) {
      ys.push(clean(v[0]));
      lo.push(clean(v[2]));
      hi.push(clean(v[3]));
    } else {
      const y = clean(v[0]);
      ys.push(y);
      lo.push(y);
      hi.push(y);
    }
  }
  return state.reduce === 'optimized' ? [xs, ys, lo, hi] : [xs, ys];
}

function draw() {
  const plotted = state.series.filter((s) => s.samples && s.samples.length);
  const has = plotted.length > 0;
  $('#export-csv').disabled = !state.series.some((s) => s.samples);
  const points = plotted.reduce((a, s) => a + s.samples.length, 0);
  const w = state.shown;
  els.status.textContent = has
    ? `${plotted.length} of ${state.series.length} PVs, ${points} points, ${fmtLocal(w.from)} to ${fmtLocal(w.to)} (${tzLabel()})${isLive() ? ', live' : ''}`
    : `No data from ${fmtLocal(w.from)} to ${fmtLocal(w.to)}.`;
  els.chart.dataset.points = String(points);
  if (!has) {
    state.chart?.destroy();
    state.chart = null;
    state.layout = '';
    fill(els.legend);
    return;
  }
  const tables = plotted.map(columnsOf);
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  const layout = `${state.reduce}|${plotted.map((s) => `${s.pv}:${s.meta?.EGU ?? ''}`).join('|')}`;
  if (state.chart && layout === state.layout) {
    state.chart.setData(data);
  } else {
    state.chart?.destroy();
    state.chart = new uPlot(options(plotted), data, els.chart);
    state.layout = layout;
    renderLegend(plotted);
  }
  applyHidden(plotted);
  updateLegendValues(null);
}

function unitsOf(plotted) {
  const units = [];
  for (const s of plotted) {
    const u = s.meta?.EGU || '';
    if (!units.includes(u)) units.push(u);
  }
  return units;
}

function options(plotted) {
  const { width, height } = chartSize();
  const units = unitsOf(plotted);
  const series = [{}];
  const bands = [];
  plotted.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const unit = s.meta?.EGU || '';
    const enumType = /ENUM/.test(s.meta?.DBRType || '');
    const main = series.length;
    series.push({
      label: s.pv,
      scale: `y${units.indexOf(unit)}`,
      stroke: color,
      width: 1.5,
      spanGaps: false,
      paths: enumType ? uPlot.paths.stepped({ align: 1 }) : undefined,
    });
    if (state.reduce === 'optimized') {
      series.push({ label: `${s.pv} min`, scale: `y${units.indexOf(unit)}`, stroke: `${color}55`, width: 0.5, points: { show: false } });
      series.push({ label: `${s.pv} max`, scale: `y${units.indexOf(unit)}`, stroke: `${color}55`, width: 0.5, points: { show: false } });
      bands.push({ series: [main + 2, main + 1], fill: `${color}22` });
    }
  });
  const axes = [{ stroke: '#444', grid: { stroke: '#0001' }, ticks: { stroke: '#0002' } }];
  units.slice(0, 2).forEach((u, i) => {
    axes.push({
      scale: `y${i}`,
      side: i === 0 ? 3 : 1,
      label: u || undefined,
      stroke: '#444',
      grid: { show: i === 0, stroke: '#0001' },
      ticks: { stroke: '#0002' },
      size: 60,
    });
  });
  const scales = {
    x: { time: true, range: () => [state.shown.from / 1000, state.shown.to / 1000] },
  };
  units.forEach((_, i) => {
    scales[`y${i}`] = { auto: true };
  });
  return {
    width,
    height,
    series,
    bands,
    axes,
    scales,
    legend: { show: false },
    cursor: { drag: { x: true, y: false, setScale: false } },
    hooks: {
      setSelect: [(u) => {
        if (u.select.width > 4) {
          const a = u.posToVal(u.select.left, 'x');
          const b = u.posToVal(u.select.left + u.select.width, 'x');
          setRange({ kind: 'abs', from: Math.round(a * 1000), to: Math.round(b * 1000) });
        }
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      }],
      setCursor: [(u) => updateLegendValues(u.cursor.idx)],
    },
  };
}

/** Index in the chart's series of each plotted PV's main line. */
function mainIndexes(plotted) {
  const step = state.reduce === 'optimized' ? 3 : 1;
  return plotted.map((_, i) => 1 + i * step);
}

function renderLegend(plotted) {
  const idx = mainIndexes(plotted);
  fill(els.legend, plotted.map((s, i) => {
    const shown = !state.hidden.has(s.pv);
    return h('li', {},
      h('button', {
        type: 'button',
        class: 'legend-item',
        'aria-pressed': String(shown),
        title: shown ? 'Hide this series' : 'Show this series',
        dataset: { pv: s.pv, index: String(idx[i]) },
        onclick: (ev) => {
          const on = ev.currentTarget.getAttribute('aria-pressed') !== 'true';
          if (on) state.hidden.delete(s.pv);
          else state.hidden.add(s.pv);
          ev.currentTarget.setAttribute('aria-pressed', String(on));
          applyHidden(plotted);
        },
      },
      h('span', { class: 'swatch', dataset: { color: String(i % COLORS.length) } }),
      h('span', { class: 'pvname' }, s.pv),
      s.meta?.EGU ? h('span', { class: 'muted' }, `(${s.meta.EGU})`) : null,
      h('span', { class: 'value' }, '')));
  }));
}

function applyHidden(plotted) {
  const idx = mainIndexes(plotted);
  plotted.forEach((s, i) => {
    const show = !state.hidden.has(s.pv);
    const base = idx[i];
    const count = state.reduce === 'optimized' ? 3 : 1;
    for (let k = 0; k < count; k++) {
      if (state.chart.series[base + k].show !== show) state.chart.setSeries(base + k, { show });
    }
  });
}

function updateLegendValues(cursorIdx) {
  const u = state.chart;
  if (!u) return;
  const plotted = state.series.filter((s) => s.samples && s.samples.length);
  const idx = mainIndexes(plotted);
  els.legend.querySelectorAll('.legend-item').forEach((btn, i) => {
    const col = u.data[idx[i]];
    let v = null;
    if (cursorIdx !== null && cursorIdx !== undefined) {
      v = col[cursorIdx];
    } else if (col) {
      for (let k = col.length - 1; k >= 0; k--) {
        if (col[k] !== null && col[k] !== undefined) {
          v = col[k];
          break;
        }
      }
    }
    const prec = Number(plotted[i]?.meta?.PREC);
    const text = v === null || v === undefined ? '' : (Number.isInteger(prec) && prec >= 0 && prec <= 12 ? v.toFixed(prec) : String(v));
    btn.querySelector('.value').textContent = text;
  });
}

function renderSources() {
  keepFocus(els.sources, () => fill(els.sources, state.series.map((s) => h('li', {},
    h('span', { class: 'pvname' }, s.pv), ': ',
    s.error
      ? h('span', { class: 'error' }, s.error)
      : [`${s.samples.length} samples${s.pp ? ` (${s.pp})` : ' (raw)'} `,
        h('a', {
          href: s.url, dataset: { sourcePv: s.pv, focusKey: `src:${s.pv}` }, target: '_blank', rel: 'noopener',
        }, 'getData.csv')]))));
  // Each error once, not at every live refresh.
  for (const s of state.series.filter((x) => x.error)) {
    const key = `${s.pv}\n${s.error}`;
    if (!state.reported.has(key)) toast(`${s.pv}: ${s.error}`, 'error');
    state.reported.add(key);
  }
}

function exportShown() {
  const series = state.series.filter((s) => s.samples && !state.hidden.has(s.pv));
  if (!series.length) return;
  const text = exportCsv(series);
  const blob = new Blob([text], { type: 'text/csv' });
  const url = URL.createObjectURL(blob);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const a = h('a', { href: url, download: `strata-plot-${stamp}.csv`, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  toast(`Exported ${series.reduce((n, s) => n + s.samples.length, 0)} samples.`, 'ok');
}

export function show(params) {
  bind();
  state.visible = true;
  const pvs = params.getAll('pv').flatMap(splitNames);
  if (pvs.length) {
    state.pvs = pvs;
    const from = Date.parse(params.get('from') || '');
    const to = Date.parse(params.get('to') || '');
    if (from < to) state.range = { kind: 'abs', from, to };
    else if (params.get('range')) state.range = { kind: 'preset', span: Number(params.get('range')) || 3600 };
    if (['lttb', 'optimized', 'raw'].includes(params.get('reduce'))) state.reduce = params.get('reduce');
    state.live = params.get('live') !== 'off';
    state.zoomStack = [];
    $('#zoom-back').disabled = true;
  }
  writeForm();
  load();
}

export function hide() {
  state.visible = false;
  clearTimeout(state.timer);
  state.abort?.abort();
}
