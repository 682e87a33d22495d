#!/usr/bin/env node
// Drives the tokwatch dashboard in a real headless Chromium and prints, as JSON, what the DOM
// shows: per page every data-testid figure and every data-testid table with its rows' raw
// data-values, so a test can compare the page with `tokwatch report --json`.
//
//   node tests/browser/dashboard.mjs [BASE_URL] [options]
//
// BASE_URL (or env TOKWATCH_DASHBOARD_URL), e.g. http://127.0.0.1:8765
//   --pages LIST         overview,repos,workspace,session,treemap (default: all)
//   --since DAY --until DAY   date range for the repos, workspace and treemap pages
//   --repo NAME          the workspace page's repository (default: first row of /repos)
//   --session ID         the session page's session (default: first row of the workspace's sessions)
//   --screenshot DIR     PNGs of every page loaded, 1280x900 (--full-page for the whole page)
//   --dark               prefers-color-scheme: dark
//   --wait-change TESTID [--page PATH] [--trigger CMD] [--timeout MS]
//        load PATH (default /), print {"ready":true,...} as one line, run CMD if given, wait
//        until the figure's value changes without a reload, print the result as one line.
//
// Exit status: 0 when every page rendered, no request left the page's origin, no script error
// and no Content-Security-Policy violation happened; 1 otherwise (the JSON says why); 2 for
// bad arguments.
import { chromium } from 'playwright-core';
import { exec } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PAGES = ['overview', 'repos', 'workspace', 'session', 'treemap'];
const READY_TIMEOUT = 15000;

function usage(msg) {
  process.stderr.write(`dashboard.mjs: ${msg}\nusage: node dashboard.mjs [BASE_URL] [--pages LIST] [--since DAY] [--until DAY] [--repo NAME] [--session ID] [--screenshot DIR] [--full-page] [--dark] [--wait-change TESTID [--page PATH] [--trigger CMD] [--timeout MS]]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { pages: PAGES, timeout: 5000, page: '/' };
  const takes = new Set(['--pages', '--since', '--until', '--repo', '--session', '--screenshot', '--wait-change', '--page', '--trigger', '--timeout']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (takes.has(a)) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      const v = argv[++i];
      const k = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
      o[k] = k === 'pages' ? v.split(',').filter(Boolean) : k === 'timeout' ? Number(v) : v;
    } else if (a === '--full-page') o.fullPage = true;
    else if (a === '--dark') o.dark = true;
    else if (a === '-h' || a === '--help') usage('help');
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (!o.base) o.base = a;
    else usage(`unexpected argument ${a}`);
  }
  o.base = o.base || process.env.TOKWATCH_DASHBOARD_URL;
  if (!o.base) usage('no base URL (argument or TOKWATCH_DASHBOARD_URL)');
  try {
    o.origin = new URL(o.base).origin;
  } catch (_) {
    usage(`not a URL: ${o.base}`);
  }
  for (const p of o.pages) if (!PAGES.includes(p)) usage(`unknown page ${p}`);
  return o;
}

// Runs in the page: what the DOM shows.
function scrape() {
  const raw = (v) => {
    if (v === undefined || v === null || v === '') return null;
    if (v === 'true' || v === 'false') return v === 'true';
    if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) return Number(v);
    return v;
  };
  const text = (el) => (el.value !== undefined && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) ? el.value : el.textContent.replace(/\s+/g, ' ').trim());
  const figures = {};
  for (const el of document.querySelectorAll('[data-testid]')) {
    if (el.tagName === 'TABLE' || el.closest('table')) continue;
    const f = { text: text(el), value: raw(el.dataset.value) };
    // A figure made of parts (heatmap days, treemap cells, timeline markers): list the parts.
    const parts = el.querySelectorAll('[data-day], [data-name], [data-ts]');
    if (parts.length) {
      f.text = f.text.length > 120 ? f.text.slice(0, 117) + '...' : f.text;
      f.items = [...parts].map((p) => {
        const it = { key: p.dataset.day || p.dataset.name || p.dataset.ts, value: raw(p.dataset.value) };
        if (p.dataset.kind) it.kind = p.dataset.kind;
        if (p.dataset.ts) it.text = text(p);
        const path = [];
        for (let a = p; a && a !== el; a = a.parentElement) if (a.dataset && a.dataset.name) path.unshift(a.dataset.name);
        if (path.length > 1) it.path = path;
        return it;
      });
    }
    if (el.dataset.unpriced) f.unpriced = el.dataset.unpriced === 'true';
    if (el.dataset.error) f.error = el.dataset.error;
    if (el.title) f.title = el.title;
    if (el.disabled) f.disabled = true;
    figures[el.dataset.testid] = f;
  }
  const rowOf = (tr) => {
    const r = { key: tr.dataset.key, values: {}, text: {} };
    for (const c of tr.querySelectorAll('[data-field]')) {
      r.values[c.dataset.field] = raw(c.dataset.value);
      r.text[c.dataset.field] = text(c);
    }
    return r;
  };
  const tables = {};
  for (const t of document.querySelectorAll('table[data-testid]')) {
    tables[t.dataset.testid] = {
      error: t.dataset.error || null,
      columns: [...t.querySelectorAll('thead th')].map((th) => th.textContent.replace(/[▲▼]/g, '').trim()),
      rows: [...t.querySelectorAll('tbody tr[data-key]')].map(rowOf),
      total: t.querySelector('tfoot tr[data-key]') ? rowOf(t.querySelector('tfoot tr[data-key]')) : null,
    };
  }
  const main = document.getElementById('app');
  return {
    url: location.pathname + location.search,
    title: document.title,
    state: main && main.dataset.state,
    renders: main ? Number(main.dataset.renders || 0) : 0,
    figures,
    tables,
    links: [...document.querySelectorAll('main a[href]')].length,
  };
}

async function waitReady(page) {
  await page.waitForFunction(() => {
    const m = document.getElementById('app');
    return m && m.dataset.state === 'ready' && Number(m.dataset.renders || 0) > 0;
  }, null, { timeout: READY_TIMEOUT });
  // The feed connects after the first render; give it a moment so "live" is reported as it is.
  await page.waitForFunction(() => document.getElementById('live')?.dataset.state !== 'connecting', null, { timeout: 2000 }).catch(() => {});
}

function withRange(path, o, extra = {}) {
  const u = new URL(path, o.base);
  for (const [k, v] of Object.entries({ since: o.since, until: o.until, ...extra })) if (v) u.searchParams.set(k, v);
  return u.pathname + u.search;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const profile = mkdtempSync(join(tmpdir(), 'tokwatch-chromium-'));
  const report = { base: o.base, pages: {}, external_requests: [], failed_responses: [], console_errors: [], page_errors: [], csp_violations: [] };
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
      colorScheme: o.dark ? 'dark' : 'light',
    });
    // Nothing may leave the page's own origin: such requests are recorded and refused.
    await ctx.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('data:') || url.startsWith('blob:') || new URL(url).origin === o.origin) return route.continue();
      report.external_requests.push(url);
      return route.abort('blockedbyclient');
    });
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const t = m.text();
      if (/Content Security Policy/i.test(t)) report.csp_violations.push(t);
      else report.console_errors.push(t);
    });
    page.on('pageerror', (e) => report.page_errors.push(String(e && e.stack ? e.stack : e)));
    page.on('response', (r) => { if (r.status() >= 400) report.failed_responses.push(`${r.status()} ${new URL(r.url()).pathname}`); });

    if (o.waitChange) return await waitChange(page, o);

    const shots = o.screenshot ? resolve(o.screenshot) : null;
    if (shots) mkdirSync(shots, { recursive: true });
    const visit = async (name, path) => {
      await page.goto(new URL(path, o.base).href, { waitUntil: 'domcontentloaded' });
      try {
        await waitReady(page);
      } catch (_) {
        report.pages[name] = { url: path, error: 'the page did not finish rendering within ' + READY_TIMEOUT + ' ms' };
        return null;
      }
      const data = await page.evaluate(scrape);
      report.pages[name] = data;
      if (shots) await page.screenshot({ path: join(shots, name + '.png'), fullPage: Boolean(o.fullPage) });
      return data;
    };
    const want = new Set(o.pages);
    if (want.has('overview')) await visit('overview', '/');
    let repo = o.repo;
    if (want.has('repos') || (want.has('workspace') && !repo)) {
      const d = await visit('repos', withRange('/repos', o));
      if (!want.has('repos')) delete report.pages.repos;
      const rows = d && d.tables.repos ? d.tables.repos.rows : [];
      repo = repo || (rows[0] && rows[0].key);
    }
    let session = o.session;
    if (want.has('workspace') || (want.has('session') && !session)) {
      if (repo) {
        const d = await visit('workspace', withRange('/workspace', o, { repo }));
        if (!want.has('workspace')) delete report.pages.workspace;
        const rows = d && d.tables.sessions ? d.tables.sessions.rows : [];
        session = session || (rows[0] && rows[0].key);
      } else if (want.has('workspace')) report.pages.workspace = { error: 'no repository to show (none in /repos, no --repo)' };
    }
    if (want.has('session')) {
      if (session) await visit('session', withRange('/session', { base: o.base }, { id: session }));
      else report.pages.session = { error: 'no session to show (none in the workspace, no --session)' };
    }
    if (want.has('treemap')) await visit('treemap', withRange('/treemap', o));
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  const rendered = Object.values(report.pages).every((p) => !p.error);
  report.ok = rendered && !report.external_requests.length && !report.page_errors.length && !report.csp_violations.length;
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  process.exitCode = report.ok ? 0 : 1;
}

async function waitChange(page, o) {
  const line = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  await page.goto(new URL(o.page, o.base).href, { waitUntil: 'domcontentloaded' });
  await waitReady(page);
  // Wait for the feed too: a change pushed before the EventSource is open would be missed.
  await page.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live', null, { timeout: READY_TIMEOUT }).catch(() => {});
  const testid = o.waitChange;
  const before = await page.evaluate((id) => {
    const el = document.querySelector(`[data-testid="${CSS.escape(id)}"]`);
    if (!el) return null;
    window.__tokwatchNoReload = true; // gone if the page reloads
    const read = () => ({ text: el.textContent.replace(/\s+/g, ' ').trim(), value: el.dataset.value ?? null, error: el.dataset.error ?? null });
    const first = read();
    window.__tokwatchChange = new Promise((resolve) => {
      const mo = new MutationObserver(() => {
        const now = read();
        if (now.text !== first.text || now.value !== first.value) {
          mo.disconnect();
          resolve({ ...now, at: performance.now() });
        }
      });
      mo.observe(document.getElementById('app'), { subtree: true, childList: true, characterData: true, attributes: true });
    });
    window.__tokwatchStart = performance.now();
    return first;
  }, testid);
  if (!before) {
    line({ testid, error: `no element with data-testid="${testid}" on ${o.page}` });
    process.exitCode = 1;
    return;
  }
  const num = (v) => (v !== null && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v);
  before.value = num(before.value);
  line({ ready: true, testid, page: o.page, before });
  if (o.trigger) exec(o.trigger, (err) => { if (err) process.stderr.write(`dashboard.mjs: trigger failed: ${err.message}\n`); });
  let after = null;
  try {
    after = await page.evaluate((ms) => Promise.race([
      window.__tokwatchChange,
      new Promise((r) => setTimeout(() => r(null), ms)),
    ]), o.timeout);
  } catch (e) {
    // A navigation destroys the page's context: the page reloaded.
    line({ testid, before, after: null, ms: null, reloaded: true, error: String(e.message || e) });
    process.exitCode = 1;
    return;
  }
  const state = await page.evaluate(() => ({ noReload: window.__tokwatchNoReload === true, start: window.__tokwatchStart }));
  if (!after) {
    line({ testid, before, after: null, ms: null, timed_out: true, reloaded: !state.noReload });
    process.exitCode = 1;
    return;
  }
  const ms = Math.round(after.at - state.start);
  delete after.at;
  after.value = num(after.value);
  line({ testid, before, after, ms, reloaded: !state.noReload });
  process.exitCode = state.noReload ? 0 : 1;
}

main().catch((e) => {
  process.stderr.write(`dashboard.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
