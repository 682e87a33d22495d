// Helpers the pages share: links between pages, sections, safe fetching.
import { href } from '../core.js';
import { h } from '../dom.js';

/** A session id short enough for a table (uuid -> its first 8 hex digits). */
export function shortId(id) {
  if (typeof id !== 'string') return '';
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(id)) return id.slice(0, 8);
  return id.length > 18 ? id.slice(0, 17) + '…' : id;
}

export function sessionLink(id) {
  return h('a', { href: href('/session', { id }), title: id, class: 'mono' }, shortId(id));
}

export function workspaceHref(repo, r) {
  return href('/workspace', { repo, since: r && r.explicit ? r.since : null, until: r && r.explicit ? r.until : null });
}

export function repoLink(repo, r) {
  if (!repo) return h('span', { class: 'muted' }, '(no repository)');
  return h('a', { href: workspaceHref(repo, r) }, repo);
}

/** A section with a heading; returns [section, body]. */
export function section(title, { id, cls, extra } = {}) {
  const body = h('div', { class: 'section-body' });
  const el = h('section', { class: ('panel ' + (cls || '')).trim(), id: id || null, 'aria-labelledby': id ? id + '-h' : null },
    h('div', { class: 'section-head' }, h('h2', { id: id ? id + '-h' : null }, title), extra || null), body);
  return [el, body];
}

/** Resolves to {value} or {error: message}: one failed call shows its error, the rest render. */
export async function attempt(p) {
  try {
    return { value: await p };
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    return { error: (e && e.message) || String(e) };
  }
}

/** "Unpriced: model (N requests, T tokens)"; null when everything had a price. */
export function unpricedNote(report, testid) {
  const list = (report && report.unpriced_models) || [];
  if (!list.length) return null;
  return h('p', { class: 'note', 'data-testid': testid },
    h('strong', null, 'Lower bound: '),
    list.map((m, i) => [i ? ', ' : '', h('code', null, m.model), ` (${m.requests.toLocaleString('en-US')} requests, ${(m.tokens / 1e6).toFixed(1)}M tokens)`]),
    ' have no known price; their tokens are counted, their cost is not (amounts marked +).');
}
