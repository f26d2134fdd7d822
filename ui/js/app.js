// Entry point: hash routes (#/pvs, #/plot, #/appliance), the header and
// the API key dialog.

import { apiKey, mgmt, onKeyChange, setApiKey, setKeyPrompt } from './api.js';
import { $, $$, rememberRoute, restoreRoutes } from './dom.js';
import * as appliance from './appliance.js';
import * as plot from './plot.js';
import * as pvs from './pvs.js';

const VIEWS = { pvs, plot, appliance };
const TITLES = { pvs: 'PVs', plot: 'Plot', appliance: 'Appliance' };
let current = null;

function parseHash() {
  const hash = location.hash;
  if (!hash.startsWith('#/')) return null;
  const [path, query = ''] = hash.slice(2).split('?');
  return { view: path, params: new URLSearchParams(query) };
}

function route() {
  const r = parseHash();
  if (!r) {
    // Another fragment (the skip link): keep the view, or open the first.
    if (!current) {
      history.replaceState(null, '', '#/pvs');
      route();
    }
    return;
  }
  const name = VIEWS[r.view] ? r.view : 'pvs';
  if (current && current !== name) VIEWS[current].hide();
  for (const v of Object.keys(VIEWS)) $(`#view-${v}`).hidden = v !== name;
  for (const a of $$('nav.views a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (r.view === name && r.params.toString()) rememberRoute(name, location.hash);
  document.title = `${TITLES[name]} · strata`;
  current = name;
  VIEWS[name].show(r.params);
}

function keyButton() {
  $('#key-button').textContent = apiKey() ? 'API key: set' : 'API key: not set';
}

/** Opens the key dialog; resolves to the key, or null when cancelled. */
function askKey({ rejected = false, manual = false } = {}) {
  const d = $('#key-dialog');
  const input = $('#key-input');
  $('#key-message').textContent = rejected
    ? 'The server did not accept this key. Enter the API key again.'
    : manual
      ? 'The key is sent with every request of this tab and forgotten when the tab closes.'
      : 'This action needs the appliance\'s API key. It is kept in this tab only.';
  $('#key-forget').hidden = !apiKey();
  input.value = '';
  return new Promise((resolve) => {
    const done = (value) => {
      d.removeEventListener('close', onClose);
      $('#key-form').removeEventListener('submit', onSubmit);
      $('#key-cancel').removeEventListener('click', onCancel);
      $('#key-forget').removeEventListener('click', onForget);
      if (d.open) d.close();
      resolve(value);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      done(input.value.trim() || null);
    };
    const onCancel = () => done(null);
    const onClose = () => done(null);
    const onForget = () => {
      setApiKey(null);
      done(null);
    };
    d.addEventListener('close', onClose);
    $('#key-form').addEventListener('submit', onSubmit);
    $('#key-cancel').addEventListener('click', onCancel);
    $('#key-forget').addEventListener('click', onForget);
    d.showModal();
    input.focus();
  });
}

async function identity() {
  try {
    const info = await mgmt('getApplianceInfo');
    $('#identity').textContent = `${info.identity} · ${info.version || ''}`.trim();
  } catch {
    $('#identity').textContent = '';
  }
}

function start() {
  setKeyPrompt((rejected) => askKey({ rejected }));
  onKeyChange(keyButton);
  keyButton();
  $('#key-button').addEventListener('click', async () => {
    const key = await askKey({ manual: true });
    if (key) setApiKey(key);
  });
  $('#skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    $('#main').focus();
  });
  restoreRoutes();
  window.addEventListener('hashchange', route);
  identity();
  route();
}

start();
