// Entry point of every page: picks the page from the path, renders it, and keeps it live from
// the daemon's feed (Server-Sent Events on /api/events; no polling, no reload).
import { loadClock } from './core.js';

const PAGES = {
  '/': 'overview',
  '/repos': 'repos',
  '/workspace': 'workspace',
  '/session': 'session',
  '/treemap': 'treemap',
};
const DEBOUNCE_MS = 100;

const main = document.getElementById('app');
const liveEl = document.getElementById('live');
let page = null;
let renders = 0;
let running = null;
let again = false;
let timer = null;

/** Re-fetches and re-renders the page; calls made while one runs are folded into one more. */
async function refresh() {
  if (running) {
    again = true;
    return running;
  }
  main.setAttribute('aria-busy', 'true');
  running = (async () => {
    do {
      again = false;
      main.dataset.state = renders ? 'updating' : 'loading';
      try {
        await page.refresh();
      } catch (e) {
        console.error('tokwatch: render failed', e);
      }
      renders += 1;
      if (renders === 1) {
        // For the benchmark (tests/browser/bench.mjs): every figure is in the DOM, then the
        // first frame that shows them has been laid out and painted.
        performance.mark('tokwatch:rendered');
        requestAnimationFrame(() => setTimeout(() => performance.mark('tokwatch:painted'), 0));
      }
      main.dataset.renders = String(renders);
      main.dataset.state = 'ready';
    } while (again);
  })();
  try {
    await running;
  } finally {
    running = null;
    main.removeAttribute('aria-busy');
  }
}

/** At most one refresh per DEBOUNCE_MS however many events come (never starves). */
function schedule() {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    refresh();
  }, DEBOUNCE_MS);
}

function setLive(state, text) {
  liveEl.dataset.state = state;
  liveEl.textContent = text;
  liveEl.title = {
    live: 'updates are pushed by the daemon as requests are stored',
    reconnecting: 'the connection to the daemon\'s feed is down; retrying',
    paused: 'not following the feed while this tab is in the background',
  }[state] || '';
}

function connect() {
  if (typeof EventSource === 'undefined') {
    setLive('off', 'not live');
    return;
  }
  let lost = false;
  let retry = 1000;
  let es = null;
  let idle = null;
  const open = () => {
    if (es) es.close();
    es = new EventSource('/api/events');
    es.addEventListener('open', () => {
      setLive('live', 'live');
      retry = 1000;
      if (lost) schedule(); // events may have been missed while disconnected
      lost = false;
    });
    es.addEventListener('error', () => {
      lost = true;
      setLive('reconnecting', 'reconnecting');
      // EventSource retries by itself unless the answer was not a stream (then it is CLOSED).
      if (es.readyState === EventSource.CLOSED && !document.hidden) {
        setTimeout(() => { if (!document.hidden) open(); }, retry);
        retry = Math.min(retry * 2, 30000);
      }
    });
    es.addEventListener('usage', (m) => {
      let ev = null;
      try {
        ev = JSON.parse(m.data);
      } catch (_) { /* an event we cannot read still means something changed */ }
      if (!page.relevant || page.relevant('usage', ev)) schedule();
    });
    es.addEventListener('status', () => {
      if (!page.relevant || page.relevant('status', null)) schedule();
    });
  };
  open();
  addEventListener('pagehide', () => es && es.close());
  // A tab in the background gives its stream back after a while (browsers allow only ~6
  // connections per host over HTTP/1.1, and each open tab's stream holds one); when it is
  // shown again it reconnects and re-fetches what it missed.
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      idle = setTimeout(() => {
        idle = null;
        if (es) es.close();
        es = null;
        setLive('paused', 'paused');
      }, 30000);
    } else {
      if (idle) clearTimeout(idle);
      idle = null;
      if (!es || es.readyState === EventSource.CLOSED) {
        lost = true;
        open();
      }
    }
  });
}

async function boot() {
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const name = PAGES[path] || 'notfound';
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
  }
  document.documentElement.dataset.page = name;
  // The page's module loads while the first /api/status is on its way (neither waits for
  // the other).
  const [mod] = await Promise.all([import(`./pages/${name}.js`), loadClock()]);
  performance.mark('tokwatch:booted');
  page = mod.mount(main, { refresh: () => refresh() });
  await refresh();
  if (name !== 'notfound') connect();
}

boot().catch((e) => {
  console.error(e);
  main.dataset.state = 'ready';
  main.replaceChildren(Object.assign(document.createElement('p'), {
    className: 'error', textContent: 'The dashboard failed to start: ' + e.message,
  }));
});
