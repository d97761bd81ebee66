// TODO(stub during development)
import { el } from '../dom.js';
export function render(root) {
  root.append(el('p', {}, 'neighbours: not yet'));
  return {};
}
