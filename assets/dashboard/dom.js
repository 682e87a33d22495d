// DOM helpers: element builders, figures with raw values for tests, sortable tables.
// Text always goes in as text (never HTML), so names from logs cannot inject markup.
import { UNPRICED_TITLE, usdMarked } from './fmt.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

/** `h('td', {class: 'num', 'data-value': 3}, 'text', child)` */
export function h(tag, attrs, ...kids) {
  return build(document.createElement(tag), attrs, kids);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...kids) {
  return build(document.createElementNS(SVG_NS, tag), attrs, kids);
}

/** Replaces an element's children. */
export function fill(el, ...kids) {
  el.replaceChildren();
  return build(el, null, kids);
}

// ---- figures ------------------------------------------------------------------------------
// A figure is an element with data-testid; it holds the formatted text, the raw value in
// data-value, data-unpriced when the amount is a lower bound, and data-error when the figure
// could not be read (its text is then the error, never a made-up $0.00).

export function setFigure(el, text, value, { unpriced = false, title = '' } = {}) {
  el.textContent = text;
  el.classList.remove('error');
  el.removeAttribute('data-error');
  if (value === null || value === undefined) el.removeAttribute('data-value');
  else el.dataset.value = String(value);
  if (unpriced) el.dataset.unpriced = 'true';
  else el.removeAttribute('data-unpriced');
  const t = [title, unpriced ? UNPRICED_TITLE : ''].filter(Boolean).join('; ');
  if (t) el.title = t;
  else el.removeAttribute('title');
  return el;
}

export function setMoney(el, v, unpriced) {
  return setFigure(el, usdMarked(v, unpriced), v, { unpriced });
}

export function setError(el, message) {
  el.textContent = message;
  el.classList.add('error');
  el.dataset.error = message;
  el.removeAttribute('data-value');
  el.removeAttribute('data-unpriced');
  el.removeAttribute('title');
  return el;
}

/** A new figure element: `figure('today-cost')`. */
export function figure(testid, tag = 'span', cls = '') {
  return h(tag, { 'data-testid': testid, class: ('fig ' + cls).trim() }, '…');
}

/** A money cell's content: formatted text, `+` and its tooltip when unpriced. */
export function moneyText(v, unpriced) {
  return unpriced ? h('span', { title: UNPRICED_TITLE }, usdMarked(v, true)) : usdMarked(v, false);
}

/** A block showing an error text in place of a section's content. */
export function errorBlock(message, testid) {
  return h('p', { class: 'error', role: 'alert', 'data-error': message, 'data-testid': testid || null }, message);
}

// ---- tables -------------------------------------------------------------------------------

function compare(a, b) {
  const an = a === null || a === undefined || a === '';
  const bn = b === null || b === undefined || b === '';
  if (an || bn) return an && bn ? 0 : an ? 1 : -1; // blanks last in both directions
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

/**
 * A table whose rows carry `data-key` and whose cells carry `data-field` and the raw
 * `data-value`, so tests compare numbers, not formatted strings.
 *
 * columns: [{field, label, num, value(row), text(row) -> string|Node, title, sort: false}]
 * The first column is the row header (<th scope="row">).
 */
export class Table {
  constructor({ testid, caption, columns, key, sort = null, limit = 0, empty = 'Nothing in this range.', onSort = null }) {
    this.columns = columns;
    this.key = key;
    this.sort = sort; // {field, dir: 1|-1}
    this.limit = limit;
    this.empty = empty;
    this.onSort = onSort;
    this.showAll = false;
    this.rows = [];
    this.head = h('thead');
    this.body = h('tbody');
    this.foot = h('tfoot');
    this.el = h('table', { 'data-testid': testid, class: 'data' },
      caption ? h('caption', null, caption) : null, this.head, this.body, this.foot);
    this.more = h('p', { class: 'more' });
    this.wrap = h('div', { class: 'table-wrap' }, this.el, this.more);
    this.renderHead();
  }

  renderHead() {
    const tr = h('tr');
    for (const c of this.columns) {
      const sorted = this.sort && this.sort.field === c.field;
      const th = h('th', {
        scope: 'col', class: c.num ? 'num' : null, title: c.title || null,
        'aria-sort': sorted ? (this.sort.dir > 0 ? 'ascending' : 'descending') : null,
      });
      if (c.sort === false) th.append(c.label);
      else {
        th.append(h('button', {
          type: 'button', class: 'sort',
          onclick: () => this.sortBy(c.field),
        }, c.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, sorted ? (this.sort.dir > 0 ? '▲' : '▼') : '')));
      }
      tr.append(th);
    }
    fill(this.head, tr);
  }

  sortBy(field) {
    const c = this.columns.find((c) => c.field === field);
    if (!c) return;
    if (this.sort && this.sort.field === field) this.sort = { field, dir: -this.sort.dir };
    else this.sort = { field, dir: c.num ? -1 : 1 };
    this.renderHead();
    this.update(this.rows);
    if (this.onSort) this.onSort(this.sort);
  }

  sorted(rows) {
    if (!this.sort) return rows;
    const c = this.columns.find((c) => c.field === this.sort.field);
    if (!c) return rows;
    const dir = this.sort.dir;
    return rows.map((r, i) => [c.value(r), i, r])
      .sort((a, b) => {
        const an = a[0] === null || a[0] === undefined || a[0] === '';
        const bn = b[0] === null || b[0] === undefined || b[0] === '';
        if (an || bn) return compare(a[0], b[0]) || a[1] - b[1];
        return dir * compare(a[0], b[0]) || a[1] - b[1];
      })
      .map((x) => x[2]);
  }

  update(rows, footRow = null) {
    this.rows = rows;
    this.el.removeAttribute('data-error');
    const list = this.sorted(rows);
    const shown = this.limit && !this.showAll ? list.slice(0, this.limit) : list;
    const trs = shown.map((r) => this.row(r));
    if (!trs.length) trs.push(h('tr', { class: 'empty' }, h('td', { colspan: this.columns.length }, this.empty)));
    fill(this.body, trs);
    fill(this.foot, footRow ? this.row(footRow, 'total') : null);
    if (shown.length < list.length) {
      fill(this.more, `Showing ${shown.length} of ${list.length} rows. `,
        h('button', { type: 'button', onclick: () => { this.showAll = true; this.update(this.rows, footRow); } }, 'Show all'));
    } else fill(this.more);
  }

  row(r, cls = null) {
    const tr = h('tr', { 'data-key': cls ? '(total)' : this.key(r), class: cls });
    this.columns.forEach((c, i) => {
      const v = c.value(r);
      const text = c.text ? c.text(r) : v;
      tr.append(h(i === 0 ? 'th' : 'td', {
        scope: i === 0 ? 'row' : null,
        class: [c.num ? 'num' : null, c.cls || null].filter(Boolean).join(' ') || null,
        'data-field': c.field,
        'data-value': v === null || v === undefined ? '' : String(v),
      }, text === null || text === undefined ? '' : text));
    });
    return tr;
  }

  error(message) {
    this.rows = [];
    this.el.dataset.error = message;
    fill(this.body, h('tr', { class: 'error-row' },
      h('td', { colspan: this.columns.length, class: 'error', role: 'alert', 'data-error': message }, message)));
    fill(this.foot);
    fill(this.more);
  }
}
