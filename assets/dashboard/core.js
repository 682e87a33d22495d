// What every page shares: the API client, the per-install token, the query string, the clock.
import { addDays, dayOf, isDay } from './fmt.js';

const TOKEN_KEY = 'tokwatch.token';

// `tokwatch dashboard` opens /#token=...: keep the token, take it out of the address bar (and
// so out of the history and of bookmarks). An open page takes it too (the fragment changes
// without a reload) and tells the page with a `tokwatch:token` event.
function takeToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  try {
    if (m[1]) localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  } catch (_) { /* storage disabled: mutations stay off */ }
  history.replaceState(history.state, '', location.pathname + location.search);
  return true;
}
takeToken();
addEventListener('hashchange', () => {
  if (takeToken()) dispatchEvent(new Event('tokwatch:token'));
});

export function token() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch (_) {
    return '';
  }
}

export function forgetToken() {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch (_) { /* nothing to forget */ }
}

export const NO_TOKEN_HINT = 'open the dashboard with `tokwatch dashboard` to change settings';

/** An API failure; `message` is what the page shows in place of the figure. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function errorText(res) {
  try {
    const body = await res.json();
    if (body && typeof body.error === 'string' && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return `HTTP ${res.status} ${res.statusText}`.trim();
}

/** GET /api/NAME?params; resolves to the parsed JSON or throws ApiError. */
export async function api(name, params = {}, signal) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const url = '/api/' + name + (q.toString() ? '?' + q : '');
  let res;
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, signal, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError('cannot reach the tokwatch daemon', 0);
  }
  if (!res.ok) throw new ApiError(await errorText(res), res.status);
  try {
    return await res.json();
  } catch (_) {
    throw new ApiError('the daemon sent an unreadable answer', res.status);
  }
}

/** POST /api/NAME with a JSON body and the token. */
export async function post(name, body) {
  const t = token();
  if (!t) throw new ApiError(NO_TOKEN_HINT, 0);
  let res;
  try {
    res = await fetch('/api/' + name, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Tokwatch-Token': t },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (_) {
    throw new ApiError('cannot reach the tokwatch daemon', 0);
  }
  if (res.status === 401 || res.status === 403) {
    forgetToken();
    throw new ApiError((await errorText(res)) + ' (' + NO_TOKEN_HINT + ')', res.status);
  }
  if (!res.ok) throw new ApiError(await errorText(res), res.status);
  return res.json().catch(() => ({}));
}

// ---- query string -------------------------------------------------------------------------

export function params() {
  return new URLSearchParams(location.search);
}

/** Changes the query string in place (bookmarkable, no reload); null or '' removes a key. */
export function setParams(changes) {
  const q = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  history.replaceState(history.state, '', location.pathname + (s ? '?' + s : ''));
}

/** `/workspace?repo=a%2Fb&since=...` (empty values left out). */
export function href(path, p = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return path + (s ? '?' + s : '');
}

// ---- the daemon's clock and time zone -----------------------------------------------------
// Days are the daemon's days (its --tz), not the browser's: the first /api/status tells.

export const clock = {
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
  offset: 0, // daemon now - browser now
  status: null, // the first /api/status answer, reused by the overview's first render
  now() {
    return Date.now() + this.offset;
  },
  today() {
    return dayOf(this.now(), this.tz);
  },
};

export async function loadClock() {
  try {
    const st = await api('status');
    clock.tz = st.tz || clock.tz;
    clock.offset = (st.now_ms || Date.now()) - Date.now();
    clock.status = st;
  } catch (e) {
    clock.status = e; // the page that needs status shows the error
  }
  // An unknown zone name would make every date function throw: fall back to the browser's.
  try {
    dayOf(0, clock.tz);
  } catch (_) {
    clock.tz = 'UTC';
  }
}

/**
 * The date range a page shows: `since`/`until` from the query string when valid, else the
 * last `days` days up to today. `explicit` says whether the URL chose it.
 */
export function range(days) {
  const q = params();
  const today = clock.today();
  let until = q.get('until');
  let since = q.get('since');
  const explicit = isDay(since) || isDay(until);
  if (!isDay(until)) until = today;
  if (!isDay(since)) since = addDays(until, -(days - 1));
  if (since > until) [since, until] = [until, since];
  return { since, until, explicit };
}
