// One workspace's history: calendar heatmap of daily spend, spend per day, branches, and its
// sessions (sortable; filtered by the date range, and by one day from the heatmap).
import { api, clock, href, params, setParams } from '../core.js';
import { Table, errorBlock, figure, fill, h, moneyText, setError, setFigure, setMoney } from '../dom.js';
import { cacheHitRate, dateTime, dayOf, dayRange, duration, isDay, pct, perHour, rate } from '../fmt.js';
import { dailyChart } from '../charts.js';
import { heatmap } from '../svg.js';
import { rangeControl } from '../widgets.js';
import { attempt, section, sessionLink, unpricedNote } from './common.js';

const DAYS = 90;

/** The derived columns of a session row: duration, $/h (blank under a minute), cache hit rate. */
export function sessionFigures(row) {
  const ms = typeof row.first_ms === 'number' && typeof row.last_ms === 'number' ? row.last_ms - row.first_ms : null;
  return { duration_ms: ms, usd_per_hour: ms === null ? null : perHour(row.cost_usd, ms), cache_hit: cacheHitRate(row) };
}

export function mount(root, ctx) {
  const repo = params().get('repo') || '';
  document.title = (repo || 'Workspace') + ' · tokwatch';
  if (!repo) {
    fill(root, h('h1', null, 'Workspace'), errorBlock('No repository chosen: open one from the Repositories page (the URL needs ?repo=owner/name).'));
    return { relevant: () => false, async refresh() {} };
  }
  const range = rangeControl({ days: DAYS, onChange: () => ctx.refresh() });
  const f = {
    cost: figure('ws-cost'), requests: figure('ws-requests'), sessions: figure('ws-sessions'),
    hit: figure('ws-cache-hit'), days: figure('ws-active-days'),
  };
  const treemapLink = h('a', null, 'Treemap of this repository →');
  const heatBox = h('div', { class: 'heat-wrap', 'data-testid': 'heatmap' });
  const legend = h('div', { class: 'heat-legend', 'aria-hidden': 'true' }, 'less', [0, 1, 2, 3, 4].map((l) => h('i', { class: 'lvl' + l })), 'more');
  const dayChip = h('p', { class: 'filter-chip', hidden: true, 'data-testid': 'day-filter' });

  const branches = new Table({
    testid: 'branches', key: (r) => r.key, sort: { field: 'cost_usd', dir: -1 },
    columns: [
      { field: 'branch', label: 'Branch', value: (r) => branchName(r) },
      { field: 'requests', label: 'Requests', num: true, value: (r) => r.requests, text: (r) => r.requests.toLocaleString('en-US') },
      { field: 'cost_usd', label: 'Cost', num: true, value: (r) => r.cost_usd, text: (r) => moneyText(r.cost_usd, r.has_unpriced) },
      { field: 'last_seen', label: 'Last used', value: (r) => r.last_seen || null },
    ],
  });
  const sessions = new Table({
    testid: 'sessions', key: (r) => r.key, sort: { field: 'first_ms', dir: -1 }, limit: 300,
    empty: 'No sessions in this range.',
    columns: [
      { field: 'session', label: 'Session', value: (r) => r.key, text: (r) => sessionLink(r.key) },
      { field: 'first_ms', label: 'Started', num: true, value: (r) => r.first_ms ?? null, text: (r) => r.first_seen || (typeof r.first_ms === 'number' ? dateTime(r.first_ms, clock.tz) : '') },
      { field: 'duration_ms', label: 'Duration', num: true, value: (r) => r.duration_ms, text: (r) => duration(r.duration_ms) },
      { field: 'tool', label: 'Tool', value: (r) => r.tool || null },
      { field: 'branch', label: 'Branch', value: (r) => r.branch || null },
      { field: 'models', label: 'Models', value: (r) => (r.models || []).join(', ') || null, cls: 'models' },
      { field: 'requests', label: 'Requests', num: true, value: (r) => r.requests, text: (r) => r.requests.toLocaleString('en-US') },
      { field: 'cost_usd', label: 'Cost', num: true, value: (r) => r.cost_usd, text: (r) => moneyText(r.cost_usd, r.has_unpriced) },
      { field: 'usd_per_hour', label: '$/h', num: true, title: 'cost / duration; blank for sessions under a minute', value: (r) => r.usd_per_hour, text: (r) => (r.usd_per_hour === null ? '' : rate(r.usd_per_hour) + (r.has_unpriced ? '+' : '')) },
      { field: 'cache_hit', label: 'Cache hit', num: true, title: 'cache read / (input + cache read + cache write)', value: (r) => r.cache_hit, text: (r) => (r.cache_hit === null ? '' : pct(r.cache_hit)) },
    ],
  });
  const [heatSec, heatBody] = section('Daily spend', { id: 'heat-sec', extra: treemapLink });
  const chartBox = h('div', { class: 'grow' });
  const chart = dailyChart(chartBox, { height: 170 });
  heatBody.append(h('div', { class: 'side-by-side' }, h('div', null, heatBox, legend), chartBox));
  const [brSec, brBody] = section('Branches', { id: 'branches-sec' });
  brBody.append(branches.wrap);
  const [seSec, seBody] = section('Sessions', { id: 'sessions-sec', extra: dayChip });
  const unpriced = h('div');
  seBody.append(sessions.wrap, unpriced);
  fill(root,
    h('div', { class: 'page-head' }, h('h1', null, repo), h('span', { class: 'meta' }, 'workspace history')),
    range.el,
    h('dl', { class: 'figures' },
      h('div', null, h('dt', null, 'Cost'), h('dd', null, f.cost)),
      h('div', null, h('dt', null, 'Requests'), h('dd', null, f.requests)),
      h('div', null, h('dt', null, 'Sessions'), h('dd', null, f.sessions)),
      h('div', null, h('dt', null, 'Days with usage'), h('dd', null, f.days)),
      h('div', null, h('dt', null, 'Cache hit rate'), h('dd', null, f.hit))),
    heatSec, seSec, brSec);

  function branchName(r) {
    const prefix = (r.repo || repo) + '@';
    return r.key.startsWith(prefix) ? r.key.slice(prefix.length) : r.key;
  }

  let data = null;
  let r = range.get();

  function pickDay(day, e) {
    e.preventDefault();
    const cur = params().get('day');
    setParams({ day: cur === day ? null : day });
    render();
  }

  function render() {
    let day = params().get('day');
    if (day && (!isDay(day) || day < r.since || day > r.until)) {
      day = null; // a day outside the range (after the range changed) filters nothing
      setParams({ day: null });
    }
    const { days, sessions: sess } = data;
    const values = new Map(days.rows.map((x) => [x.key, { cost: x.cost_usd, unpriced: x.has_unpriced }]));
    fill(heatBox, heatmap({
      since: r.since, until: r.until, values, selected: isDay(day) ? day : null,
      dayHref: (d) => href('/workspace', { repo, since: r.explicit ? r.since : null, until: r.explicit ? r.until : null, day: d }),
      onPick: pickDay,
    }));
    const all = dayRange(r.since, r.until);
    chart.update(all, all.map((d) => (values.get(d) ? values.get(d).cost : 0)), all.map((d) => Boolean(values.get(d) && values.get(d).unpriced)));
    let rows = sess.rows.map((x) => ({ ...x, ...sessionFigures(x) }));
    if (isDay(day)) {
      rows = rows.filter((x) => typeof x.first_ms !== 'number' || (dayOf(x.first_ms, clock.tz) <= day && dayOf(x.last_ms ?? x.first_ms, clock.tz) >= day));
      fill(dayChip, `Sessions active on ${day} `, h('button', { type: 'button', 'aria-label': 'Show all days', onclick: (e) => pickDay(null, e) }, '✕'));
      dayChip.dataset.value = day;
      dayChip.hidden = false;
    } else {
      dayChip.hidden = true;
      dayChip.removeAttribute('data-value');
    }
    sessions.update(rows);
  }

  return {
    relevant: (kind, ev) => kind === 'usage' && (!ev || (ev.repo || '(no repository)') === repo),
    async refresh() {
      r = range.sync();
      treemapLink.href = href('/treemap', { repo, since: r.since, until: r.until });
      const res = await attempt(api('workspace', { repo, since: r.since, until: r.until }));
      if (res.error) {
        for (const el of Object.values(f)) setError(el, res.error);
        fill(heatBox, errorBlock(res.error));
        chart.el.hidden = true;
        branches.error(res.error);
        sessions.error(res.error);
        fill(unpriced);
        data = null;
        return;
      }
      chart.el.hidden = false;
      data = res.value;
      const t = data.days.totals;
      setMoney(f.cost, t.cost_usd, t.has_unpriced);
      setFigure(f.requests, t.requests.toLocaleString('en-US'), t.requests);
      setFigure(f.sessions, String(data.sessions.rows.length), data.sessions.rows.length);
      setFigure(f.days, String(data.days.rows.filter((x) => x.requests > 0).length), data.days.rows.filter((x) => x.requests > 0).length);
      const hit = cacheHitRate(t);
      setFigure(f.hit, hit === null ? '—' : pct(hit), hit);
      branches.update(data.branches.rows);
      render();
      fill(unpriced, unpricedNote(data.days, 'unpriced-models'));
    },
  };
}
