// Unit tests of the dashboard's DOM-free modules: formatting (must read like the CLI's
// src/format.rs) and the treemap layout. Run: node --test tests/browser/
import assert from 'node:assert/strict';
import test from 'node:test';
import * as F from '../../assets/dashboard/fmt.js';
import { categoryTokens, ctxComposition, fit, splitWords, squarify } from '../../assets/dashboard/svg.js';

test('money reads like the CLI', () => {
  // The same cases as src/format.rs's tests.
  assert.equal(F.usd(0), '$0.00');
  assert.equal(F.usd(0.004), '<$0.01');
  assert.equal(F.usd(12.2257), '$12.23');
  assert.equal(F.usd(1234.5), '$1,234.50');
  assert.equal(F.usd(-3), '-$3.00');
  assert.equal(F.usd(NaN), '$?');
  assert.equal(F.usd(null), '$?');
  assert.equal(F.usdMarked(4.1, true), '$4.10+');
  assert.equal(F.usdMarked(4.1, false), '$4.10');
  assert.equal(F.rate(2.4), '$2.40/h');
  assert.equal(F.usd4(0.01234), '$0.0123');
  assert.equal(F.usd4(0.00001), '<$0.0001');
  assert.equal(F.usd(1234567.891), '$1,234,567.89');
  assert.equal(F.usd(0.005), '$0.01');
});

test('integers get thousands separators', () => {
  assert.equal(F.int(0), '0');
  assert.equal(F.int(999), '999');
  assert.equal(F.int(1000), '1,000');
  assert.equal(F.int(1234567), '1,234,567');
  assert.equal(F.int(-1234), '-1,234');
});

test('rates, durations and shares', () => {
  assert.equal(F.perHour(3, 59_000), null, 'under a minute has no rate');
  assert.equal(F.perHour(3, 30 * 60_000), 6);
  assert.equal(F.duration(59_000), '<1m');
  assert.equal(F.duration(45 * 60_000), '45m');
  assert.equal(F.duration(125 * 60_000), '2h 05m');
  assert.equal(F.duration(50 * 3600_000), '2d 2h');
  assert.equal(F.cacheHitRate({ input: 10, cache_read: 80, cache_write_5m: 5, cache_write_1h: 5 }), 0.8);
  assert.equal(F.cacheHitRate({ input: 0, cache_read: 0 }), null);
  assert.equal(F.contextSize({ input: 1, cache_read: 2, cache_write_5m: 3, cache_write_1h: 4, output: 100 }), 10);
  assert.equal(F.pct(0.923), '92.3%');
  assert.equal(F.compact(152_300), '152k');
  assert.equal(F.compact(1_300_000), '1.3M');
});

test('days are the daemon zone\'s days, across DST', () => {
  // 2025-03-30 01:30 UTC is 03:30 CEST in Berlin (clocks went forward at 02:00 local).
  assert.equal(F.dayOf(Date.UTC(2025, 2, 29, 23, 30), 'Europe/Berlin'), '2025-03-30');
  assert.equal(F.dayOf(Date.UTC(2025, 2, 29, 23, 30), 'UTC'), '2025-03-29');
  assert.equal(F.dateTime(Date.UTC(2025, 2, 30, 1, 30), 'Europe/Berlin'), '2025-03-30 03:30');
  assert.equal(F.timeOf(Date.UTC(2025, 0, 1, 0, 0, 7), 'UTC'), '00:00:07');
  assert.equal(F.addDays('2025-02-28', 1), '2025-03-01');
  assert.equal(F.addDays('2024-02-28', 1), '2024-02-29');
  assert.equal(F.daysBetween('2025-03-01', '2025-03-31'), 30);
  assert.deepEqual(F.dayRange('2025-12-30', '2026-01-02'), ['2025-12-30', '2025-12-31', '2026-01-01', '2026-01-02']);
  assert.equal(F.weekday('2025-06-16'), 0, 'a Monday');
  assert.equal(F.weekday('2025-06-15'), 6, 'a Sunday');
  assert.ok(F.isDay('2025-02-28'));
  assert.ok(!F.isDay('2025-02-30'));
  assert.ok(!F.isDay('2025-2-3'));
  assert.ok(!F.isDay(null));
});

test('squarify fills the rectangle with areas proportional to the values', () => {
  const items = [6, 6, 4, 3, 2, 2, 1, 0, -1].map((value, i) => ({ value, i }));
  const W = 600;
  const H = 400;
  const cells = squarify(items, 0, 0, W, H);
  assert.equal(cells.length, 7, 'zero and negative values get no cell');
  const total = 24;
  let area = 0;
  for (const c of cells) {
    assert.ok(c.x >= -1e-9 && c.y >= -1e-9 && c.x + c.w <= W + 1e-6 && c.y + c.h <= H + 1e-6, 'inside');
    assert.ok(Math.abs((c.w * c.h) / (W * H) - c.item.value / total) < 1e-9, 'proportional');
    area += c.w * c.h;
  }
  assert.ok(Math.abs(area - W * H) < 1e-6, 'no gap');
  for (let a = 0; a < cells.length; a++) {
    for (let b = a + 1; b < cells.length; b++) {
      const p = cells[a];
      const q = cells[b];
      const overlap = Math.min(p.x + p.w, q.x + q.w) - Math.max(p.x, q.x) > 1e-6 && Math.min(p.y + p.h, q.y + q.h) - Math.max(p.y, q.y) > 1e-6;
      assert.ok(!overlap, `cells ${a} and ${b} overlap`);
    }
  }
  // Squarified: no sliver worse than 1:4 for this input.
  for (const c of cells) assert.ok(Math.max(c.w / c.h, c.h / c.w) < 4, 'aspect ratio');
  assert.deepEqual(squarify([], 0, 0, 10, 10), []);
  assert.deepEqual(squarify([{ value: 1 }], 0, 0, 0, 10), []);
  assert.equal(squarify([{ value: 5 }], 2, 3, 10, 20)[0].w, 10);
});

test('labels are cut to fit, tool results are summed', () => {
  assert.equal(fit('claude-sonnet-4-5', 200), 'claude-sonnet-4-5');
  assert.equal(fit('claude-sonnet-4-5', 60), 'claude-…', 'eight characters at 60 px');
  assert.equal(fit('x', 8), '');
  assert.equal(categoryTokens({ Read: 10, Bash: 5 }), 15);
  assert.equal(categoryTokens(7), 7);
  assert.equal(categoryTokens(null), 0);
});

test('a stored split becomes the categories the charts draw, and reads like the CLI', () => {
  // The first request of the real sample as `tokwatch session --json` gives it.
  const ctx = { parts: [{ kind: 'system', tokens: 25793 }, { kind: 'user', tokens: 8 }, { kind: 'tool_call', tokens: 71 }, { kind: 'tool_result', tool: 'Bash', tokens: 80 }, { kind: 'tool_result', tool: 'Read', tokens: 20 }] };
  assert.deepEqual(ctxComposition(ctx), { estimated: true, categories: { system_and_tools: 25793, user: 8, tool_calls: 71, tool_results: { Bash: 80, Read: 20 } } });
  assert.equal(ctxComposition(null), null, 'no split is not an empty one');
  assert.equal(splitWords(ctx), 'system 99% · Bash 0% · calls 0%');
  assert.equal(splitWords({ parts: [{ kind: 'system', tokens: 41 }, { kind: 'tool_result', tool: 'Read', tokens: 22 }, { kind: 'tool_call', tokens: 12 }, { kind: 'user', tokens: 25 }] }), 'system 41% · user 25% · Read 22%');
  assert.equal(splitWords({ parts: [] }), '');
});
