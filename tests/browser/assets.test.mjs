// The embedded assets are complete and self-contained: every file the shell and the modules
// reference exists under assets/dashboard/, nothing points off the page's origin, the mock is
// never referenced, and our own code stays small. Run: node --test tests/browser/
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dash = join(here, '..', '..', 'assets', 'dashboard');

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'mock' ? [] : files(p);
    return [p];
  });
}

const served = files(dash).map((p) => relative(dash, p));

/** What the daemon serves: /assets/<path> for each file but the mock and the docs. */
const ASSETS = served.filter((p) => !p.endsWith('.md') && !p.endsWith('LICENSE'));

test('every referenced asset exists, and only same-origin paths are used', () => {
  const html = readFileSync(join(dash, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  for (const r of refs) {
    if (r.startsWith('#')) continue;
    assert.ok(r.startsWith('/'), `${r}: absolute path on the same origin`);
    if (r.startsWith('/assets/')) assert.ok(served.includes(r.slice('/assets/'.length)), `${r} exists`);
    else assert.ok(['/', '/repos', '/treemap'].includes(r), `${r} is a page`);
  }
  for (const f of served.filter((p) => p.endsWith('.js') && !p.startsWith('vendor/'))) {
    const src = readFileSync(join(dash, f), 'utf8');
    for (const m of src.matchAll(/from '([^']+)'/g)) {
      const target = join(dirname(f), m[1]);
      assert.ok(served.includes(target), `${f} imports ${m[1]}: ${target} exists`);
    }
    assert.ok(!/https?:\/\//.test(src.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')), `${f} names no external URL`);
    assert.ok(!src.includes('mock/'), `${f} does not use the mock`);
    assert.ok(!/\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write/.test(src), `${f} never parses strings as HTML`);
  }
  // The pages the router loads by name.
  const app = readFileSync(join(dash, 'app.js'), 'utf8');
  const table = /const PAGES = \{([^}]*)\}/.exec(app)[1];
  const names = [...table.matchAll(/: '(\w+)'/g)].map((m) => m[1]);
  assert.deepEqual(names, ['overview', 'repos', 'workspace', 'session', 'treemap']);
  for (const n of [...names, 'notfound']) assert.ok(served.includes(`pages/${n}.js`), `pages/${n}.js exists`);
});

test('our own code stays small (< 150 KB unminified)', () => {
  const own = served.filter((p) => !p.startsWith('vendor/'));
  const total = own.reduce((a, p) => a + statSync(join(dash, p)).size, 0);
  assert.ok(total < 150 * 1024, `${total} bytes`);
});
