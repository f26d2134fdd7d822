// Browser test of the web console, run by tests/ui_browser.rs against a
// real `strata serve --demo` with an API key configured.
//
// Environment: STRATA_UI_BASE (http://127.0.0.1:PORT), STRATA_UI_KEY (the
// API key), STRATA_UI_OUT (folder for screenshots and the CSV download),
// STRATA_UI_CHROMIUM (browser executable). Prints one line per step and
// exits 1 on the first failure (with a screenshot `failure.png`).

import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const BASE = process.env.STRATA_UI_BASE;
const KEY = process.env.STRATA_UI_KEY;
const OUT = process.env.STRATA_UI_OUT;
const CHROMIUM = process.env.STRATA_UI_CHROMIUM || '/usr/bin/chromium';
const WAIT = 20000;
const ARCHIVE_WAIT = 60000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844, deviceScaleFactor: 2 };

if (!BASE || !KEY || !OUT) {
  console.error('STRATA_UI_BASE, STRATA_UI_KEY and STRATA_UI_OUT must be set');
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });
const downloads = path.join(OUT, 'downloads');
fs.rmSync(downloads, { recursive: true, force: true });
fs.mkdirSync(downloads, { recursive: true });

const consoleErrors = [];
const failedResponses = [];
const t0 = Date.now();
let keyPrompts = 0;

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function step(name, fn) {
  const t = Date.now();
  await fn();
  console.log(`ok ${name} (${Date.now() - t} ms)`);
}

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
  ],
});
const page = await browser.newPage();
page.setDefaultTimeout(WAIT);
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location()?.url || '' });
});
page.on('pageerror', (e) => consoleErrors.push({ text: `uncaught: ${e.message}`, url: '' }));
page.on('response', (r) => {
  if (r.status() >= 400) failedResponses.push({ status: r.status(), url: r.url() });
});
await page.setViewport(DESKTOP);
const cdp = await page.createCDPSession();
await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });

// --- helpers over the page -------------------------------------------------

const rowSel = (pv) => `#pv-table tbody tr[data-pv="${pv}"]`;

async function rowNames() {
  return page.$$eval('#pv-table tbody tr[data-pv]', (trs) => trs.map((t) => t.dataset.pv));
}

async function waitRows(names) {
  const want = [...names].sort().join(',');
  await page.waitForFunction((w) => {
    const got = [...document.querySelectorAll('#pv-table tbody tr[data-pv]')].map((t) => t.dataset.pv).sort().join(',');
    return got === w;
  }, {}, want).catch(async () => {
    throw new Error(`rows: want [${want}], got [${(await rowNames()).join(',')}]`);
  });
}

async function waitStatus(pv, status, timeout = WAIT) {
  await page.waitForFunction((sel, s) => {
    const b = document.querySelector(`${sel} .badge`);
    return b && b.textContent === s;
  }, { timeout }, rowSel(pv), status).catch(async () => {
    const got = await page.$eval(`${rowSel(pv)} .badge`, (b) => b.textContent).catch(() => 'no row');
    throw new Error(`${pv}: want status ${status}, got ${got}`);
  });
}

async function search(pattern, mode) {
  await page.click(`input[name="search-mode"][value="${mode}"]`);
  await page.click('#search-pattern', { clickCount: 3 });
  await page.keyboard.press('Backspace');
  await page.type('#search-pattern', pattern);
  await page.keyboard.press('Enter');
}

async function answerKeyPrompt() {
  await page.waitForSelector('#key-dialog[open]');
  keyPrompts += 1;
  await page.type('#key-input', KEY);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#key-dialog:not([open])');
}

async function keyDialogOpen() {
  return page.$eval('#key-dialog', (d) => d.open);
}

/** Every visible, enabled control is reached by Tab from the top. */
async function checkKeyboard(view) {
  const controls = await page.$$eval('button, input, select, textarea, a[href], summary, [tabindex]', (els) => els
    .filter((e) => {
      const r = e.getBoundingClientRect();
      const shown = e.checkVisibility({ contentVisibilityAuto: true, opacityProperty: false, visibilityProperty: true });
      return shown && r.width > 0 && r.height > 0 && !e.disabled && !e.closest('dialog:not([open])')
        && e.getAttribute('tabindex') !== '-1' && !e.closest('.skip');
    })
    .map((e, i) => {
      e.dataset.kbId = String(i);
      return i;
    }));
  const negative = await page.$$eval('button, input, select, textarea, a[href]', (els) => els
    .filter((e) => e.tabIndex < 0 && !e.closest('dialog')).map((e) => e.outerHTML.slice(0, 80)));
  check(negative.length === 0, `${view}: controls out of the tab order: ${negative.join(' | ')}`);
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  const reached = new Set();
  for (let i = 0; i < controls.length * 2 + 10; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement?.dataset?.kbId ?? null);
    if (id !== null) reached.add(Number(id));
    // Radio groups take one tab stop: count the group as reached.
    await page.evaluate(() => {
      const a = document.activeElement;
      if (a?.type === 'radio') {
        document.querySelectorAll(`input[type=radio][name="${a.name}"]`).forEach((r) => {
          if (r.dataset.kbId) r.dataset.kbReached = '1';
        });
      }
    });
    if (reached.size === controls.length) break;
  }
  const radios = await page.$$eval('[data-kb-reached]', (els) => els.map((e) => Number(e.dataset.kbId)));
  radios.forEach((r) => reached.add(r));
  const missed = await page.$$eval('[data-kb-id]', (els, got) => els
    .filter((e) => !got.includes(Number(e.dataset.kbId))).map((e) => e.outerHTML.slice(0, 100)), [...reached]);
  check(missed.length === 0, `${view}: not reachable by Tab: ${missed.join(' | ')}`);
  await page.evaluate(() => document.querySelectorAll('[data-kb-id]').forEach((e) => {
    delete e.dataset.kbId;
    delete e.dataset.kbReached;
  }));
  return controls.length;
}

/** Pixels of the first series' colour (#1f6fd1) on the chart canvas. */
async function seriesPixels() {
  return page.$eval('#chart canvas', (c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - 0x1f) < 40 && Math.abs(data[i + 1] - 0x6f) < 40
        && Math.abs(data[i + 2] - 0xd1) < 40) n += 1;
    }
    return n;
  });
}

async function sourceLinks() {
  return page.$$eval('#plot-sources a[data-source-pv]', (as) => as.map((a) => ({ pv: a.dataset.sourcePv, href: a.href })));
}

async function waitPlotted() {
  await page.waitForFunction(() => {
    const s = document.querySelector('#plot-status').textContent;
    return Number(document.querySelector('#chart').dataset.points || 0) > 0 && !s.startsWith('Loading');
  });
}

function parseCsv(text) {
  const rows = [];
  let field = '';
  let row = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

async function waitDownload() {
  const deadline = Date.now() + WAIT;
  while (Date.now() < deadline) {
    const done = fs.readdirSync(downloads).filter((f) => f.endsWith('.csv'));
    if (done.length) return path.join(downloads, done[0]);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no CSV download');
}

async function shot(name, fullPage = false) {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  console.log(`screenshot ${file}`);
}

// --- the scenario -------------------------------------------------------------

// The demo's Channel Access PVs and its pvAccess ones (strata:demo:pva:*).
const DEMO = ['counter', 'enum', 'ramp', 'sine', 'string', 'waveform', 'pva:sine', 'pva:waveform', 'pva:enum', 'pva:motor']
  .map((n) => `strata:demo:${n}`);
const RAMP = 'strata:demo:ramp';
const SINE = 'strata:demo:sine';
const COUNTER = 'strata:demo:counter';

try {
  await step('root redirects to the console', async () => {
    await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded' });
    check(new URL(page.url()).pathname === '/mgmt/ui/', `landed on ${page.url()}`);
    await page.waitForSelector('#view-pvs:not([hidden])');
  });

  await step('glob search', async () => {
    await search('strata:demo:*', 'glob');
    await waitRows(DEMO);
    for (const pv of DEMO) await waitStatus(pv, 'Being archived');
    await page.waitForFunction((sel) => /STS \d+ files?, /.test(document.querySelector(`${sel} .stores`).textContent), {}, rowSel(SINE));
  });

  await step('regex search', async () => {
    await search('strata:demo:(sine|ramp)', 'regex');
    await waitRows([SINE, RAMP]);
  });

  await step('details: delete needs a paused PV', async () => {
    await page.click(`${rowSel(RAMP)} button[aria-label="Details of ${RAMP}"]`);
    await page.waitForSelector('#pv-dialog[open] #pv-delete');
    check(await page.$eval('#pv-delete', (b) => b.disabled), 'delete enabled for an archived PV');
    await page.waitForSelector('#pv-dialog details summary');
  });

  await step('pause in the dialog asks for the API key once', async () => {
    await page.click('#pv-pause');
    await answerKeyPrompt();
    await page.waitForSelector('#pv-dialog[open] #pv-resume');
    check(!(await page.$eval('#pv-delete', (b) => b.disabled)), 'delete still disabled for a paused PV');
    check((await page.$eval('#key-button', (b) => b.textContent)) === 'API key: set', 'key not shown as set');
  });

  await step('delete with confirmation', async () => {
    await page.click('#pv-delete');
    await page.waitForSelector('#confirm-dialog[open]');
    await page.click('#confirm-ok');
    await page.waitForSelector('#pv-dialog:not([open])');
    await waitRows([SINE]);
  });

  await step('archive a pasted list with a policy', async () => {
    await page.type('#archive-names', `${RAMP}\n`);
    await page.select('#archive-policy', 'Default');
    await page.click('#archive-form button[type="submit"]');
    await page.waitForFunction((pv) => [...document.querySelectorAll('#archive-result li')]
      .some((li) => li.textContent.startsWith(pv)), {}, RAMP);
    await waitRows([RAMP]);
    await waitStatus(RAMP, 'Being archived', ARCHIVE_WAIT);
    const policy = await (await fetch(`${BASE}/mgmt/bpl/getPVTypeInfo?pv=${RAMP}`)).json();
    check(policy.policyName === 'Default', `policy ${policy.policyName}`);
  });

  await step('pause and resume from the table', async () => {
    await page.click(`${rowSel(RAMP)} button[aria-label="Pause ${RAMP}"]`);
    await waitStatus(RAMP, 'Paused');
    await page.click(`${rowSel(RAMP)} button[aria-label="Resume ${RAMP}"]`);
    await waitStatus(RAMP, 'Being archived');
    check(!(await keyDialogOpen()) && keyPrompts === 1, `key asked ${keyPrompts} times`);
  });

  await step('aliases and rename in the dialog', async () => {
    const alias = `${RAMP}-alias`;
    const renamed = `${RAMP}2`;
    const title = () => page.$eval('#pv-dialog-title', (e) => e.textContent);
    await page.click(`${rowSel(RAMP)} button[aria-label="Details of ${RAMP}"]`);
    await page.waitForSelector('#pv-dialog[open] #alias-new');
    await page.type('#alias-new', alias);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`#pv-dialog button[aria-label="Remove alias ${alias}"]`);
    const all = await (await fetch(`${BASE}/mgmt/bpl/getAllAliases`)).json();
    check(all.some((a) => a.aliasName === alias && a.srcPVName === RAMP), `alias not stored: ${JSON.stringify(all)}`);
    await page.click(`#pv-dialog button[aria-label="Remove alias ${alias}"]`);
    await page.waitForFunction(() => /No alias/.test(document.querySelector('#pv-dialog-body').textContent));
    check(await page.$eval('#rename-new', (i) => i.disabled), 'rename enabled for an archived PV');
    await page.click('#pv-pause');
    await page.waitForSelector('#pv-dialog[open] #pv-resume');
    for (const to of [renamed, RAMP]) {
      await page.type('#rename-new', to);
      await page.keyboard.press('Enter');
      await page.waitForSelector(`#pv-dialog-body[data-pv="${to}"]:not([aria-busy]) #pv-resume`);
      const status = await page.$eval('#pv-dialog-body .badge', (b) => b.textContent);
      check(status === 'Paused', `${to} is ${status} after the rename`);
    }
    check((await title()) === RAMP, 'not renamed back');
    await page.click('#pv-resume');
    await page.waitForSelector('#pv-dialog[open] #pv-pause');
    await page.click('#pv-dialog-close');
    await page.waitForSelector('#pv-dialog:not([open])');
    await waitStatus(RAMP, 'Being archived');
  });

  await step('keyboard: PVs view', async () => {
    await search('strata:demo:*', 'glob');
    await waitRows(DEMO);
    const n = await checkKeyboard('PVs');
    console.log(`  ${n} controls reached by Tab`);
  });
  await shot('desktop-pvs');

  await step('plot selected PVs', async () => {
    for (const pv of [SINE, COUNTER]) await page.click(`${rowSel(pv)} input[type=checkbox]`);
    await page.click('#bulk-plot');
    await page.waitForSelector('#view-plot:not([hidden])');
    await page.select('#plot-range', '300');
    await page.click('#plot-form button[type="submit"]');
    await waitPlotted();
    const links = await sourceLinks();
    check(links.length === 2, `sources ${JSON.stringify(links)}`);
    check(links.every((l) => /pp=lttb_\d+/.test(l.href)), 'no lttb_N post-processor');
    const px = await seriesPixels();
    check(px > 30, `only ${px} pixels of the first series drawn`);
    console.log(`  ${px} pixels of ${SINE} drawn`);
  });

  await step('live update of a recent range', async () => {
    const [before] = await sourceLinks();
    await page.waitForFunction((old) => {
      const a = document.querySelector('#plot-sources a[data-source-pv]');
      return a && a.href !== old;
    }, { timeout: 15000 }, before.href);
    const [after] = await sourceLinks();
    const to = (href) => Date.parse(new URL(href).searchParams.get('to'));
    check(to(after.href) > to(before.href), 'live refresh did not move the range');
    await waitPlotted();
  });

  let zoomed;
  await step('zoom by dragging', async () => {
    const [sine] = await sourceLinks();
    const u = new URL(sine.href);
    const from = Date.parse(u.searchParams.get('from'));
    const to = Date.parse(u.searchParams.get('to'));
    const first = (await (await fetch(sine.href)).text()).split('\n')[0].split(',');
    const t1 = Math.max(Number(first[0]) * 1000 + 1000, to - 60000);
    const t2 = to - 1000;
    check(t2 - t1 > 2000, 'not enough data to zoom into');
    const box = await (await page.$('#chart .u-over')).boundingBox();
    const x = (t) => box.x + ((t - from) / (to - from)) * box.width;
    const y = box.y + box.height / 2;
    await page.mouse.move(x(t1), y);
    await page.mouse.down();
    await page.mouse.move((x(t1) + x(t2)) / 2, y, { steps: 4 });
    await page.mouse.move(x(t2), y, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction(() => !document.querySelector('#zoom-back').disabled);
    await page.waitForFunction((old) => {
      const a = document.querySelector('#plot-sources a[data-source-pv]');
      return a && a.href !== old;
    }, {}, sine.href);
    await waitPlotted();
    const [after] = await sourceLinks();
    const v = new URL(after.href);
    zoomed = [Date.parse(v.searchParams.get('from')), Date.parse(v.searchParams.get('to'))];
    check(Math.abs(zoomed[0] - t1) < 2000 && Math.abs(zoomed[1] - t2) < 2000,
      `zoomed to ${v.searchParams.get('from')}..${v.searchParams.get('to')}, dragged ${new Date(t1).toISOString()}..${new Date(t2).toISOString()}`);
    check(!(await page.$eval('#plot-live', (c) => c.checked && !c.disabled)), 'still live after zoom');
    check((await seriesPixels()) > 30, 'nothing drawn after zoom');
  });

  await step('pan and undo', async () => {
    const before = (await sourceLinks())[0].href;
    await page.click('#pan-left');
    await page.waitForFunction((old) => document.querySelector('#plot-sources a[data-source-pv]')?.href !== old, {}, before);
    await waitPlotted();
    await page.click('#zoom-back');
    await page.waitForFunction((old) => document.querySelector('#plot-sources a[data-source-pv]')?.href === old, {}, before);
    await waitPlotted();
  });

  await step('export CSV equals getData.csv', async () => {
    await page.click('#export-csv');
    const file = await waitDownload();
    const rows = parseCsv(fs.readFileSync(file, 'utf8'));
    const header = rows.shift();
    check(header.join(',') === 'pv,time_utc,secs,nanos,val,severity,status', `header ${header}`);
    const links = await sourceLinks();
    let total = 0;
    for (const { pv, href } of links) {
      const server = (await (await fetch(href)).text()).split('\n').filter((l) => l !== '');
      const mine = rows.filter((r) => r[0] === pv).map((r) => [r[2], r[4], r[5], r[6], r[3]].join(','));
      check(mine.length > 0, `${pv}: no exported rows`);
      check(mine.length === server.length, `${pv}: ${mine.length} exported rows, getData.csv has ${server.length}`);
      mine.forEach((line, i) => check(line === server[i], `${pv} row ${i}: ${line} != ${server[i]}`));
      total += mine.length;
    }
    console.log(`  ${total} rows of ${links.length} PVs match getData.csv`);
  });

  await step('optimized reduction', async () => {
    const [before] = await sourceLinks();
    await page.select('#plot-reduce', 'optimized');
    await page.click('#plot-form button[type="submit"]');
    await page.waitForFunction((old) => {
      const a = document.querySelector('#plot-sources a[data-source-pv]');
      return a && a.href !== old && /pp=optimized_\d+/.test(a.href);
    }, {}, before.href);
    await waitPlotted();
    check((await seriesPixels()) > 30, 'nothing drawn with optimized');
  });

  await step('keyboard: plot view', async () => {
    const n = await checkKeyboard('Plot');
    console.log(`  ${n} controls reached by Tab`);
  });
  await shot('desktop-plot');

  await step('appliance page', async () => {
    await page.click('nav.views a[data-view="appliance"]');
    await page.waitForSelector('#app-cards .stat');
    await page.waitForFunction(() => document.querySelectorAll('#tier-table tbody tr').length === 3);
    await page.waitForSelector('#report-buttons button');
    const reports = await page.$$eval('#report-buttons button', (bs) => bs.map((b) => b.textContent));
    for (const r of ['Paused', 'Disconnected', 'Never connected', 'Top event rates', 'Top storage rates']) {
      check(reports.includes(r), `report ${r} missing: ${reports}`);
    }
    check(reports.some((r) => r.startsWith('Dropped')), `dropped-events reports missing though the server has them: ${reports}`);
    await page.click('#report-buttons button[data-report="events"]');
    await page.waitForFunction(() => document.querySelectorAll('#report-body table[data-report="events"] tbody tr').length >= 5);
    const n = await checkKeyboard('Appliance');
    console.log(`  ${n} controls reached by Tab`);
  });
  await shot('desktop-appliance');

  await step('phone width', async () => {
    await page.setViewport(PHONE);
    await page.click('nav.views a[data-view="pvs"]');
    await page.waitForSelector(`${rowSel(SINE)} .badge`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `PVs view ${overflow}px wider than the phone`);
    await shot('phone-pvs');
    await page.click('nav.views a[data-view="plot"]');
    await waitPlotted();
    await page.$eval('#chart', (c) => c.closest('.card').scrollIntoView());
    const plotOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(plotOverflow <= 0, `plot view ${plotOverflow}px wider than the phone`);
    await shot('phone-plot');
    await page.click('nav.views a[data-view="appliance"]');
    await page.waitForSelector('#app-cards .stat');
    await shot('phone-appliance');
  });

  await step('no console errors, no failed request', async () => {
    // The console learns from /openapi.json which actions exist and which
    // need the key: it neither probes for absent reports (404) nor sends a
    // mutating call without the key (401).
    check(consoleErrors.length === 0, `console errors: ${JSON.stringify(consoleErrors)}`);
    check(failedResponses.length === 0, `failed requests: ${JSON.stringify(failedResponses)}`);
  });

  console.log(`passed in ${Date.now() - t0} ms`);
  await browser.close();
} catch (e) {
  console.log(`FAIL ${e.message}`);
  console.log(`console errors so far: ${JSON.stringify(consoleErrors)}`);
  await page.screenshot({ path: path.join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
