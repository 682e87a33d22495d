// Treemap of spend, repository -> session -> model, for any date range; a repository's cell
// zooms in (?repo=), a session's cell opens the session page.
import { api, href, params, setParams } from '../core.js';
import { Table, errorBlock, figure, fill, h, moneyText, setError, setMoney } from '../dom.js';
import { spendTreemap } from '../svg.js';
import { rangeControl } from '../widgets.js';
import { attempt, section, sessionLink, workspaceHref } from './common.js';

const DAYS = 30;

export function mount(root, ctx) {
  document.title = 'Treemap · tokwatch';
  const range = rangeControl({ days: DAYS, onChange: () => ctx.refresh() });
  const total = figure('treemap-cost');
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Zoom' });
  const box = h('div', { class: 'treemap-box', 'data-testid': 'treemap' });
  const items = new Table({
    testid: 'treemap-items', key: (r) => r.name, sort: { field: 'cost_usd', dir: -1 }, limit: 100,
    columns: [
      { field: 'name', label: 'Name', value: (r) => r.name, text: (r) => (r.kind === 'session' ? sessionLink(r.name) : h('a', { href: zoomHref(r.name) }, r.name)) },
      { field: 'tool', label: 'Tool', value: (r) => r.tool || null },
      { field: 'children', label: 'Inside', num: true, value: (r) => (r.children || []).length, text: (r) => `${(r.children || []).length} ${r.kind === 'session' ? 'models' : 'sessions'}` },
      { field: 'cost_usd', label: 'Cost', num: true, value: (r) => r.cost_usd, text: (r) => moneyText(r.cost_usd, r.has_unpriced) },
    ],
  });
  const [sec, body] = section('Spend', { id: 'treemap-sec', extra: crumbs });
  const note = h('p', { class: 'hint' }, 'Area is cost. Click a repository to zoom in, a session to open it; hover for amounts. Usage without a known price has no area.');
  body.append(box, note);
  const [listSec, listBody] = section('As a list', { id: 'treemap-list' });
  listBody.append(items.wrap);
  fill(root, h('div', { class: 'page-head' }, h('h1', null, 'Treemap'), h('span', { class: 'meta' }, 'total ', total)), range.el, sec, listSec);

  let r = range.get();
  let data = null;
  const zoomHref = (repo) => href('/treemap', { since: r.explicit ? r.since : null, until: r.explicit ? r.until : null, repo });

  function draw() {
    if (!data) return;
    const zoom = params().get('repo');
    const node = zoom ? (data.children || []).find((c) => c.name === zoom) : null;
    const width = Math.max(320, box.clientWidth || 900);
    const height = Math.round(Math.min(620, Math.max(320, width * 0.5)));
    if (zoom && !node) {
      fill(box, errorBlock(`${zoom} has no spend in this range.`));
      items.update([]);
    } else {
      const svg = spendTreemap(node || data, {
        width, height, zoomed: Boolean(node),
        repoHref: zoomHref,
        sessionHref: (id) => href('/session', { id }),
        workspaceHref: (repo) => workspaceHref(repo, r),
      });
      // Zooming in and out keeps the page: the query string changes, the SVG is redrawn.
      svg.addEventListener('click', (e) => {
        const a = e.target.closest('a.repo-link');
        if (!a || node || e.ctrlKey || e.metaKey || e.shiftKey || e.button) return;
        e.preventDefault();
        setParams({ repo: a.closest('g.repo').dataset.name });
        draw();
      });
      fill(box, svg);
      items.update(node ? node.children.map((c) => ({ ...c, kind: 'session' })) : (data.children || []).map((c) => ({ ...c, kind: 'repo' })));
    }
    fill(crumbs, zoom
      ? [h('a', { href: zoomHref(null), onclick: (e) => { e.preventDefault(); setParams({ repo: null }); draw(); } }, 'All repositories'), ' › ',
        h('strong', null, zoom), ' · ', h('a', { href: workspaceHref(zoom, r) }, 'workspace history')]
      : h('span', { class: 'muted' }, 'All repositories'));
  }

  let lastWidth = 0;
  new ResizeObserver(() => {
    if (Math.abs(box.clientWidth - lastWidth) > 8) {
      lastWidth = box.clientWidth;
      draw();
    }
  }).observe(box);

  return {
    relevant: () => true,
    async refresh() {
      r = range.sync();
      const res = await attempt(api('treemap', { since: r.since, until: r.until }));
      if (res.error) {
        setError(total, res.error);
        fill(box, errorBlock(res.error));
        items.error(res.error);
        data = null;
        return;
      }
      data = res.value;
      setMoney(total, data.cost_usd, data.has_unpriced);
      draw();
    },
  };
}
