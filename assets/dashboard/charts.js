// Time series with uPlot (vendor/uplot.iife.min.js, the global `uPlot`): spend per day, and a
// session's requests. Colours come from the CSS variables, so light and dark schemes apply;
// charts are rebuilt when the scheme changes and resized with their container.
import { clock } from './core.js';
import { h } from './dom.js';
import { compact, dateTime, dayOf, pct, timeOf, usd, usd4 } from './fmt.js';

const live = new Set();
const scheme = matchMedia('(prefers-color-scheme: dark)');
scheme.addEventListener('change', () => { for (const c of live) c.rebuild(); });

function theme() {
  const cs = getComputedStyle(document.documentElement);
  const v = (n) => cs.getPropertyValue(n).trim();
  return {
    fg: v('--fg'), muted: v('--muted'), grid: v('--grid'), accent: v('--accent'),
    accentFill: v('--accent-fill'), second: v('--second'), third: v('--third'),
    warn: v('--warn'), err: v('--err'), bg: v('--bg'),
  };
}

function axis(t, extra = {}) {
  return {
    stroke: t.muted,
    grid: { stroke: t.grid, width: 1 },
    ticks: { stroke: t.grid, width: 1 },
    font: '11px system-ui, sans-serif',
    ...extra,
  };
}

/** 24-hour labels in the daemon's zone; the day is added when the axis spans more than one. */
function timeAxis(u, splits) {
  const multi = u.scales.x.max - u.scales.x.min > 20 * 3600;
  return splits.map((s) => {
    const ms = s * 1000;
    const t = timeOf(ms, clock.tz).slice(0, 5);
    return multi ? dayOf(ms, clock.tz).slice(5) + ' ' + t : t;
  });
}

const moneyAxis = (u, vals) => vals.map((v) => (v === 0 ? '$0' : v < 1 ? '$' + v.toFixed(v < 0.1 ? 3 : 2) : usd(v).replace(/\.00$/, '')));

/**
 * A chart that (re)creates its uPlot from `make(theme, width)` and keeps the last data, so it
 * can be rebuilt for a new colour scheme and resized in place.
 */
class Chart {
  constructor(container, height, make) {
    this.box = h('div', { class: 'chart' });
    container.append(this.box);
    this.height = height;
    this.make = make;
    this.u = null;
    this.data = null;
    this.ro = new ResizeObserver(() => {
      if (this.u && this.box.clientWidth && Math.abs(this.u.width - this.box.clientWidth) > 1) {
        this.u.setSize({ width: this.box.clientWidth, height: this.height });
      }
    });
    this.ro.observe(this.box);
    live.add(this);
  }

  set(data, shape) {
    if (typeof uPlot === 'undefined') {
      this.box.replaceChildren(h('p', { class: 'error' }, 'the chart library (vendor/uplot.iife.min.js) did not load'));
      return;
    }
    const sameShape = this.u && this.shape === shape;
    this.data = data;
    this.shape = shape;
    if (sameShape) {
      this.u.setData(data);
      this.u.redraw();
    } else this.rebuild();
  }

  rebuild() {
    if (!this.data) return;
    if (this.u) this.u.destroy();
    this.box.replaceChildren();
    const width = this.box.clientWidth || 600;
    this.u = new uPlot(this.make(theme(), width, this.height), this.data, this.box);
  }
}

/** Spend per day as bars. update(days: ['YYYY-MM-DD'], costs: [number], unpriced: [bool]). */
export function dailyChart(container, { height = 200 } = {}) {
  let flags = [];
  const c = new Chart(container, height, (t, width) => ({
    width, height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    legend: { show: true, live: true },
    cursor: { points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] },
      y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [axis(t, { values: [[86400 * 28, '{MMM}', null, null, null, null, null, null, 1], [86400, '{MMM} {D}', null, null, null, null, null, null, 1]] }),
      axis(t, { values: moneyAxis, size: 56 })],
    series: [
      { label: 'Day', value: (u, v) => (v == null ? '' : new Date(v * 1e3).toISOString().slice(0, 10)) },
      {
        label: 'Spend', stroke: t.accent, fill: t.accentFill, width: 1,
        paths: uPlot.paths.bars({ size: [0.75, 36], align: 0 }),
        points: { show: false },
        value: (u, v, si, i) => (i == null || v == null ? '' : usd(v) + (flags[i] ? '+' : '')),
      },
    ],
  }));
  return {
    el: c.box,
    update(days, costs, unpriced) {
      flags = unpriced || [];
      c.set([days.map((d) => Date.parse(d + 'T00:00:00Z') / 1000), costs], 'daily');
    },
  };
}

function markerPlugin(getMarkers, t) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        for (const m of getMarkers()) {
          const x = Math.round(u.valToPos(m.ts_ms / 1000, 'x', true));
          if (x < bbox.left || x > bbox.left + bbox.width) continue;
          ctx.strokeStyle = m.kind === 'model' ? t.warn : t.err;
          ctx.fillStyle = ctx.strokeStyle;
          ctx.lineWidth = devicePixelRatio;
          ctx.setLineDash(m.kind === 'model' ? [4 * devicePixelRatio, 3 * devicePixelRatio] : []);
          ctx.beginPath();
          ctx.moveTo(x + 0.5, bbox.top);
          ctx.lineTo(x + 0.5, bbox.top + bbox.height);
          ctx.stroke();
          const s = 5 * devicePixelRatio;
          ctx.beginPath(); // a small flag at the top so it reads as a marker, not a data line
          ctx.moveTo(x - s, bbox.top);
          ctx.lineTo(x + s, bbox.top);
          ctx.lineTo(x, bbox.top + s * 1.4);
          ctx.fill();
        }
        ctx.restore();
      }],
    },
  };
}

/**
 * A session's requests on a time axis, two charts sharing the cursor:
 *  - cost per request (bars, left axis) and cumulative cost (line, right axis);
 *  - context size per request (input + cache read + cache write, left) and cache hit rate (right).
 * Model changes (dashed) and alerts (solid) are vertical markers on both. onSelect(index)
 * is called when a request is clicked.
 */
export function sessionCharts(container, { onSelect } = {}) {
  let markers = [];
  const syncKey = 'session-' + Math.random().toString(36).slice(2);
  const common = (t, width, height) => ({
    width, height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), clock.tz),
    cursor: { sync: { key: syncKey }, points: { size: 6 }, drag: { x: true, y: false } },
    plugins: [markerPlugin(() => markers, t)],
    hooks: {
      ready: [(u) => {
        u.over.addEventListener('click', () => {
          if (onSelect && u.cursor.idx !== null && u.cursor.idx !== undefined) onSelect(u.cursor.idx);
        });
      }],
    },
  });
  const timeSeries = { label: 'Time', value: (u, v) => (v == null ? '' : dateTime(v * 1000, clock.tz, true)) };
  const cost = new Chart(container, 220, (t, width, height) => ({
    ...common(t, width, height),
    scales: { x: { time: true }, y: { range: (u, a, b) => [0, b > 0 ? b * 1.1 : 0.01] }, cum: { range: (u, a, b) => [0, b > 0 ? b * 1.05 : 0.01] } },
    axes: [axis(t, { values: timeAxis }), axis(t, { values: moneyAxis, size: 58, label: 'per request', labelSize: 14, labelFont: '11px system-ui' }),
      axis(t, { scale: 'cum', side: 1, grid: { show: false }, values: moneyAxis, size: 58, label: 'cumulative', labelSize: 14, labelFont: '11px system-ui' })],
    series: [timeSeries,
      { label: 'Cost', stroke: t.accent, fill: t.accentFill, paths: uPlot.paths.bars({ size: [0.8, 8, 1.5], align: 0 }), points: { show: false }, value: (u, v, si, i) => (i == null ? '' : v == null ? 'unpriced' : usd4(v)) },
      { label: 'Cumulative', scale: 'cum', stroke: t.second, width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false }, value: (u, v) => (v == null ? '' : usd(v)) }],
  }));
  const ctxc = new Chart(container, 200, (t, width, height) => ({
    ...common(t, width, height),
    scales: { x: { time: true }, y: { range: (u, a, b) => [0, b > 0 ? b * 1.1 : 1] }, rate: { range: [0, 1] } },
    axes: [axis(t, { values: timeAxis }), axis(t, { values: (u, vals) => vals.map(compact), size: 58, label: 'context tokens', labelSize: 14, labelFont: '11px system-ui' }),
      axis(t, { scale: 'rate', side: 1, grid: { show: false }, values: (u, vals) => vals.map((v) => pct(v, 0)), size: 58, label: 'cache hit', labelSize: 14, labelFont: '11px system-ui' })],
    series: [timeSeries,
      { label: 'Context', stroke: t.third, fill: t.grid, width: 1.5, points: { show: false }, value: (u, v) => (v == null ? '' : compact(v)) },
      { label: 'Cache hit', scale: 'rate', stroke: t.accent, width: 1, dash: [3, 3], points: { show: false }, value: (u, v) => (v == null ? '' : pct(v)) }],
  }));
  return {
    update(requests, marks) {
      markers = marks;
      const x = requests.map((r) => r.ts_ms / 1000);
      let cum = 0;
      const cumul = requests.map((r) => (cum += r.cost_usd || 0));
      const shape = 'session';
      cost.set([x, requests.map((r) => r.cost_usd), cumul], shape);
      ctxc.set([x, requests.map((r) => r.context), requests.map((r) => r.hit)], shape);
    },
  };
}
