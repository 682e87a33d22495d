// A path the daemon served the shell for but no page has.
import { h, fill } from '../dom.js';

export function mount(root) {
  document.title = 'Not found · tokwatch';
  return {
    async refresh() {
      fill(root, h('h1', null, 'No such page'),
        h('p', null, 'Try the ', h('a', { href: '/' }, 'overview'), ' or the ', h('a', { href: '/repos' }, 'repositories'), '.'));
    },
  };
}
