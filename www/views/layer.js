// Stage "Layer k": its attention, MLP and residual stream, one at a time.
import { el } from '../dom.js';
import { state } from '../store.js';
import { actions } from '../controller.js';
import * as attention from './attention.js';
import * as mlp from './mlp.js';
import * as residual from './residual.js';

export const SUBS = [
  ['attention', 'Attention', attention],
  ['mlp', 'MLP', mlp],
  ['residual', 'Residual stream', residual],
];

export function render(root) {
  const layer = state.layer;
  const tabs = el(
    'div',
    { class: 'tabs', role: 'tablist', 'aria-label': `Layer ${layer + 1} parts` },
    SUBS.map(([id, label]) =>
      el('button', { type: 'button', role: 'tab', 'aria-selected': String(state.sub === id), class: state.sub === id ? 'active' : '', onclick: () => actions.navigate({ sub: id }) }, label),
    ),
  );
  const body = el('div', { class: 'tab-body', role: 'tabpanel' });
  root.append(tabs, body);
  return SUBS.find((s) => s[0] === state.sub)[2].render(body, layer);
}
