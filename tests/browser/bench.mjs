#!/usr/bin/env node
// Timings of the dashboard in a real headless Chromium, for docs/benchmarks.md (benches/dashboard.rs
// runs it against the daemon on a 1M-event database). Prints one JSON document.
//
//   node tests/browser/bench.mjs BASE_URL --pages PATH,PATH... [--runs N]
//        each page N times (after one warm-up load): ms from navigation start until
//        <main data-state="ready"> after its first render (the figures are in the DOM)
//   node tests/browser/bench.mjs BASE_URL --latency N --append FILE [--page PATH] [--testid ID]
//        keeps PATH (default /) open; N times: appends one Claude Code request of today to FILE
//        (a log the daemon follows) and measures ms until the figure ID (default today-cost)
//        changes in the DOM, without a reload
//   node tests/browser/bench.mjs BASE_URL --hold SECONDS [--page PATH]
//        keeps PATH open and idle that long (the caller measures the daemon meanwhile)
import { chromium } from 'playwright-core';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const argv = process.argv.slice(2);
const o = { base: argv[0], runs: 5, page: '/', testid: 'today-cost' };
for (let i = 1; i < argv.length; i += 2) o[argv[i].slice(2)] = argv[i + 1];
if (!o.base) {
  process.stderr.write('usage: bench.mjs BASE_URL (--pages LIST | --latency N --append FILE | --hold S)\n');
  process.exit(2);
}

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const stats = (xs) => ({ n: xs.length, min: q(xs, 0.0001), p50: q(xs, 50), p95: q(xs, 95), p99: q(xs, 99), max: q(xs, 100) });

const dir = mkdtempSync(join(tmpdir(), 'tokwatch-bench-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ARGS,
  viewport: { width: 1280, height: 900 },
});
const out = { base: o.base };
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const ready = async (renders) => page.waitForFunction((n) => {
    const m = document.getElementById('app');
    return m && m.dataset.state === 'ready' && Number(m.dataset.renders || 0) >= n;
  }, renders, { polling: 'raf', timeout: 30000 });

  if (o.pages) {
    out.pages = {};
    out.phases = {};
    for (const path of o.pages.split(',')) {
      const ms = [];
      const phase = { booted: [], rendered: [], painted: [] };
      for (let r = 0; r <= Number(o.runs); r++) {
        await page.goto(o.base + path, { waitUntil: 'commit' });
        await ready(1);
        // Navigation start to the first frame painted with every figure in it, by the page's
        // own marks (app.js): booted (modules and the first /api/status), rendered (figures
        // in the DOM), painted (that frame laid out and drawn).
        const t = await page.evaluate(async () => {
          const get = (n) => performance.getEntriesByName('tokwatch:' + n)[0];
          for (let i = 0; i < 200 && !get('painted'); i++) await new Promise((r) => setTimeout(r, 5));
          const v = (n) => (get(n) ? Math.round(get(n).startTime * 10) / 10 : null);
          return { booted: v('booted'), rendered: v('rendered'), painted: v('painted') };
        });
        if (r > 0) {
          ms.push(t.painted);
          for (const k of Object.keys(phase)) phase[k].push(t[k]);
        }
      }
      out.pages[path] = stats(ms);
      out.phases[path] = Object.fromEntries(Object.entries(phase).map(([k, xs]) => [k, q(xs, 50)]));
    }
  }

  if (o.latency) {
    await page.goto(o.base + o.page);
    await ready(1);
    await page.waitForSelector('[data-testid="live"][data-state="live"]', { timeout: 10000 });
    const ms = [];
    const sel = `[data-testid="${o.testid}"]`;
    for (let i = 0; i < Number(o.latency); i++) {
      const before = await page.$eval(sel, (el) => el.dataset.value);
      const id = `bench${Date.now()}${i}`;
      const line = JSON.stringify({
        type: 'assistant', sessionId: 'bench-live', cwd: '/nonexistent/bench/live', gitBranch: 'main',
        requestId: `req_${id}`, timestamp: new Date().toISOString(),
        message: { model: 'claude-opus-4-6', id: `msg_${id}`, usage: { input_tokens: 10, cache_read_input_tokens: 20000, output_tokens: 300 + i } },
      });
      const t0 = Date.now();
      appendFileSync(o.append, line + '\n');
      await page.waitForFunction(([s, b]) => {
        const el = document.querySelector(s);
        return el && el.dataset.value !== b;
      }, [sel, before], { polling: 'raf', timeout: 10000 });
      ms.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 250));
    }
    out.latency = stats(ms);
    out.reloads = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  }

  if (o.hold) {
    await page.goto(o.base + o.page);
    await ready(1);
    await page.waitForSelector('[data-testid="live"][data-state="live"]', { timeout: 10000 });
    process.stdout.write(JSON.stringify({ holding: true }) + '\n');
    const renders0 = await page.$eval('#app', (m) => Number(m.dataset.renders));
    await new Promise((r) => setTimeout(r, Number(o.hold) * 1000));
    out.hold = { seconds: Number(o.hold), renders_while_idle: (await page.$eval('#app', (m) => Number(m.dataset.renders))) - renders0 };
  }
} finally {
  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
