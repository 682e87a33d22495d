// Repositories: cost per repository in the range against the same-length period before it,
// with a small trend per row.
import { api } from '../core.js';
import { Table, figure, fill, h, moneyText, setError, setFigure, setMoney } from '../dom.js';
import { dayRange, daysBetween, pct } from '../fmt.js';
import { rangeControl, sparkline } from '../widgets.js';
import { attempt, repoLink, section, unpricedNote } from './common.js';

const DAYS = 30;

/** Change from previous to current: a fraction, 'new', or null when both are nothing. */
export function change(cur, prev) {
  if (prev > 0) return (cur - prev) / prev;
  return cur > 0 ? 'new' : null;
}

export function mount(root, ctx) {
  document.title = 'Repositories · tokwatch';
  const range = rangeControl({ days: DAYS, onChange: () => ctx.refresh() });
  const total = figure('repos-total');
  const prevTotal = figure('repos-previous-total');
  const totalChange = figure('repos-change');
  const periodNote = h('span', { class: 'muted' });
  let days = [];
  let r = range.get();

  const table = new Table({
    testid: 'repos', key: (row) => row.key, sort: { field: 'cost_usd', dir: -1 },
    columns: [
      { field: 'key', label: 'Repository', value: (row) => row.key, text: (row) => (row.key === '(total)' ? 'Total' : repoLink(row.key, r)) },
      { field: 'cost_usd', label: 'This period', num: true, value: (row) => row.cost_usd, text: (row) => moneyText(row.cost_usd, row.has_unpriced) },
      { field: 'previous_cost_usd', label: 'Previous', num: true, value: (row) => row.previous_cost_usd, text: (row) => moneyText(row.previous_cost_usd, row.previous_has_unpriced) },
      {
        field: 'change', label: 'Change', num: true, value: (row) => (typeof row.change === 'number' ? row.change : null),
        text: (row) => (row.change === 'new' ? h('span', { class: 'badge' }, 'new') : typeof row.change === 'number'
          ? h('span', { class: 'delta ' + (row.change > 0 ? 'up' : 'down') }, (row.change > 0 ? '+' : '') + pct(row.change, 0)) : '—'),
      },
      { field: 'trend', label: 'Trend', sort: false, value: () => null, text: (row) => (row.trend ? sparkline(row.trend, { label: `${row.key}: daily spend, ${days[0]} to ${days[days.length - 1]}` }) : '') },
      { field: 'requests', label: 'Requests', num: true, value: (row) => row.requests, text: (row) => row.requests.toLocaleString('en-US') },
      { field: 'last_seen', label: 'Last used', value: (row) => row.last_seen || null },
    ],
  });
  const [sec, body] = section('Cost per repository', { id: 'repos-sec', extra: periodNote });
  const unpriced = h('div');
  body.append(table.wrap, unpriced);
  fill(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Repositories')),
    range.el,
    h('dl', { class: 'figures' },
      h('div', null, h('dt', null, 'This period'), h('dd', null, total)),
      h('div', null, h('dt', null, 'Previous period'), h('dd', null, prevTotal)),
      h('div', null, h('dt', null, 'Change'), h('dd', null, totalChange))),
    sec);

  return {
    relevant: () => true,
    async refresh() {
      r = range.sync();
      const res = await attempt(api('repos', { since: r.since, until: r.until }));
      if (res.error) {
        for (const f of [total, prevTotal, totalChange]) setError(f, res.error);
        table.error(res.error);
        fill(unpriced);
        return;
      }
      const { current, previous, trend } = res.value;
      days = dayRange(r.since, r.until);
      const n = daysBetween(r.since, r.until) + 1;
      periodNote.textContent = `${r.since} to ${r.until} (${n} days) against the ${n} days before`;
      const prev = new Map(previous.rows.map((x) => [x.key, x]));
      const keys = new Set(current.rows.map((x) => x.key));
      const rows = current.rows.map((x) => {
        const p = prev.get(x.key);
        const t = new Map(((trend && trend[x.key]) || []).map((d) => [d.day, d.cost_usd]));
        return {
          ...x,
          previous_cost_usd: p ? p.cost_usd : 0,
          previous_has_unpriced: p ? p.has_unpriced : false,
          change: change(x.cost_usd, p ? p.cost_usd : 0),
          trend: days.map((d) => t.get(d) || 0),
        };
      });
      // Repositories used only in the previous period still show (at $0.00 now).
      for (const p of previous.rows) {
        if (keys.has(p.key)) continue;
        rows.push({ ...p, cost_usd: 0, has_unpriced: false, requests: 0, previous_cost_usd: p.cost_usd, previous_has_unpriced: p.has_unpriced, change: -1, trend: days.map(() => 0) });
      }
      const t = current.totals;
      table.update(rows, { key: '(total)', ...t, previous_cost_usd: previous.totals.cost_usd, previous_has_unpriced: previous.totals.has_unpriced, change: change(t.cost_usd, previous.totals.cost_usd) });
      setMoney(total, t.cost_usd, t.has_unpriced);
      setMoney(prevTotal, previous.totals.cost_usd, previous.totals.has_unpriced);
      const c = change(t.cost_usd, previous.totals.cost_usd);
      if (typeof c === 'number') setFigure(totalChange, (c > 0 ? '+' : '') + pct(c, 0), c);
      else setFigure(totalChange, c === 'new' ? 'new' : '—', null);
      fill(unpriced, unpricedNote(current, 'unpriced-models'));
    },
  };
}
