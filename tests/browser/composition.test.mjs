// The session page's context composition (issue 14) in headless Chromium against the mock
// server, whose requests carry splits as the daemon stores them (`ctx.parts`): the stacked bar
// of each request holds that request's parts, the requests table says which requests have no
// split, choosing a request draws a treemap of exactly its parts (areas in proportion), and
// the per-part input cost of the session is the server's and adds up to its input cost.
// Run: node --test tests/browser/   (skipped when /usr/bin/chromium or python3 is missing)
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startMock } from './mock_server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}`
  : !existsSync(join(here, 'node_modules', 'playwright-core')) ? 'playwright-core not installed (npm ci --prefix tests/browser)' : false;

// The category each stored kind is drawn as (written out here, not imported from svg.js).
const CAT = {
  system: 'system_and_tools', user: 'user', assistant: 'assistant', thinking: 'thinking',
  tool_call: 'tool_calls', tool_result: 'tool_results', image: 'images', summary: 'compaction_summary',
};

let mock;
let base;

before(async () => {
  if (skip) return;
  ({ proc: mock, base } = await startMock());
});

after(() => {
  if (mock) mock.kill();
});

const get = async (path) => (await fetch(base + path)).json();

/** Category -> tokens of one request's split (tool results summed), from the API's parts. */
function categories(ctx) {
  const m = {};
  for (const p of ctx.parts) m[CAT[p.kind]] = (m[CAT[p.kind]] || 0) + p.tokens;
  return m;
}

/** A Claude session of 20 to 100 requests (one table page, one bar each) with and without splits. */
async function pickSession() {
  const rep = await get('/api/report?by=session&since=2000-01-01');
  for (const row of rep.rows.filter((r) => r.tool === 'claude' && r.requests >= 20 && r.requests <= 100)) {
    const s = await get('/api/session?id=' + encodeURIComponent(row.key));
    const with_ = s.requests.filter((r) => r.ctx).length;
    if (with_ >= 10 && with_ < s.requests.length) return s;
  }
  throw new Error('the mock history has no Claude session with requests with and without a split');
}

test('session page: split per request, a treemap of the chosen request, the input cost per part', { skip }, async (t) => {
  const s = await pickSession();
  const reqs = s.requests.slice().sort((a, b) => a.ts_ms - b.ts_ms);
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'tokwatch-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 }, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.after(async () => {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = ctx.pages()[0] || (await ctx.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/session?id=${encodeURIComponent(s.session)}`);
  await page.waitForSelector('#app[data-state="ready"]');
  await page.waitForSelector('#composition-sec:not([hidden]) svg.composition');

  // Marked as an estimate, with a legend of the categories.
  const note = await page.locator('#composition-sec p.hint').first().textContent();
  assert.match(note, /^Estimated/);
  const withSplit = reqs.filter((r) => r.ctx).length;
  assert.ok(note.includes(`${withSplit} of ${reqs.length} requests have a split`), note);
  assert.equal(await page.locator('[data-testid="composition-legend"] li').count(), 8);

  // One stacked bar per request with a split, holding exactly its parts; none for the others.
  const bars = await page.$$eval('svg.composition g.bar', (gs) => gs.map((g) => ({
    index: Number(g.dataset.index),
    cats: Object.fromEntries([...g.querySelectorAll('rect[data-cat]')].map((r) => [r.dataset.cat, Number(r.dataset.value)])),
  })));
  assert.deepEqual(bars.map((b) => b.index), reqs.flatMap((r, i) => (r.ctx ? [i] : [])));
  for (const b of bars) assert.deepEqual(b.cats, categories(reqs[b.index].ctx), `bar of request #${b.index + 1}`);

  // The requests table: "no split" where there is none, else the largest part and its share.
  const cells = await page.$$eval('[data-testid="requests"] tbody tr[data-key]', (trs) => trs.map((tr) => [Number(tr.dataset.key), tr.querySelector('[data-field="split"]').textContent]));
  assert.equal(cells.length, reqs.length);
  for (const [n, text] of cells) {
    const r = reqs[n - 1];
    if (!r.ctx) {
      assert.equal(text, 'no split', `request #${n}`);
      continue;
    }
    const total = r.ctx.parts.reduce((a, p) => a + p.tokens, 0);
    const top = r.ctx.parts.slice().sort((a, b) => b.tokens - a.tokens)[0];
    const name = top.kind === 'tool_result' ? top.tool : { system: 'system', tool_call: 'calls' }[top.kind] || top.kind;
    assert.ok(text.startsWith(`~ ${name} ${Math.round((top.tokens * 100) / total)}%`), `request #${n}: ${text}`);
  }

  // Choosing a request (a row of the table) draws the treemap of its parts.
  const pick = reqs.findIndex((r, i) => r.ctx && i > 2 && r.ctx.parts.some((p) => p.kind === 'tool_result'));
  await page.click(`[data-testid="requests"] tbody tr[data-key="${pick + 1}"] [data-field="model"]`);
  await page.waitForSelector(`[data-testid="composition-request"][data-value="${pick + 1}"]`);
  assert.match(await page.locator('[data-testid="composition-request"]').textContent(), /\(estimated\)/);
  const tm = await page.$eval('[data-testid="composition-treemap"]', (svg) => ({
    w: Number(svg.getAttribute('width')), h: Number(svg.getAttribute('height')),
    cells: [...svg.querySelectorAll(':scope > g[data-name]')].map((g) => {
      const bg = g.querySelector('rect.cat-bg');
      return {
        name: g.dataset.name, value: Number(g.dataset.value), area: bg.width.baseVal.value * bg.height.baseVal.value,
        tools: [...g.querySelectorAll('rect.tool')].map((r) => ({ name: r.dataset.name, value: Number(r.dataset.value), area: r.width.baseVal.value * r.height.baseVal.value })),
      };
    }),
  }));
  const want = categories(reqs[pick].ctx);
  const total = Object.values(want).reduce((a, v) => a + v, 0);
  assert.deepEqual(Object.fromEntries(tm.cells.map((c) => [c.name, c.value])), want);
  for (const c of tm.cells) {
    const share = c.area / (tm.w * tm.h);
    assert.ok(Math.abs(share - c.value / total) < 0.002, `${c.name}: area ${share} for a share ${c.value / total}`);
  }
  const results = tm.cells.find((c) => c.name === 'tool_results');
  const tools = Object.fromEntries(reqs[pick].ctx.parts.filter((p) => p.kind === 'tool_result').map((p) => [p.tool, p.tokens]));
  assert.deepEqual(Object.fromEntries(results.tools.map((x) => [x.name, x.value])), tools);
  const toolArea = results.tools.reduce((a, x) => a + x.area, 0);
  for (const x of results.tools) assert.ok(Math.abs(x.area / toolArea - x.value / results.value) < 0.002, `${x.name}: area in proportion`);
  assert.ok(new URL(page.url()).searchParams.get('req') === String(pick + 1), 'the choice is in the address');

  // Choosing a bar draws another request; a request without a split says it has none.
  const other = bars[bars.length - 2].index;
  await page.dispatchEvent(`svg.composition g.bar[data-index="${other}"]`, 'click');
  await page.waitForSelector(`[data-testid="composition-request"][data-value="${other + 1}"]`);
  assert.deepEqual(await page.$$eval('[data-testid="composition-treemap"] > g[data-name]', (gs) => Object.fromEntries(gs.map((g) => [g.dataset.name, Number(g.dataset.value)]))), categories(reqs[other].ctx));
  const bare = reqs.findIndex((r) => !r.ctx);
  await page.click(`[data-testid="requests"] tbody tr[data-key="${bare + 1}"] [data-field="model"]`);
  await page.waitForSelector(`[data-testid="composition-request"][data-value="${bare + 1}"][data-split="none"]`);
  assert.equal(await page.locator('[data-testid="composition-treemap"]').count(), 0);
  assert.equal(await page.locator('svg.composition g.bar.selected').count(), 0);

  // What each part cost: the server's figures, adding up to the input cost of the requests
  // with a split.
  const costs = await page.$$eval('[data-testid="composition-costs"] tbody tr[data-key]', (trs) => trs.map((tr) => ({
    key: tr.dataset.key,
    tokens: Number(tr.querySelector('[data-field="tokens"]').dataset.value),
    cost: tr.querySelector('[data-field="cost_usd"]').dataset.value,
  })));
  const cats = s.composition.categories;
  assert.deepEqual(costs.map((c) => c.key).sort(), cats.map((c) => c.kind + (c.tool ? '.' + c.tool : '')).sort());
  for (const c of costs) {
    const api = cats.find((x) => x.kind + (x.tool ? '.' + x.tool : '') === c.key);
    assert.equal(c.tokens, api.tokens, c.key);
    assert.ok(Math.abs(Number(c.cost) - api.cost_usd) < 1e-9, `${c.key}: ${c.cost} != ${api.cost_usd}`);
  }
  const foot = await page.$eval('[data-testid="composition-costs"] tfoot [data-field="cost_usd"]', (td) => Number(td.dataset.value));
  assert.ok(Math.abs(foot - s.composition.input_cost_usd) < 1e-9);
  assert.ok(Math.abs(costs.reduce((a, c) => a + Number(c.cost), 0) - foot) < 1e-6, 'the parts add up to the input cost');
  // Every token of the requests with a split is in one part.
  const splitTokens = reqs.filter((r) => r.ctx).reduce((a, r) => a + r.ctx.parts.reduce((b, p) => b + p.tokens, 0), 0);
  assert.equal(costs.reduce((a, c) => a + c.tokens, 0), splitTokens);
  assert.deepEqual(errors, []);
});
