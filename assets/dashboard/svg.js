// Charts drawn as SVG by hand: the squarified treemap, the calendar heatmap and the stacked
// context-composition bars. squarify() has no DOM dependency (unit-tested under Node).
import { s } from './dom.js';
import { compact, dayRange, usdMarked, weekday } from './fmt.js';

function worst(areas, side) {
  let sum = 0;
  let max = 0;
  let min = Infinity;
  for (const a of areas) {
    sum += a;
    if (a > max) max = a;
    if (a < min) min = a;
  }
  const s2 = side * side;
  const sum2 = sum * sum;
  return Math.max((s2 * max) / sum2, sum2 / (s2 * min));
}

/**
 * Squarified treemap layout (Bruls, Huizing, van Wijk): items [{value}] in the rectangle
 * x, y, w, h; returns [{item, x, y, w, h}] in the order given (largest first is best).
 * Items with a value <= 0 get no rectangle.
 */
export function squarify(items, x, y, w, h) {
  const pos = items.filter((it) => it.value > 0);
  const total = pos.reduce((a, it) => a + it.value, 0);
  const out = [];
  if (!(total > 0) || !(w > 0) || !(h > 0)) return out;
  const scale = (w * h) / total;
  let rest = pos.map((item) => ({ item, area: item.value * scale }));
  while (rest.length) {
    const side = Math.min(w, h);
    let n = 1;
    while (n < rest.length) {
      const cur = rest.slice(0, n).map((r) => r.area);
      if (worst([...cur, rest[n].area], side) > worst(cur, side)) break;
      n += 1;
    }
    const row = rest.slice(0, n);
    rest = rest.slice(n);
    const rowArea = row.reduce((a, r) => a + r.area, 0);
    if (rest.length === 0) {
      // The last row fills what is left exactly (no gaps from rounding).
      if (w >= h) {
        let yy = y;
        for (const r of row) { const rh = (r.area / rowArea) * h; out.push({ item: r.item, x, y: yy, w, h: rh }); yy += rh; }
      } else {
        let xx = x;
        for (const r of row) { const rw = (r.area / rowArea) * w; out.push({ item: r.item, x: xx, y, w: rw, h }); xx += rw; }
      }
      break;
    }
    if (w >= h) { // a column on the left
      const cw = rowArea / h;
      let yy = y;
      for (const r of row) { const rh = r.area / cw; out.push({ item: r.item, x, y: yy, w: cw, h: rh }); yy += rh; }
      x += cw;
      w -= cw;
    } else { // a row on top
      const rh = rowArea / w;
      let xx = x;
      for (const r of row) { const rw = r.area / rh; out.push({ item: r.item, x: xx, y, w: rw, h: rh }); xx += rw; }
      y += rh;
      h -= rh;
    }
  }
  return out;
}

/** Text cut to fit a width at ~11px sans (an estimate: no layout pass). */
export function fit(text, width, charPx = 6.4) {
  const n = Math.floor((width - 6) / charPx);
  if (n <= 1) return '';
  return text.length <= n ? text : text.slice(0, Math.max(1, n - 1)) + '…';
}

const PALETTE = 8;

/**
 * The spend treemap: repository -> session -> model (or, zoomed into one repository,
 * session -> model). `repoHref(name)` and `sessionHref(id)` make the links.
 */
export function spendTreemap(root, { width, height, zoomed, repoHref, sessionHref, workspaceHref }) {
  const svg = s('svg', { class: 'treemap', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Spend treemap' });
  const repos = zoomed ? [root] : root.children || [];
  const layout = zoomed
    ? [{ item: root, x: 0, y: 0, w: width, h: height }]
    : squarify(repos.map((r) => ({ ...r, value: r.cost_usd })), 0, 0, width, height);
  const order = new Map(repos.map((r, i) => [r.name, i]));
  // Zoomed into one repository, sessions are coloured by tool instead.
  const tools = new Map();
  if (zoomed) for (const c of root.children || []) if (!tools.has(c.tool)) tools.set(c.tool, tools.size);
  layout.forEach((cell) => {
    const repo = cell.item;
    const color = 'c' + ((order.get(repo.name) || 0) % PALETTE);
    const g = s('g', { class: 'repo ' + (zoomed ? 'c0' : color), 'data-name': repo.name, 'data-value': repo.cost_usd });
    const head = cell.h > 40 && cell.w > 40 ? 18 : 0;
    const label = `${repo.name}: ${usdMarked(repo.cost_usd, repo.has_unpriced)}`;
    const link = s('a', { href: zoomed ? workspaceHref(repo.name) : repoHref(repo.name), class: 'repo-link' },
      s('title', null, label + (zoomed ? ' (open the workspace history)' : ' (click to zoom in)')),
      s('rect', { class: 'repo-bg', x: cell.x, y: cell.y, width: Math.max(0, cell.w), height: Math.max(0, cell.h) }),
      head ? s('text', { class: 'repo-label', x: cell.x + 4, y: cell.y + 13 }, fit(label, cell.w)) : null);
    g.append(link);
    const pad = head ? 2 : 1;
    const inner = squarify((repo.children || []).map((c) => ({ ...c, value: c.cost_usd })),
      cell.x + pad, cell.y + head + pad, cell.w - 2 * pad, cell.h - head - 2 * pad);
    for (const sc of inner) {
      const sess = sc.item;
      const sl = `${repo.name} › ${sess.name} (${sess.tool || '?'}): ${usdMarked(sess.cost_usd, sess.has_unpriced)}`;
      const a = s('a', { href: sessionHref(sess.name), class: 'session' + (zoomed ? ' c' + (tools.get(sess.tool) % PALETTE) : ''), 'data-name': sess.name, 'data-value': sess.cost_usd },
        s('title', null, sl));
      a.append(s('rect', { class: 'session-bg', x: sc.x, y: sc.y, width: Math.max(0, sc.w), height: Math.max(0, sc.h) }));
      const models = squarify((sess.children || []).map((m) => ({ ...m, value: m.cost_usd })), sc.x + 1, sc.y + 1, sc.w - 2, sc.h - 2);
      models.forEach((mc, j) => {
        const m = mc.item;
        a.append(s('rect', { class: 'model m' + (j % 4), x: mc.x, y: mc.y, width: Math.max(0, mc.w), height: Math.max(0, mc.h), 'data-name': m.name, 'data-value': m.cost_usd },
          s('title', null, `${sl}\n${m.name}: ${usdMarked(m.cost_usd, m.has_unpriced)}`)));
      });
      if (sc.w > 46 && sc.h > 26) {
        a.append(s('text', { class: 'cell-label', x: sc.x + 4, y: sc.y + 13 }, fit(`${sess.tool || ''} ${usdMarked(sess.cost_usd, sess.has_unpriced)}`.trim(), sc.w)));
        if (sc.h > 40) {
          const ml = (sess.children || []).filter((m) => m.cost_usd > 0).map((m) => m.name).join(', ');
          a.append(s('text', { class: 'cell-sub', x: sc.x + 4, y: sc.y + 26 }, fit(ml, sc.w, 5.8)));
        }
      }
      g.append(a);
    }
    svg.append(g);
  });
  return svg;
}

/**
 * A calendar heatmap of daily spend: weeks as columns (Monday on top), one cell per day from
 * since to until. values: Map(day -> {cost, unpriced}). dayHref(day) links a cell;
 * onPick(day, event) may intercept the click.
 */
export function heatmap({ since, until, values, selected, dayHref, onPick }) {
  const days = dayRange(since, until);
  const cell = 13;
  const gap = 3;
  const left = 28;
  const top = 16;
  const first = weekday(since);
  const cols = Math.ceil((first + days.length) / 7);
  const width = left + cols * (cell + gap);
  const height = top + 7 * (cell + gap) + 2;
  const max = Math.max(0, ...[...values.values()].map((v) => v.cost));
  const svg = s('svg', { class: 'heatmap', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Daily spend calendar' });
  for (const [row, name] of [[0, 'Mon'], [2, 'Wed'], [4, 'Fri'], [6, 'Sun']]) {
    svg.append(s('text', { class: 'axis', x: 0, y: top + row * (cell + gap) + cell - 2 }, name));
  }
  let lastMonth = '';
  days.forEach((d, i) => {
    const k = first + i;
    const col = Math.floor(k / 7);
    const row = k % 7;
    const x = left + col * (cell + gap);
    const y = top + row * (cell + gap);
    const month = d.slice(0, 7);
    if (month !== lastMonth && (row === 0 || i === 0)) {
      if (col * (cell + gap) + 30 <= width) {
        const name = new Date(d + 'T00:00:00Z').toLocaleString('en', { month: 'short', timeZone: 'UTC' });
        svg.append(s('text', { class: 'axis', x, y: 11 }, name));
      }
      lastMonth = month;
    }
    const v = values.get(d);
    const cost = v ? v.cost : 0;
    const level = cost > 0 && max > 0 ? Math.max(1, Math.ceil(4 * Math.sqrt(cost / max))) : 0;
    const label = `${d}: ${v ? usdMarked(cost, v.unpriced) : 'no usage'}`;
    const rect = s('rect', {
      class: `day lvl${level}` + (v && v.unpriced ? ' unpriced' : '') + (selected === d ? ' selected' : ''),
      x, y, width: cell, height: cell, rx: 2, 'data-day': d, 'data-value': cost,
    }, s('title', null, label));
    const a = s('a', { href: dayHref(d), 'aria-label': label }, rect);
    if (onPick) a.addEventListener('click', (e) => onPick(d, e));
    svg.append(a);
  });
  return svg;
}

/** Category names of a request's context composition, in stacking order. */
export const CATEGORIES = ['system_and_tools', 'user', 'assistant', 'thinking', 'tool_calls', 'tool_results', 'images', 'compaction_summary'];

export const CATEGORY_LABELS = {
  system_and_tools: 'System & tools', user: 'User', assistant: 'Assistant', thinking: 'Thinking',
  tool_calls: 'Tool calls', tool_results: 'Tool results', images: 'Images', compaction_summary: 'Compaction summary',
};

/** The category of each kind of a stored split (`ctx.parts[].kind`, docs/composition.md). */
export const KIND_CATEGORY = {
  system: 'system_and_tools', user: 'user', assistant: 'assistant', thinking: 'thinking',
  tool_call: 'tool_calls', tool_result: 'tool_results', image: 'images', summary: 'compaction_summary',
};

/**
 * A request's stored split (`/api/session` requests[].ctx: {parts: [{kind, tool, tokens}]})
 * as the composition the charts draw: {estimated: true, categories}, tool results per tool.
 * `null` for a request without a split. The split is always an estimate.
 */
export function ctxComposition(ctx) {
  if (!ctx || !Array.isArray(ctx.parts)) return null;
  const categories = {};
  for (const p of ctx.parts) {
    const c = KIND_CATEGORY[p.kind];
    if (!c || typeof p.tokens !== 'number') continue;
    if (c === 'tool_results') {
      const t = categories.tool_results || (categories.tool_results = {});
      const name = p.tool || '(no tool name)';
      t[name] = (t[name] || 0) + p.tokens;
    } else categories[c] = (categories[c] || 0) + p.tokens;
  }
  return { estimated: true, categories };
}

/** A part's short name, as the CLI's: `system`, `Read` (a tool result), `calls`. */
export function partName(kind, tool) {
  if (kind === 'tool_result') return tool || 'results';
  return { system: 'system', tool_call: 'calls', image: 'images', summary: 'summary' }[kind] || kind;
}

/** "system 41% · Read 22% · calls 12%": the `n` largest parts of a split, as shares. */
export function splitWords(ctx, n = 3) {
  const parts = (ctx && ctx.parts) || [];
  const total = parts.reduce((a, p) => a + p.tokens, 0);
  if (!total) return '';
  return parts.slice().sort((a, b) => b.tokens - a.tokens).slice(0, n)
    .map((p) => `${partName(p.kind, p.tool)} ${Math.round((p.tokens * 100) / total)}%`).join(' · ');
}

/** A category's tokens: a number, or the sum of a per-tool object (tool_results). */
export function categoryTokens(v) {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object') return Object.values(v).reduce((a, x) => a + (typeof x === 'number' ? x : 0), 0);
  return 0;
}

/**
 * One stacked bar per request of its context split into categories; requests without a
 * composition leave a gap. onSelect(index) on click; `selected` is outlined. With more
 * requests than fit (3 px a bar), each bar stands for a run of requests and shows the last one
 * of the run that has a composition (context grows along a session, so the last is typical).
 */
export function compositionBars(requests, { width, height = 150, selected, onSelect }) {
  const left = 44;
  const plotW = Math.max(10, width - left - 4);
  const plotH = height - 16;
  const per = Math.max(1, Math.ceil(requests.length / Math.floor(plotW / 3)));
  const bars = []; // [index of the request shown, first index of the run, last index]
  for (let a = 0; a < requests.length; a += per) {
    const b = Math.min(requests.length, a + per) - 1;
    let i = b;
    while (i > a && !requests[i].composition) i -= 1;
    bars.push([i, a, b]);
  }
  const n = bars.length;
  const totalOf = (r) => (r.composition ? CATEGORIES.reduce((a, c) => a + categoryTokens(r.composition.categories[c]), 0) : 0);
  const max = Math.max(1, ...bars.map(([i]) => totalOf(requests[i])));
  const bw = plotW / Math.max(1, n);
  const svg = s('svg', { class: 'composition', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Context composition per request' });
  for (const f of [0, 0.5, 1]) {
    const y = 4 + plotH * (1 - f);
    svg.append(s('line', { class: 'gridline', x1: left, x2: width - 4, y1: y, y2: y }));
    svg.append(s('text', { class: 'axis', x: left - 4, y: y + 4, 'text-anchor': 'end' }, compact(max * f)));
  }
  bars.forEach(([i, first, last], k) => {
    const r = requests[i];
    if (!r.composition) return;
    const g = s('g', { class: 'bar' + (typeof selected === 'number' && selected >= first && selected <= last ? ' selected' : ''), 'data-index': i });
    let y = 4 + plotH;
    const x = left + k * bw;
    const w = Math.max(0.8, bw - (bw > 4 ? 1 : 0));
    const parts = [];
    for (const c of CATEGORIES) {
      const v = categoryTokens(r.composition.categories[c]);
      if (!v) continue;
      const hgt = (v / max) * plotH;
      y -= hgt;
      g.append(s('rect', { class: 'cat-' + c, x, y, width: w, height: hgt, 'data-cat': c, 'data-value': v }));
      parts.push(`${CATEGORY_LABELS[c]} ${compact(v)}`);
    }
    const which = first === last ? `#${i + 1}` : `#${i + 1} (of #${first + 1}–#${last + 1})`;
    g.append(s('rect', { class: 'hit', x, y: 4, width: Math.max(bw, 1), height: plotH },
      s('title', null, `${which}: ${compact(totalOf(r))} tokens${r.composition.estimated ? ' (estimated)' : ''}\n${parts.join('\n')}`)));
    if (onSelect) g.addEventListener('click', () => onSelect(i));
    svg.append(g);
  });
  return svg;
}

/** A treemap of one request's context: categories, tool results split per tool. */
export function compositionTreemap(composition, { width, height }) {
  const svg = s('svg', { class: 'treemap ctx-treemap', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Context of the selected request' });
  const cats = CATEGORIES.map((c) => ({ name: c, value: categoryTokens(composition.categories[c]), raw: composition.categories[c] }));
  for (const cell of squarify(cats.sort((a, b) => b.value - a.value), 0, 0, width, height)) {
    const c = cell.item;
    const label = `${CATEGORY_LABELS[c.name]}: ${compact(c.value)}`;
    const g = s('g', { class: 'cat-' + c.name, 'data-name': c.name, 'data-value': c.value });
    g.append(s('rect', { x: cell.x, y: cell.y, width: cell.w, height: cell.h, class: 'cat-bg' }, s('title', null, label)));
    if (c.raw && typeof c.raw === 'object') {
      const tools = Object.entries(c.raw).map(([name, v]) => ({ name, value: v })).sort((a, b) => b.value - a.value);
      const head = cell.h > 36 ? 16 : 0;
      for (const t of squarify(tools, cell.x + 2, cell.y + head + 2, cell.w - 4, cell.h - head - 4)) {
        g.append(s('rect', { class: 'tool', x: t.x, y: t.y, width: t.w, height: t.h, 'data-name': t.item.name, 'data-value': t.item.value }, s('title', null, `${label}\n${t.item.name}: ${compact(t.item.value)}`)));
        if (t.w > 40 && t.h > 18) g.append(s('text', { class: 'cell-label', x: t.x + 3, y: t.y + 12 }, fit(`${t.item.name} ${compact(t.item.value)}`, t.w)));
      }
      if (head) g.append(s('text', { class: 'cell-label', x: cell.x + 4, y: cell.y + 12 }, fit(label, cell.w)));
    } else if (cell.w > 40 && cell.h > 18) {
      g.append(s('text', { class: 'cell-label', x: cell.x + 4, y: cell.y + 13 }, fit(label, cell.w)));
    }
    svg.append(g);
  }
  return svg;
}
