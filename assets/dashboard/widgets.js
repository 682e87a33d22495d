// Small pieces several pages use: the date-range form, budget gauges, sparklines.
import { clock, range, setParams } from './core.js';
import { h, s } from './dom.js';
import { addDays, isDay, pct, usd, usdMarked } from './fmt.js';

/**
 * Since/until date inputs and a few presets. Changing them rewrites the query string
 * (bookmarkable, `history.replaceState`) and calls onChange; no reload.
 */
export function rangeControl({ days, onChange, presets = [7, 30, 90, 365] }) {
  const since = h('input', { type: 'date', id: 'since', name: 'since', 'data-testid': 'since', required: true });
  const until = h('input', { type: 'date', id: 'until', name: 'until', 'data-testid': 'until', required: true });
  const apply = (a, b) => {
    if (!isDay(a) || !isDay(b)) return;
    if (a > b) [a, b] = [b, a];
    setParams({ since: a, until: b });
    sync();
    onChange();
  };
  for (const el of [since, until]) el.addEventListener('change', () => apply(since.value, until.value));
  const buttons = presets.map((n) => h('button', {
    type: 'button', class: 'preset', 'data-days': n,
    onclick: () => { const t = clock.today(); apply(addDays(t, -(n - 1)), t); },
  }, n === 365 ? '1y' : n + 'd'));
  const el = h('form', { class: 'range', role: 'search', 'aria-label': 'Date range', onsubmit: (e) => e.preventDefault() },
    h('label', { for: 'since' }, 'From'), since,
    h('label', { for: 'until' }, 'to'), until,
    h('span', { class: 'presets' }, buttons));
  function sync() {
    const r = range(days);
    since.value = r.since;
    until.value = r.until;
    until.max = clock.today();
    for (const b of buttons) {
      const n = Number(b.dataset.days);
      b.setAttribute('aria-pressed', String(r.until === clock.today() && r.since === addDays(r.until, -(n - 1))));
    }
    return r;
  }
  sync();
  return { el, get: () => range(days), sync };
}

/**
 * A budget gauge: spent so far (filled), the forecast band low..high (shaded) with its mid
 * (tick), the alert thresholds and the limit.
 */
export function gauge(b) {
  const limit = b.limit_usd > 0 ? b.limit_usd : 1;
  const f = b.forecast;
  const frac = b.spent_usd / limit;
  const max = Math.max(1, frac, f ? f.high_usd / limit : 0) * 1.04;
  const x = (v) => Math.max(0, Math.min(300, (v / max) * 300));
  const title = `${usdMarked(b.spent_usd, b.has_unpriced)} of ${usd(b.limit_usd)} (${pct(frac, 0)})` +
    (f ? `; forecast ${usd(f.low_usd)}–${usd(f.high_usd)}, likely ${usd(f.mid_usd)}` : '');
  return s('svg', { class: 'gauge state-' + b.state, viewBox: '0 0 300 16', preserveAspectRatio: 'none', role: 'img', 'aria-label': title },
    s('title', null, title),
    s('rect', { class: 'track', x: 0, y: 3, width: 300, height: 10, rx: 2 }),
    f ? s('rect', { class: 'band', x: x(f.low_usd / limit), y: 1, width: Math.max(1, x(f.high_usd / limit) - x(f.low_usd / limit)), height: 14 }) : null,
    s('rect', { class: 'spent', x: 0, y: 3, width: x(frac), height: 10, rx: 2 }),
    f ? s('line', { class: 'mid', x1: x(f.mid_usd / limit), x2: x(f.mid_usd / limit), y1: 0, y2: 16 }) : null,
    (b.thresholds || []).filter((t) => t < 1).map((t) => s('line', { class: 'threshold', x1: x(t), x2: x(t), y1: 3, y2: 13 })),
    s('line', { class: 'limit', x1: x(1), x2: x(1), y1: 0, y2: 16 }));
}

/** A sparkline of daily values (missing days are 0). */
export function sparkline(values, { width = 120, height = 24, label = '' } = {}) {
  const n = values.length;
  const max = Math.max(...values, 0);
  const px = (i) => (n <= 1 ? width / 2 : (i / (n - 1)) * (width - 2) + 1);
  const py = (v) => height - 2 - (max > 0 ? (v / max) * (height - 4) : 0);
  const pts = values.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`);
  const area = n ? `M${px(0).toFixed(1)},${height - 1} L${pts.join(' L')} L${px(n - 1).toFixed(1)},${height - 1} Z` : '';
  return s('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    s('title', null, label),
    n ? s('path', { class: 'area', d: area }) : null,
    n ? s('polyline', { class: 'line', points: pts.join(' ') }) : null,
    n ? s('circle', { class: 'dot', cx: px(n - 1), cy: py(values[n - 1]), r: 1.8 }) : null);
}

/** A horizontal share bar (fraction 0..1) for "by tool / provider / model" tables. */
export function shareBar(fraction) {
  const w = Math.max(0, Math.min(1, fraction || 0));
  return h('span', { class: 'share', 'aria-hidden': 'true' }, h('span', { style: { width: (w * 100).toFixed(1) + '%' } }));
}
