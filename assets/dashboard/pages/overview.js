// Overview: today, this week, this month against budgets with the forecast band; spend per
// day; today by tool, provider and model; active sessions with $/h; the alert pause switch.
import { api, clock, NO_TOKEN_HINT, post, token } from '../core.js';
import { Table, errorBlock, figure, fill, h, moneyText, setError, setFigure, setMoney } from '../dom.js';
import { addDays, ago, dateTime, dayRange, pct, rate, usd } from '../fmt.js';
import { dailyChart } from '../charts.js';
import { gauge, shareBar } from '../widgets.js';
import { attempt, repoLink, section, sessionLink, unpricedNote } from './common.js';

const PERIODS = [['day', 'today', 'Today'], ['week', 'week', 'This week'], ['month', 'month', 'This month']];
const DAYS = 30;

function scopeLabel(b) {
  if (b.scope === 'all') return 'all usage';
  const [kind, ...rest] = b.scope.split(':');
  return `${kind} ${rest.join(':')}`;
}

export function mount(root) {
  document.title = 'Overview · tokwatch';
  const cards = {};
  const cardEls = PERIODS.map(([period, name, label]) => {
    const c = {
      cost: figure(name + '-cost', 'span', 'big'),
      low: figure(name + '-forecast-low'),
      mid: figure(name + '-forecast-mid'),
      high: figure(name + '-forecast-high'),
      forecast: h('p', { class: 'forecast' }),
      budget: h('div', { class: 'card-budget' }),
    };
    cards[period] = c;
    return h('article', { class: 'card', 'data-period': period },
      h('h2', null, label), h('p', { class: 'figure-line' }, c.cost), c.forecast, c.budget);
  });

  const asOf = h('span', { class: 'muted', 'data-testid': 'as-of' });
  const pause = h('button', { type: 'button', class: 'toggle', 'data-testid': 'pause-alerts', 'aria-pressed': 'false' }, 'Pause alerts');
  const pauseMsg = h('span', { class: 'hint', 'data-testid': 'pause-message', role: 'status' });

  const budgets = new Table({
    testid: 'budgets',
    key: (b) => b.id,
    empty: 'No budgets set (see `[budget]` in config.toml).',
    columns: [
      { field: 'id', label: 'Budget', value: (b) => b.id, text: (b) => h('span', null, b.id, h('span', { class: 'muted' }, ' · ' + scopeLabel(b))) },
      { field: 'period', label: 'Period', value: (b) => b.period },
      { field: 'spent_usd', label: 'Spent', num: true, value: (b) => b.spent_usd, text: (b) => moneyText(b.spent_usd, b.has_unpriced) },
      { field: 'limit_usd', label: 'Limit', num: true, value: (b) => b.limit_usd, text: (b) => usd(b.limit_usd) },
      { field: 'fraction', label: 'Used', num: true, value: (b) => b.fraction, text: (b) => pct(b.fraction, 0) },
      { field: 'forecast_mid_usd', label: 'Forecast', num: true, title: 'likely end-of-period spend (band low–high in the gauge)', value: (b) => (b.forecast ? b.forecast.mid_usd : null), text: (b) => (b.forecast ? usd(b.forecast.mid_usd) : '—') },
      { field: 'state', label: 'State', value: (b) => b.state, text: (b) => h('span', { class: 'badge state-' + b.state }, b.state) },
      { field: 'gauge', label: 'Spent · forecast band · limit', sort: false, value: () => null, text: (b) => gauge(b), cls: 'gauge-cell' },
    ],
  });

  // Editing a limit: a small form beside the table (so live updates never wipe what is typed).
  const budgetSel = h('select', { id: 'budget-id', 'data-testid': 'budget-id' });
  const limitIn = h('input', { id: 'budget-limit', type: 'number', min: '0.01', step: '0.01', inputmode: 'decimal', 'data-testid': 'budget-limit', required: true });
  const saveBtn = h('button', { type: 'submit', 'data-testid': 'budget-save' }, 'Set limit');
  const budgetMsg = h('span', { class: 'hint', role: 'status', 'data-testid': 'budget-message' });
  const budgetForm = h('form', { class: 'budget-form', 'aria-label': 'Change a budget limit' },
    h('label', { for: 'budget-id' }, 'Budget'), budgetSel,
    h('label', { for: 'budget-limit' }, 'limit $'), limitIn, saveBtn, budgetMsg);

  const tokenHint = h('p', { class: 'hint', 'data-testid': 'token-hint', hidden: true }, NO_TOKEN_HINT.replace(/^./, (c) => c.toUpperCase()) + '.');
  const byTable = (testid, label) => new Table({
    testid, key: (r) => r.key, empty: 'No usage today.', sort: { field: 'cost_usd', dir: -1 },
    columns: [
      { field: 'key', label, value: (r) => r.key },
      { field: 'share', label: 'Share', sort: false, value: () => null, text: (r) => shareBar(r.share), cls: 'share-cell' },
      { field: 'cost_usd', label: 'Today', num: true, value: (r) => r.cost_usd, text: (r) => moneyText(r.cost_usd, r.has_unpriced) },
    ],
  });
  const byTool = byTable('by-tool', 'Tool');
  const byProvider = byTable('by-provider', 'Provider');
  const byModel = byTable('by-model', 'Model');

  const active = new Table({
    testid: 'active-sessions', key: (r) => r.session, empty: 'No session active in the last 30 minutes.',
    sort: { field: 'last_ms', dir: -1 },
    columns: [
      { field: 'session', label: 'Session', value: (r) => r.session, text: (r) => sessionLink(r.session) },
      { field: 'tool', label: 'Tool', value: (r) => r.tool },
      { field: 'repo', label: 'Repository', value: (r) => r.repo, text: (r) => repoLink(r.repo) },
      { field: 'branch', label: 'Branch', value: (r) => r.branch },
      { field: 'cost_usd', label: 'Cost', num: true, value: (r) => r.cost_usd, text: (r) => usd(r.cost_usd) },
      { field: 'usd_per_hour', label: '$/h', num: true, value: (r) => r.usd_per_hour, text: (r) => rate(r.usd_per_hour) },
      { field: 'last_ms', label: 'Last request', num: true, value: (r) => r.last_ms, text: (r) => h('span', { title: dateTime(r.last_ms, clock.tz, true) }, ago(r.last_ms, clock.now())) },
    ],
  });

  const daysTable = new Table({
    testid: 'daily', key: (r) => r.key, caption: 'Spend per day',
    columns: [
      { field: 'key', label: 'Day', value: (r) => r.key },
      { field: 'requests', label: 'Requests', num: true, value: (r) => r.requests, text: (r) => r.requests.toLocaleString('en-US') },
      { field: 'cost_usd', label: 'Cost', num: true, value: (r) => r.cost_usd, text: (r) => moneyText(r.cost_usd, r.has_unpriced) },
    ],
  });
  const [chartSec, chartBody] = section(`Spend per day, last ${DAYS} days`, { id: 'daily-sec', extra: h('a', { href: '/repos' }, 'by repository →') });
  const chartMsg = h('div');
  const chart = dailyChart(chartBody);
  const unpriced = h('div');
  chartBody.append(chartMsg, h('details', null, h('summary', null, 'As a table'), daysTable.wrap), unpriced);

  const [budSec, budBody] = section('Budgets', { id: 'budgets-sec', extra: h('span', { class: 'controls' }, pause, pauseMsg) });
  budBody.append(budgets.wrap, budgetForm, tokenHint);
  const [toolSec, toolBody] = section('Today by tool', { id: 'tool-sec' });
  toolBody.append(byTool.wrap);
  const [provSec, provBody] = section('by provider', { id: 'prov-sec' });
  provBody.append(byProvider.wrap);
  const [modelSec, modelBody] = section('by model', { id: 'model-sec' });
  modelBody.append(byModel.wrap);
  const [actSec, actBody] = section('Active sessions', { id: 'active-sec' });
  actBody.append(active.wrap);

  fill(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Overview'), asOf),
    h('div', { class: 'cards' }, cardEls),
    budSec, chartSec,
    h('div', { class: 'grid3' }, toolSec, provSec, modelSec),
    actSec);

  let paused = false;
  const canChange = () => Boolean(token());
  function syncControls() {
    const ok = canChange();
    pause.disabled = !ok;
    saveBtn.disabled = !ok;
    limitIn.disabled = !ok;
    budgetSel.disabled = !ok;
    tokenHint.hidden = ok;
    if (!ok) pause.title = NO_TOKEN_HINT;
    else pause.removeAttribute('title');
  }
  addEventListener('tokwatch:token', syncControls);
  pause.addEventListener('click', async () => {
    pause.disabled = true;
    pauseMsg.textContent = '';
    pauseMsg.classList.remove('error');
    try {
      const r = await post('alerts/pause', { paused: !paused });
      showPause(typeof r.alerts_paused === 'boolean' ? r.alerts_paused : !paused);
    } catch (e) {
      pauseMsg.textContent = e.message;
      pauseMsg.classList.add('error');
    }
    syncControls();
  });
  budgetForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const lim = Number(limitIn.value);
    budgetMsg.classList.remove('error');
    if (!(lim > 0)) {
      budgetMsg.textContent = 'the limit must be a positive amount';
      budgetMsg.classList.add('error');
      return;
    }
    try {
      await post('budgets', { id: budgetSel.value, limit_usd: lim });
      budgetMsg.textContent = `${budgetSel.value}: limit set to ${usd(lim)}`;
    } catch (err) {
      budgetMsg.textContent = err.message;
      budgetMsg.classList.add('error');
    }
    syncControls();
  });
  budgetSel.addEventListener('change', () => {
    const b = lastBudgets.find((x) => x.id === budgetSel.value);
    if (b) limitIn.value = String(b.limit_usd);
  });

  function showPause(p) {
    paused = p;
    pause.setAttribute('aria-pressed', String(p));
    pause.dataset.value = String(p);
    pause.textContent = p ? 'Alerts paused: resume' : 'Pause alerts';
  }

  let lastBudgets = [];
  function showBudgetChoices(list) {
    const ids = list.map((b) => b.id).join('\n');
    if (budgetSel.dataset.ids !== ids) {
      const keep = budgetSel.value;
      fill(budgetSel, list.map((b) => h('option', { value: b.id }, `${b.id} (${b.period}, ${scopeLabel(b)})`)));
      budgetSel.dataset.ids = ids;
      if (list.some((b) => b.id === keep)) budgetSel.value = keep;
      const b = list.find((x) => x.id === budgetSel.value);
      if (b && document.activeElement !== limitIn) limitIn.value = String(b.limit_usd);
    }
    budgetForm.hidden = list.length === 0;
  }

  function showStatus(st) {
    asOf.textContent = 'as of ' + dateTime(st.now_ms, st.tz, true) + ' (' + st.tz + ')';
    for (const [period, name] of PERIODS) {
      const p = st.periods && st.periods[period];
      const c = cards[period];
      if (!p) {
        setError(c.cost, 'not in the daemon\'s answer');
        continue;
      }
      setMoney(c.cost, p.cost_usd, p.has_unpriced);
      if (p.forecast) {
        setFigure(c.low, usd(p.forecast.low_usd), p.forecast.low_usd);
        setFigure(c.mid, usd(p.forecast.mid_usd), p.forecast.mid_usd);
        setFigure(c.high, usd(p.forecast.high_usd), p.forecast.high_usd);
        fill(c.forecast, 'forecast ', c.low, '–', c.high, ', likely ', c.mid);
      } else {
        fill(c.forecast, h('span', { class: 'muted' }, 'no forecast yet (too early in the ' + period + ')'));
      }
      const main = (st.budgets || []).find((b) => b.period === period && b.scope === 'all');
      if (main) {
        fill(c.budget, gauge(main), h('p', { class: 'muted small' },
          h('span', { 'data-testid': name + '-budget-fraction', 'data-value': main.fraction }, pct(main.fraction, 0)),
          ' of ', usd(main.limit_usd), ' ', h('span', { class: 'badge state-' + main.state }, main.state),
          main.state !== 'over' && main.forecast && main.forecast.mid_usd > main.limit_usd
            ? [' ', h('span', { class: 'badge state-near', 'data-testid': name + '-forecast-over', title: `likely ${usd(main.forecast.mid_usd)} by the end of the ${period}` }, 'forecast over')] : null));
      } else fill(c.budget, h('p', { class: 'muted small' }, 'no budget for this period'));
    }
    lastBudgets = st.budgets || [];
    budgets.update(lastBudgets);
    showBudgetChoices(lastBudgets);
    showPause(Boolean(st.alerts_paused));
    const withShare = (list) => {
      const total = (list || []).reduce((a, r) => a + (r.cost_usd || 0), 0);
      return (list || []).map((r) => ({ ...r, share: total > 0 ? r.cost_usd / total : 0 }));
    };
    byTool.update(withShare(st.by_tool_today));
    byProvider.update(withShare(st.by_provider_today));
    byModel.update(withShare(st.by_model_today));
    active.update(st.active_sessions || []);
  }

  function statusError(msg) {
    asOf.textContent = '';
    for (const [period] of PERIODS) {
      const c = cards[period];
      setError(c.cost, msg);
      fill(c.forecast);
      fill(c.budget);
    }
    for (const t of [budgets, byTool, byProvider, byModel, active]) t.error(msg);
    budgetForm.hidden = true;
  }

  function showDays(rep, since, until) {
    const by = new Map(rep.rows.map((r) => [r.key, r]));
    const days = dayRange(since, until);
    chartMsg.replaceChildren();
    chart.el.hidden = false;
    chart.update(days, days.map((d) => (by.get(d) ? by.get(d).cost_usd : 0)), days.map((d) => Boolean(by.get(d) && by.get(d).has_unpriced)));
    daysTable.update(rep.rows, { key: 'total', ...rep.totals });
    fill(unpriced, unpricedNote(rep, 'unpriced-models'));
  }

  let first = true;
  return {
    relevant: () => true,
    async refresh() {
      syncControls();
      const until = clock.today();
      const since = addDays(until, -(DAYS - 1));
      const statusP = first && clock.status && !(clock.status instanceof Error) ? Promise.resolve(clock.status)
        : first && clock.status instanceof Error ? Promise.reject(clock.status) : api('status');
      first = false;
      const [st, rep] = await Promise.all([attempt(statusP), attempt(api('report', { by: 'day', since, until }))]);
      if (st.error) statusError(st.error);
      else showStatus(st.value);
      if (rep.error) {
        chart.el.hidden = true;
        chartMsg.replaceChildren(errorBlock(rep.error, 'daily-error'));
        daysTable.error(rep.error);
        fill(unpriced);
      } else showDays(rep.value, since, until);
      syncControls();
    },
  };
}
