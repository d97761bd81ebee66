// TODO(stub during development)
import { el } from '../dom.js';
export function render(root) {
  root.append(el('p', {}, 'attribution: not yet'));
  return {};
}
