// One session: every request on a timeline (cost, cumulative cost, context size, cache hit
// rate), model changes and alerts marked where they happened, and, for the requests that have
// a split (`ctx`, estimated: docs/composition.md), the context split per request, a treemap of
// one request and what each kind of content cost over the session (`composition`).
import { api, clock, params, setParams } from '../core.js';
import { Table, errorBlock, figure, fill, h, setError, setFigure, setMoney } from '../dom.js';
import { UNPRICED_TITLE, cacheHitRate, compact, contextSize, dateTime, duration, int, pct, perHour, rate, timeOf, usd, usd4 } from '../fmt.js';
import { sessionCharts } from '../charts.js';
import { CATEGORIES, CATEGORY_LABELS, categoryTokens, compositionBars, compositionTreemap, ctxComposition, KIND_CATEGORY, splitWords } from '../svg.js';
import { attempt, repoLink, section, shortId } from './common.js';

/** Requests with their derived figures: context, cache hit, cumulative cost, markers. */
export function derive(s) {
  const reqs = (s.requests || []).slice().sort((a, b) => a.ts_ms - b.ts_ms);
  // A marker belongs to the first request at or after it (the last one when it came later).
  const owner = (m) => {
    const i = reqs.findIndex((r) => r.ts_ms >= m.ts_ms);
    return i < 0 ? reqs.length - 1 : i;
  };
  const changes = new Map();
  const alerts = new Map();
  for (const m of s.model_changes || []) changes.set(owner(m), [...(changes.get(owner(m)) || []), m]);
  for (const m of s.alerts || []) alerts.set(owner(m), [...(alerts.get(owner(m)) || []), m]);
  let cum = 0;
  let cumUnpriced = false;
  return reqs.map((r, i) => {
    cum += typeof r.cost_usd === 'number' ? r.cost_usd : 0;
    cumUnpriced = cumUnpriced || typeof r.cost_usd !== 'number';
    return {
      ...r,
      n: i + 1,
      context: contextSize(r),
      hit: cacheHitRate(r),
      cumulative: cum,
      cumulative_unpriced: cumUnpriced,
      composition: ctxComposition(r.ctx),
      changes: changes.get(i) || [],
      alerts: alerts.get(i) || [],
    };
  });
}

const KIND_CATEGORY_OF = (kind) => KIND_CATEGORY[kind] || kind;

export function mount(root) {
  const id = params().get('id') || '';
  document.title = 'Session ' + shortId(id) + ' · tokwatch';
  if (!id) {
    fill(root, h('h1', null, 'Session'), errorBlock('No session chosen: open one from a workspace or the overview (the URL needs ?id=...).'));
    return { relevant: () => false, async refresh() {} };
  }
  const meta = h('p', { class: 'meta', 'data-testid': 'session-meta' });
  const f = {
    cost: figure('session-cost'), requests: figure('session-requests'), duration: figure('session-duration'),
    perHour: figure('session-usd-per-hour'), hit: figure('session-cache-hit'), peak: figure('session-context-peak'),
    models: figure('session-models'),
  };
  const [chartSec, chartBody] = section('Requests over time', { id: 'timeline-sec' });
  const chartMsg = h('div');
  const chartBox = h('div');
  const markerList = h('ul', { class: 'markers', 'data-testid': 'markers' });
  chartBody.append(chartMsg, chartBox, markerList);
  let selected = null;
  const select = (i) => {
    selected = i;
    setParams({ req: i === null ? null : i + 1 });
    if (i !== null && !requests.showAll && requests.limit && !requests.body.querySelector(`tr[data-key="${i + 1}"]`)) {
      requests.showAll = true;
      requests.update(rows);
    }
    renderComposition();
    markSelected();
  };
  const charts = sessionCharts(chartBox, { onSelect: (i) => select(i) });

  const [compSec, compBody] = section('Context composition', { id: 'composition-sec' });
  const compNote = h('p', { class: 'hint' });
  const compBars = h('div', { class: 'treemap-box' });
  const compDetail = h('div', { class: 'grid2' });
  // What each kind of content cost over the session: each request's input cost (its price
  // without output) shared out by its split, summed (computed by the server, as `tokwatch
  // session` does). A tool result kept in the context costs again on every later request.
  const costNote = h('p', { class: 'hint', 'data-testid': 'composition-cost-note' });
  const costTable = new Table({
    testid: 'composition-costs', key: (c) => c.kind + (c.tool ? '.' + c.tool : ''), sort: { field: 'cost_usd', dir: -1 },
    columns: [
      { field: 'label', label: 'Part', value: (c) => c.label, text: (c) => h('span', { class: 'cat-' + c.category }, c.label) },
      { field: 'avg_tokens', label: 'Avg per request', num: true, title: 'estimated tokens per request that has a split', value: (c) => c.avg_tokens, text: (c) => '~' + compact(c.avg_tokens) },
      { field: 'tokens', label: 'All requests', num: true, title: 'estimated tokens summed over the requests with a split', value: (c) => c.tokens, text: (c) => '~' + int(c.tokens) },
      {
        field: 'cost_usd', label: 'Input cost (est.)', num: true, value: (c) => c.cost_usd,
        text: (c) => (c.cost_usd === null || c.cost_usd === undefined ? h('span', { class: 'badge unpriced', title: 'some of these requests have no computed price' }, 'unpriced') : usd4(c.cost_usd)),
      },
    ],
  });
  compBody.append(compNote,
    h('ul', { class: 'cat-legend', 'data-testid': 'composition-legend' }, CATEGORIES.map((c) => h('li', { class: 'cat-' + c }, CATEGORY_LABELS[c]))),
    compBars, compDetail,
    h('h3', { class: 'small' }, 'What each part cost over the session (estimated)'), costNote, costTable.wrap);
  compSec.hidden = true;
  const compTable = new Table({
    testid: 'composition', key: (r) => r.key, sort: { field: 'tokens', dir: -1 },
    columns: [
      { field: 'category', label: 'Category', value: (r) => r.label },
      { field: 'tokens', label: 'Tokens', num: true, value: (r) => r.tokens, text: (r) => int(r.tokens) },
      { field: 'share', label: 'Share', num: true, value: (r) => r.share, text: (r) => pct(r.share) },
    ],
  });

  const requests = new Table({
    // The charts show every request; the table its first 100 in the chosen order, and all of
    // them on "Show all" (or when a request further down is picked on a chart).
    testid: 'requests', key: (r) => String(r.n), sort: { field: 'n', dir: 1 }, limit: 100,
    empty: 'This session has no requests.',
    columns: [
      { field: 'n', label: '#', num: true, value: (r) => r.n },
      { field: 'ts_ms', label: 'Time', num: true, value: (r) => r.ts_ms, text: (r) => h('span', { title: dateTime(r.ts_ms, clock.tz, true) }, timeOf(r.ts_ms, clock.tz)) },
      {
        field: 'model', label: 'Model', value: (r) => r.model,
        text: (r) => h('span', null, r.model || h('span', { class: 'muted' }, '(unknown)'),
          r.requests > 1 ? [' ', h('span', { class: 'badge', 'data-testid': 'record-requests', title: "one record of the tool's log that stands for this many requests (Copilot CLI counts tokens per session block): its figures are theirs added up" }, `${int(r.requests)} requests`)] : [],
          r.changes.map((c) => [' ', h('span', { class: 'badge model', title: `model changed from ${c.from} to ${c.to}` }, 'changed')]),
          r.alerts.map((a) => [' ', h('span', { class: 'badge alert', title: a.message }, 'alert')])),
      },
      { field: 'input', label: 'Input', num: true, value: (r) => r.input, text: (r) => int(r.input) },
      { field: 'cache_write', label: 'Cache write', num: true, title: '5-minute + 1-hour cache writes', value: (r) => (r.cache_write_5m || 0) + (r.cache_write_1h || 0), text: (r) => int((r.cache_write_5m || 0) + (r.cache_write_1h || 0)) },
      { field: 'cache_read', label: 'Cache read', num: true, value: (r) => r.cache_read, text: (r) => int(r.cache_read) },
      { field: 'output', label: 'Output', num: true, value: (r) => r.output, text: (r) => int(r.output) },
      { field: 'context', label: 'Context', num: true, title: 'input + cache read + cache write', value: (r) => r.context, text: (r) => int(r.context) },
      {
        field: 'split', label: 'Split (estimated)', title: 'the three largest parts of the context, estimated from the log', sort: false,
        value: (r) => (r.composition ? splitWords(r.ctx) : null),
        text: (r) => (r.composition ? h('span', { class: 'split' }, '~ ' + splitWords(r.ctx))
          : h('span', { class: 'muted', title: 'the log does not show what this request read (a chain that starts in another file, or a tool whose log holds no messages)' }, 'no split')),
      },
      { field: 'cache_hit', label: 'Cache hit', num: true, value: (r) => r.hit, text: (r) => (r.hit === null ? '' : pct(r.hit)) },
      {
        field: 'cost_usd', label: 'Cost', num: true, value: (r) => r.cost_usd,
        text: (r) => (r.cost_usd === null || r.cost_usd === undefined ? h('span', { class: 'badge unpriced', title: 'no known price for this model' }, 'unpriced')
          : h('span', { title: r.cost_source === 'computed' ? null : r.cost_source }, usd4(r.cost_usd) + (r.cost_source === 'estimated' ? '~' : ''))),
      },
      { field: 'cumulative', label: 'Cumulative', num: true, value: (r) => r.cumulative, text: (r) => (r.cumulative_unpriced ? h('span', { title: UNPRICED_TITLE }, usd(r.cumulative) + '+') : usd(r.cumulative)) },
      { field: 'cost_source', label: 'Priced', value: (r) => r.cost_source },
    ],
  });
  requests.body.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-key]');
    if (tr && !e.target.closest('a,button')) select(Number(tr.dataset.key) - 1);
  });
  const [reqSec, reqBody] = section('Requests', { id: 'requests-sec' });
  // Requests older than `[storage] keep_events_days` are in the totals, not in the timeline.
  const prunedNote = h('p', { class: 'note', 'data-testid': 'pruned-note', hidden: true });
  reqBody.append(prunedNote, requests.wrap);

  fill(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Session ', h('span', { class: 'mono', title: id }, shortId(id))), meta),
    h('dl', { class: 'figures' },
      h('div', null, h('dt', null, 'Cost'), h('dd', null, f.cost)),
      h('div', null, h('dt', null, 'Requests'), h('dd', null, f.requests)),
      h('div', null, h('dt', null, 'Duration'), h('dd', null, f.duration)),
      h('div', null, h('dt', null, 'Cost per hour'), h('dd', null, f.perHour)),
      h('div', null, h('dt', null, 'Cache hit rate'), h('dd', null, f.hit)),
      h('div', null, h('dt', null, 'Peak context'), h('dd', null, f.peak)),
      h('div', null, h('dt', null, 'Models'), h('dd', null, f.models))),
    chartSec, compSec, reqSec);

  let rows = [];
  let summary = null; // the session's `composition` (per-category tokens and input cost)

  function markSelected() {
    for (const tr of requests.body.querySelectorAll('tr.selected')) tr.classList.remove('selected');
    if (selected !== null) {
      const tr = requests.body.querySelector(`tr[data-key="${selected + 1}"]`);
      if (tr) tr.classList.add('selected');
    }
  }

  function renderComposition() {
    const withComp = rows.filter((r) => r.composition);
    compSec.hidden = withComp.length === 0;
    if (!withComp.length) return;
    const width = Math.max(320, compBody.clientWidth || 900);
    // The selected request, or the last one that has a composition.
    let sel = selected !== null && rows[selected] && rows[selected].composition ? selected : null;
    if (sel === null) sel = rows.lastIndexOf(withComp[withComp.length - 1]);
    compNote.textContent = `Estimated from the logs: sizes are measured from text lengths and scaled to each request's exact input. ${withComp.length} of ${rows.length} requests have a split` +
      (withComp.length < rows.length ? ` (${rows.length - withComp.length} have none: a gap in the bars, "no split" in the table)` : '') +
      '. Click a bar (or a row of the table, or a point on the charts) to see one request\'s context.';
    // A chosen request without a split says so (the bars keep their gap for it).
    const none = selected !== null && rows[selected] && !rows[selected].composition ? selected : null;
    fill(compBars, compositionBars(rows, { width, selected: none === null ? sel : null, onSelect: (i) => select(i) }));
    renderCosts();
    if (none !== null) {
      fill(compDetail, h('p', { class: 'note', 'data-testid': 'composition-request', 'data-value': none + 1, 'data-split': 'none' },
        `Request #${none + 1} at ${timeOf(rows[none].ts_ms, clock.tz)} has no split: the log does not show what it read (a chain that starts in another file, such as a compaction call).`));
      return;
    }
    const r = rows[sel];
    const cats = r.composition.categories;
    const total = CATEGORIES.reduce((a, c) => a + categoryTokens(cats[c]), 0);
    const list = [];
    for (const c of CATEGORIES) {
      const v = cats[c];
      if (v && typeof v === 'object') {
        for (const [tool, n] of Object.entries(v)) list.push({ key: `${c}.${tool}`, label: `${CATEGORY_LABELS[c]}: ${tool}`, tokens: n, share: total ? n / total : 0 });
      } else if (typeof v === 'number' && v > 0) list.push({ key: c, label: CATEGORY_LABELS[c], tokens: v, share: total ? v / total : 0 });
    }
    compTable.update(list, { key: 'total', label: 'Total', tokens: total, share: 1 });
    const tmW = Math.max(280, Math.floor(width / 2) - 20);
    const tm = compositionTreemap(r.composition, { width: tmW, height: 260 });
    tm.setAttribute('data-testid', 'composition-treemap');
    tm.setAttribute('data-value', String(total));
    fill(compDetail,
      h('div', null, h('h3', { class: 'small', 'data-testid': 'composition-request', 'data-value': sel + 1 }, `Request #${sel + 1} at ${timeOf(r.ts_ms, clock.tz)}: ${int(total)} tokens${r.composition.estimated ? ' (estimated)' : ''}`),
        tm),
      compTable.wrap);
  }

  function renderCosts() {
    const c = summary;
    if (!c || !c.requests_with) {
      fill(costNote, 'No request of this session has a split.');
      costTable.update([]);
      return;
    }
    const cats = (c.categories || []).map((x) => ({ ...x, category: KIND_CATEGORY_OF(x.kind) }));
    const tokens = cats.reduce((a, x) => a + x.tokens, 0);
    const avg = cats.reduce((a, x) => a + x.avg_tokens, 0);
    fill(costNote, `Each request's input cost (its price without output) shared out by its split, summed over the ${int(c.requests_with)} ${c.requests_with === 1 ? 'request' : 'requests'} with a split` +
      (c.requests_without ? ` (${int(c.requests_without)} without one are not in it)` : '') +
      '. A tool result kept in the context is read again, and paid again, on every later request.');
    costTable.update(cats, { kind: '(total)', label: 'Input of the requests with a split', avg_tokens: avg, tokens, cost_usd: c.input_cost_usd });
  }

  return {
    relevant: (kind, ev) => kind === 'usage' && (!ev || ev.session === id),
    async refresh() {
      const res = await attempt(api('session', { id }));
      if (res.error) {
        for (const el of Object.values(f)) setError(el, res.error);
        fill(meta);
        fill(chartMsg, errorBlock(res.error, 'timeline-error'));
        chartBox.hidden = true;
        fill(markerList);
        compSec.hidden = true;
        requests.error(res.error);
        return;
      }
      chartBox.hidden = false;
      fill(chartMsg);
      const s = res.value;
      rows = derive(s);
      summary = s.composition || null;
      const first = rows.length ? rows[0].ts_ms : null;
      const last = rows.length ? rows[rows.length - 1].ts_ms : null;
      const ms = first === null ? null : last - first;
      fill(meta, s.tool || '?', ' · ', repoLink(s.repo), s.branch ? [' · ', h('span', { class: 'mono' }, s.branch)] : null,
        first !== null ? ` · ${dateTime(first, clock.tz)} to ${timeOf(last, clock.tz).slice(0, 5)}` : '');
      const t = s.totals;
      setMoney(f.cost, t.cost_usd, t.has_unpriced);
      setFigure(f.requests, int(t.requests), t.requests);
      setFigure(f.duration, ms === null ? '—' : duration(ms), ms);
      const ph = ms === null ? null : perHour(t.cost_usd, ms);
      setFigure(f.perHour, ph === null ? '—' : rate(ph), ph, { unpriced: false, title: ph === null ? 'shorter than a minute' : '' });
      const hit = cacheHitRate(t);
      setFigure(f.hit, hit === null ? '—' : pct(hit), hit);
      const peak = rows.reduce((a, r) => Math.max(a, r.context), 0);
      setFigure(f.peak, compact(peak), peak, { title: int(peak) + ' tokens' });
      const models = [...new Set(rows.map((r) => r.model).filter(Boolean))];
      setFigure(f.models, models.join(', ') || '—', models.length);
      const marks = [
        ...(s.model_changes || []).map((m) => ({ ...m, kind: 'model', text: `${m.from} → ${m.to}` })),
        ...(s.alerts || []).map((a) => ({ ...a, text: `${a.kind}: ${a.message}` })),
      ].sort((a, b) => a.ts_ms - b.ts_ms);
      charts.update(rows, marks);
      fill(markerList, marks.map((m) => h('li', { 'data-kind': m.kind === 'model' ? 'model' : 'alert', 'data-ts': m.ts_ms },
        h('span', { class: 't' }, timeOf(m.ts_ms, clock.tz)), ' ',
        h('span', { class: 'badge ' + (m.kind === 'model' ? 'model' : 'alert') }, m.kind === 'model' ? 'model change' : 'alert'), ' ', m.text)));
      const p = s.pruned;
      prunedNote.hidden = !p;
      prunedNote.textContent = p
        ? `${int(p.requests)} ${p.requests === 1 ? 'request' : 'requests'} of this session before ${dateTime(p.before_ms, clock.tz)} were pruned ([storage] keep_events_days): they are in the totals above, not in the charts or this table.`
        : '';
      const q = Number(params().get('req'));
      if (selected === null && q >= 1 && q <= rows.length) selected = q - 1;
      // A bookmarked request further down than the first rows: show them all.
      if (selected !== null && selected >= requests.limit) requests.showAll = true;
      requests.update(rows);
      markSelected();
      renderComposition();
    },
  };
}
