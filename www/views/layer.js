// @ts-check
// Stage "Layer k": its parts (stages.js: attention, MLP, residual stream), one at a time.
import { el } from '../dom.js';
import { state } from '../store.js';
import { actions } from '../controller.js';
import * as attention from './attention.js';
import * as mlp from './mlp.js';
import * as residual from './residual.js';

/** Each part's view: render(root, layer). */
/** @type {Record<string, {render: (root: HTMLElement, layer: number) => import('../stages.js').ViewHandle}>} */
const PARTS = { attention, mlp, residual };

/**
 * @param {HTMLElement} root
 * @param {import('../stages.js').Stage} stage
 */
export function render(root, stage) {
  const layer = stage.layer;
  const parts = stage.def.parts;
  const tabs = el(
    'div',
    { class: 'tabs', role: 'tablist', 'aria-label': `Layer ${layer + 1} parts` },
    parts.map(({ id, label }) =>
      el('button', { type: 'button', role: 'tab', 'aria-selected': String(state.sub === id), class: state.sub === id ? 'active' : '', onclick: () => actions.navigate({ sub: id }) }, label),
    ),
  );
  const body = el('div', { class: 'tab-body', role: 'tabpanel' });
  root.append(tabs, body);
  const part = parts.some((p) => p.id === state.sub) ? state.sub : parts[0].id;
  return PARTS[part].render(body, layer);
}
