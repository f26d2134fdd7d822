// The PV dialog: status, stores, aliases, rename, delete (paused PVs only,
// after confirmation), type info and the appliance's details of one PV.
//
// API: getPVStatus, getPVTypeInfo, getPVDetails, getStoresForPV?counts=true,
// getAllAliases, pause/resume/archivePV, renamePV, deletePV, addAlias,
// removeAlias.

import { mgmt, mgmtPost } from './api.js';
import {
  $, confirmDialog, fill, fmtBytes, h, hasTypeInfo, navigate, statusClass, toast,
} from './dom.js';

let current = null;

function dialog() {
  const d = $('#pv-dialog');
  if (!d.dataset.bound) {
    d.dataset.bound = '1';
    $('#pv-dialog-close').addEventListener('click', () => d.close());
    d.addEventListener('close', () => {
      const c = current;
      current = null;
      if (c?.changed) c.onChange?.();
    });
  }
  return d;
}

/** Opens the dialog for `name`; `onChange()` runs on close if anything changed. */
export async function openPv(name, { onChange } = {}) {
  const d = dialog();
  current = { name, onChange, changed: false };
  $('#pv-dialog-title').textContent = name;
  delete $('#pv-dialog-body').dataset.pv;
  fill($('#pv-dialog-body'), h('p', { class: 'muted' }, 'Loading…'));
  if (!d.open) d.showModal();
  $('#pv-dialog-close').focus();
  await load(name);
}

async function load(name, focusSel) {
  const body = $('#pv-dialog-body');
  body.setAttribute('aria-busy', 'true');
  try {
    const [st] = await mgmtPost('getPVStatus', {}, [name]);
    const archived = hasTypeInfo(st.status);
    const [info, details, stores, aliases] = archived
      ? await Promise.all([
        mgmt('getPVTypeInfo', { pv: name }),
        mgmt('getPVDetails', { pv: name }),
        mgmt('getStoresForPV', { pv: name, counts: true }),
        mgmt('getAllAliases'),
      ])
      : [null, [], {}, []];
    if (!current || current.name !== name) return;
    const real = info?.pvName || name;
    fill(body,
      summary(name, real, st, info),
      archived ? storesSection(stores) : null,
      archived ? aliasSection(real, aliases.filter((a) => a.srcPVName === real)) : null,
      archived ? renameSection(real, st) : null,
      archived ? deleteSection(real, st) : null,
      info ? kvDetails('Type info', Object.entries(info).map(([k, v]) => [k, display(v)])) : null,
      details.length ? rowsDetails('Engine and storage details', details) : null);
    body.dataset.pv = name;
    const target = focusSel && body.querySelector(focusSel);
    if (target) target.focus();
  } catch (e) {
    fill(body, h('p', { class: 'error', role: 'alert' }, e.message));
  } finally {
    body.removeAttribute('aria-busy');
  }
}

function display(v) {
  if (Array.isArray(v)) return v.join('\n');
  if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${x}`).join('\n');
  return String(v);
}

function changed(name, focusSel) {
  if (current) current.changed = true;
  return load(name, focusSel);
}

async function run(label, fn) {
  try {
    const r = await fn();
    const list = Array.isArray(r) ? r : [r];
    const bad = list.find((x) => x && x.validation);
    if (bad) {
      toast(bad.validation, 'error');
      return false;
    }
    toast(label, 'ok');
    return true;
  } catch (e) {
    toast(`${label}: ${e.message}`, 'error');
    return false;
  }
}

function summary(name, real, st, info) {
  const items = [
    ['Status', h('span', { class: `badge ${statusClass(st.status)}` }, st.status)],
    real !== name ? ['Alias of', real] : null,
    ['Connected', st.connectionState ?? '—'],
    ['Last event', st.lastEvent ?? '—'],
    info ? ['Sampling', `${info.samplingMethod ?? '?'} every ${info.samplingPeriod ?? '?'} s`] : null,
    info ? ['Policy', info.policyName ?? '—'] : null,
    info ? ['Type', `${info.DBRType ?? '?'} × ${info.elementCount ?? '?'}`] : null,
    info?.units ? ['Units', info.units] : null,
  ].filter(Boolean);
  const buttons = [];
  if (hasTypeInfo(st.status)) {
    buttons.push(h('button', {
      type: 'button',
      onclick: () => {
        $('#pv-dialog').close();
        navigate('plot', [['pv', real]]);
      },
    }, 'Plot'));
  }
  if (st.status === 'Being archived') {
    buttons.push(h('button', {
      type: 'button',
      id: 'pv-pause',
      onclick: async () => {
        if (await run(`Paused ${real}`, () => mgmt('pauseArchivingPV', { pv: real }))) changed(name, '#pv-resume');
      },
    }, 'Pause'));
  } else if (st.status === 'Paused') {
    buttons.push(h('button', {
      type: 'button',
      id: 'pv-resume',
      onclick: async () => {
        if (await run(`Resumed ${real}`, () => mgmt('resumeArchivingPV', { pv: real }))) changed(name, '#pv-pause');
      },
    }, 'Resume'));
  } else if (st.status === 'Not being archived') {
    buttons.push(h('button', {
      type: 'button',
      onclick: async () => {
        if (await run(`Archive request for ${name}`, () => mgmtPost('archivePV', {}, [name]))) changed(name);
      },
    }, 'Archive'));
  }
  return h('section', { class: 'dsec' },
    h('dl', { class: 'kv' }, items.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('div', { class: 'buttons start' }, buttons));
}

function storesSection(stores) {
  const rows = Object.entries(stores).map(([k, v]) => h('tr', {},
    h('th', { scope: 'row', 'data-label': 'Store' }, k),
    h('td', { class: 'num', 'data-label': 'Files' }, v.files ?? '—'),
    h('td', { class: 'num', 'data-label': 'Bytes' }, v.bytes === undefined ? '—' : fmtBytes(v.bytes)),
    h('td', { class: 'num', 'data-label': 'Samples' }, v.samples ?? '—'),
    h('td', { class: 'url', 'data-label': 'URL' }, typeof v === 'string' ? v : v.url ?? '')));
  return h('section', { class: 'dsec' }, h('h3', {}, 'Stores'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data stack' },
      h('thead', {}, h('tr', {}, ['Store', 'Files', 'Bytes', 'Samples', 'URL'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))));
}

function aliasSection(real, aliases) {
  const input = h('input', { id: 'alias-new', type: 'text', autocomplete: 'off', spellcheck: 'false', required: true });
  const list = aliases.length
    ? h('ul', { class: 'plain' }, aliases.map((a) => h('li', {}, h('span', { class: 'pvname' }, a.aliasName), ' ',
      h('button', {
        type: 'button',
        class: 'quiet',
        'aria-label': `Remove alias ${a.aliasName}`,
        onclick: async () => {
          if (await run(`Removed alias ${a.aliasName}`, () => mgmt('removeAlias', { pv: real, aliasname: a.aliasName }))) {
            changed(current.name, '#alias-new');
          }
        },
      }, 'Remove'))))
    : h('p', { class: 'muted' }, 'No alias.');
  return h('section', { class: 'dsec' }, h('h3', {}, 'Aliases'), list,
    h('form', {
      class: 'row',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const alias = input.value.trim();
        if (alias && await run(`Added alias ${alias}`, () => mgmt('addAlias', { pv: real, aliasname: alias }))) {
          changed(current.name, '#alias-new');
        }
      },
    }, h('div', { class: 'field grow' }, h('label', { for: 'alias-new' }, 'New alias'), input),
    h('button', { type: 'submit' }, 'Add alias')));
}

function renameSection(real, st) {
  const paused = st.status === 'Paused';
  const input = h('input', {
    id: 'rename-new', type: 'text', autocomplete: 'off', spellcheck: 'false', required: true, disabled: !paused,
  });
  return h('section', { class: 'dsec' }, h('h3', {}, 'Rename'),
    h('form', {
      class: 'row',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const to = input.value.trim();
        if (!to) return;
        if (await run(`Renamed ${real} to ${to}`, () => mgmt('renamePV', { pv: real, newname: to }))) {
          current.name = to;
          $('#pv-dialog-title').textContent = to;
          changed(to, '#rename-new');
        }
      },
    }, h('div', { class: 'field grow' }, h('label', { for: 'rename-new' }, 'New name'), input),
    h('button', { type: 'submit', disabled: !paused }, 'Rename')),
    h('p', { class: 'hint' }, paused
      ? 'The data files move to the new name; the PV stays paused.'
      : 'Only a paused PV can be renamed: pause it first.'));
}

function deleteSection(real, st) {
  const paused = st.status === 'Paused';
  const withData = h('input', { type: 'checkbox', id: 'delete-data', disabled: !paused });
  return h('section', { class: 'dsec danger-zone' }, h('h3', {}, 'Delete'),
    h('div', { class: 'row' },
      h('label', { class: 'check' }, withData, ' Also delete the data files'),
      h('button', {
        type: 'button',
        id: 'pv-delete',
        class: 'danger',
        disabled: !paused,
        onclick: async () => {
          const data = withData.checked;
          const ok = await confirmDialog({
            title: `Delete ${real}?`,
            message: data
              ? `The archiving record of ${real} and all its data files will be removed. This cannot be undone.`
              : `The archiving record of ${real} will be removed; its data files stay on disk.`,
            ok: data ? 'Delete PV and data' : 'Delete PV',
          });
          if (!ok) return;
          if (await run(`Deleted ${real}`, () => mgmt('deletePV', { pv: real, deleteData: data }))) {
            current.changed = true;
            $('#pv-dialog').close();
          }
        },
      }, 'Delete…')),
    h('p', { class: 'hint' }, paused
      ? 'Deleting stops nothing else: the PV is already paused.'
      : 'Only a paused PV can be deleted: pause it first.'));
}

function kvDetails(title, pairs) {
  return h('details', { class: 'dsec' }, h('summary', {}, title),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data kvtable' },
      h('tbody', {}, pairs.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v)))))));
}

function rowsDetails(title, rows) {
  return h('details', { class: 'dsec' }, h('summary', {}, title),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data kvtable' },
      h('tbody', {}, rows.map((r) => h('tr', {},
        h('th', { scope: 'row' }, r.name), h('td', {}, r.value), h('td', { class: 'muted' }, r.source)))))));
}
