// End-to-end tests of the dashboard in headless Chromium against the mock server: what the
// pages show equals what the API says, nothing leaves 127.0.0.1, the page updates live
// without a reload, errors show as errors, and the token gates the only two mutations.
// Run: node --test tests/browser/   (skipped when /usr/bin/chromium or python3 is missing)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startMock } from './mock_server.mjs';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}`
  : !existsSync(join(here, 'node_modules', 'playwright-core')) ? 'playwright-core not installed (npm ci --prefix tests/browser)' : false;
const run = promisify(execFile);

let mock;
let base;
let trigger;

async function get(path) {
  const r = await fetch(base + path);
  return r.json();
}

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(tmpdir(), 'tokwatch-mock-'));
  trigger = join(dir, 'trigger');
  ({ proc: mock, base } = await startMock(['--trigger-file', trigger]));
});

after(() => {
  if (mock) mock.kill();
});

async function driver(...args) {
  try {
    const { stdout } = await run('node', [join(here, 'dashboard.mjs'), base, ...args], { timeout: 120000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    if (e.stdout) return e.stdout;
    throw e;
  }
}

const close = (a, b, what) => assert.ok(Math.abs(a - b) < 1e-6, `${what}: page ${a} != API ${b}`);

test('every page shows what the API says, and nothing leaves the origin', { skip }, async () => {
  const out = JSON.parse(await driver());
  assert.deepEqual(out.external_requests, []);
  assert.deepEqual(out.page_errors, []);
  assert.deepEqual(out.csp_violations, []);
  assert.equal(out.ok, true);
  const { overview, repos, workspace, session, treemap } = out.pages;

  const st = await get('/api/status');
  close(overview.figures['today-cost'].value, st.periods.day.cost_usd, 'today');
  close(overview.figures['week-cost'].value, st.periods.week.cost_usd, 'week');
  close(overview.figures['month-cost'].value, st.periods.month.cost_usd, 'month');
  assert.deepEqual(overview.tables.budgets.rows.map((r) => r.key), st.budgets.map((b) => b.id));
  assert.deepEqual(overview.tables['by-tool'].rows.map((r) => [r.key, r.values.cost_usd]), st.by_tool_today.map((r) => [r.key, r.cost_usd]));
  assert.equal(overview.tables['active-sessions'].rows.length, st.active_sessions.length);
  assert.equal(overview.figures.live.text, 'live');

  const since = repos.figures.since.text;
  const until = repos.figures.until.text;
  const rep = await get(`/api/report?by=repo&since=${since}&until=${until}`);
  const current = repos.tables.repos.rows.filter((r) => r.values.requests > 0);
  assert.deepEqual(current.map((r) => r.key).sort(), rep.rows.map((r) => r.key).sort());
  for (const row of rep.rows) {
    const shown = current.find((r) => r.key === row.key);
    close(shown.values.cost_usd, row.cost_usd, row.key);
    assert.equal(shown.values.requests, row.requests);
    assert.equal(shown.text.cost_usd.endsWith('+'), row.has_unpriced, `${row.key}: + iff unpriced`);
  }
  close(repos.figures['repos-total'].value, rep.totals.cost_usd, 'repos total');

  const repo = repos.tables.repos.rows[0].key;
  const ws = await get(`/api/workspace?repo=${encodeURIComponent(repo)}&since=${workspace.figures.since.text}&until=${workspace.figures.until.text}`);
  assert.equal(workspace.tables.sessions.rows.length, Math.min(300, ws.sessions.rows.length));
  close(workspace.figures['ws-cost'].value, ws.days.totals.cost_usd, 'workspace cost');
  const heat = workspace.figures.heatmap.items.filter((i) => i.value > 0);
  assert.deepEqual(heat.map((i) => i.key), ws.days.rows.filter((r) => r.cost_usd > 0).map((r) => r.key));
  for (const r of workspace.tables.sessions.rows) {
    const api = ws.sessions.rows.find((x) => x.key === r.key);
    close(r.values.cost_usd, api.cost_usd, r.key);
    const ms = api.last_ms - api.first_ms;
    if (ms < 60000) assert.equal(r.values.usd_per_hour, null, 'no $/h under a minute');
    else close(r.values.usd_per_hour, api.cost_usd / (ms / 3600000), r.key + ' $/h');
  }

  const s = await get('/api/session?id=' + encodeURIComponent(workspace.tables.sessions.rows[0].key));
  assert.equal(session.tables.requests.rows.length, Math.min(500, s.requests.length));
  close(session.figures['session-cost'].value, s.totals.cost_usd, 'session cost');
  const lastRow = session.tables.requests.rows[session.tables.requests.rows.length - 1];
  close(lastRow.values.cumulative, s.requests.reduce((a, r) => a + (r.cost_usd || 0), 0), 'cumulative');

  const tm = await get(`/api/treemap?since=${treemap.figures.since.text}&until=${treemap.figures.until.text}`);
  close(treemap.figures['treemap-cost'].value, tm.cost_usd, 'treemap total');
  assert.deepEqual(treemap.tables['treemap-items'].rows.map((r) => r.key), tm.children.map((c) => c.name));
});

test('a request stored while the page is open shows within a second, without a reload', { skip }, async () => {
  const lines = (await driver('--wait-change', 'today-cost', '--trigger', `touch ${trigger}`)).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].ready, true);
  const res = lines[1];
  assert.equal(res.reloaded, false);
  assert.ok(res.after, 'the figure changed');
  assert.ok(res.after.value > res.before.value, 'today grew');
  assert.ok(res.ms < 1000, `took ${res.ms} ms`);
});

test('an unpriced model is never $0: marked + with the lower-bound tooltip', { skip }, async () => {
  const out = JSON.parse(await driver('--pages', 'repos'));
  const f = out.pages.repos.figures['repos-total'];
  const rep = await get(`/api/report?by=repo&since=${out.pages.repos.figures.since.text}&until=${out.pages.repos.figures.until.text}`);
  assert.equal(rep.totals.has_unpriced, true, 'the mock history has an unpriced model');
  assert.ok(f.text.endsWith('+'));
  assert.equal(f.unpriced, true);
  assert.match(f.title, /lower bound/);
  assert.ok(out.pages.repos.figures['unpriced-models'].text.includes('qwen2.5-coder'));
});

test('errors are shown as errors, never as $0.00; the feed going down shows reconnecting', { skip }, async (t) => {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'tokwatch-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.after(async () => {
    await fetch(base + '/mock/fail?endpoints=');
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = ctx.pages()[0] || (await ctx.newPage());
  await fetch(base + '/mock/fail?endpoints=status,treemap');
  await page.goto(base + '/');
  await page.waitForSelector('#app[data-state="ready"]');
  const today = page.locator('[data-testid="today-cost"]');
  assert.equal(await today.getAttribute('data-error'), 'database error, see `tokwatch doctor`');
  assert.equal(await today.textContent(), 'database error, see `tokwatch doctor`');
  for (const id of ['week-cost', 'month-cost']) {
    assert.equal(await page.locator(`[data-testid="${id}"]`).getAttribute('data-error'), 'database error, see `tokwatch doctor`');
    assert.equal(await page.locator(`[data-testid="${id}"]`).getAttribute('data-value'), null, 'no made-up figure');
  }
  assert.equal(await page.locator('[data-testid="budgets"]').getAttribute('data-error'), 'database error, see `tokwatch doctor`');

  await page.goto(base + '/treemap');
  await page.waitForSelector('#app[data-state="ready"]');
  assert.equal(await page.locator('[data-testid="treemap-cost"]').getAttribute('data-error'), 'database error, see `tokwatch doctor`');

  await fetch(base + '/mock/fail?endpoints=');
  await page.goto(base + '/');
  await page.waitForSelector('#live[data-state="live"]');
  await fetch(base + '/mock/fail?endpoints=events');
  await fetch(base + '/mock/append', { method: 'POST' }); // wakes the stream, which then drops
  await page.waitForSelector('#live[data-state="reconnecting"]', { timeout: 5000 });
  await fetch(base + '/mock/fail?endpoints=');
  await page.waitForSelector('#live[data-state="live"]', { timeout: 10000 });
});

test('the token from #token= enables the alert pause; without it the controls are off', { skip }, async (t) => {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'tokwatch-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.after(async () => {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = ctx.pages()[0] || (await ctx.newPage());
  await page.goto(base + '/');
  await page.waitForSelector('#app[data-state="ready"]');
  assert.equal(await page.locator('[data-testid="pause-alerts"]').isDisabled(), true);
  assert.equal(await page.locator('[data-testid="token-hint"]').isVisible(), true);

  // An open page takes the token when the fragment changes (no reload) ...
  await page.goto(base + '/#token=test-token');
  await page.waitForFunction(() => location.hash === '' && !document.querySelector('[data-testid="pause-alerts"]').disabled);
  // ... and a freshly loaded page takes it too.
  await page.evaluate(() => localStorage.clear());
  await page.goto(base + '/repos#token=test-token');
  await page.waitForSelector('#app[data-state="ready"]');
  assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
  await page.goto(base + '/');
  await page.waitForSelector('#app[data-state="ready"]');
  assert.equal(await page.evaluate(() => localStorage.getItem('tokwatch.token')), 'test-token');
  const pause = page.locator('[data-testid="pause-alerts"]');
  assert.equal(await pause.isDisabled(), false);
  assert.equal(await page.locator('[data-testid="token-hint"]').isVisible(), false);
  const wasPaused = (await get('/api/status')).alerts_paused;
  await pause.click();
  await page.waitForFunction((p) => document.querySelector('[data-testid="pause-alerts"]').getAttribute('aria-pressed') === String(p), !wasPaused);
  assert.equal((await get('/api/status')).alerts_paused, !wasPaused);
  await pause.click();
  await page.waitForFunction((p) => document.querySelector('[data-testid="pause-alerts"]').getAttribute('aria-pressed') === String(p), wasPaused);

  // A budget limit, through the form; the table follows from the status event.
  await page.selectOption('[data-testid="budget-id"]', 'daily');
  await page.fill('[data-testid="budget-limit"]', '33');
  await page.click('[data-testid="budget-save"]');
  await page.waitForSelector('[data-testid="budgets"] tr[data-key="daily"] [data-field="limit_usd"][data-value="33"]', { timeout: 5000 });
  assert.equal((await get('/api/status')).budgets.find((b) => b.id === 'daily').limit_usd, 33);

  // A wrong token is refused and forgotten; the controls turn off again.
  await page.evaluate(() => localStorage.setItem('tokwatch.token', 'wrong'));
  await pause.click();
  await page.waitForSelector('[data-testid="pause-message"].error');
  assert.match(await page.locator('[data-testid="pause-message"]').textContent(), /token/);
  assert.equal(await pause.isDisabled(), true);
});
