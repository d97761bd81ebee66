// @ts-check
// The pipeline strip: the stages of stages.js in order, each group after its label (the
// instruments after "Why?"). Click one or use ←/→; Step walks through them (and through
// each layer's parts). A model with many layers gets one "Layer N" stage with a slider
// rather than a button per layer, so the strip fits at any width.
import { el } from '../dom.js';
import { state } from '../store.js';
import { GROUP_LABELS, stageList, stageIndex } from '../stages.js';
import { actions } from '../controller.js';

/** @typedef {import('../stages.js').Stage} Stage */

const MAX_LAYER_BUTTONS = 8;

/** @param {HTMLElement} root */
export function renderPipeline(root) {
  const L = state.info ? state.info.config.n_layer : 0;
  const list = stageList(L);
  const current = stageIndex(list, state.stage, state.layer);
  const many = L > MAX_LAYER_BUTTONS;
  /** @type {(s: Stage, k: number) => HTMLButtonElement} */
  const button = (s, k) =>
    el(
      'button',
      {
        type: 'button',
        class: 'stage' + (k === current ? ' active' : '') + (s.layer != null ? ' layer' : '') + (s.group === 'why' ? ' why' : ''),
        'aria-current': k === current ? 'step' : null,
        onclick: () => actions.go(k),
      },
      s.label,
    );
  /** @type {HTMLLIElement[]} */
  const items = [];
  let group = null;
  list.forEach((s, k) => {
    if (s.group !== group) {
      group = s.group;
      if (GROUP_LABELS[s.group]) items.push(el('li', { class: 'sep', 'aria-hidden': 'true' }, GROUP_LABELS[s.group]));
    }
    if (s.layer == null || !many) return items.push(el('li', {}, button(s, k)));
    // Many layers: one stage for the current layer, with a slider to choose it.
    if (s.layer !== (s.id === state.stage ? state.layer : 0)) return;
    // Dragging only updates the label; the layer opens when the slider is let go (or moved
    // by a key, which fires `change` too), not once for every layer passed.
    /** @param {number} l */
    const open = (l) => actions.navigate({ stage: s.id, layer: l });
    const pick = button(s, k);
    items.push(
      el(
        'li',
        { class: 'layer-pick' },
        pick,
        el('input', {
          type: 'range',
          min: '1',
          max: String(L),
          value: String(s.layer + 1),
          'aria-label': `Layer (1 to ${L})`,
          oninput: (/** @type {Event} */ e) => (pick.textContent = `${s.def.label} ${/** @type {HTMLInputElement} */ (e.target).value}`),
          onchange: (/** @type {Event} */ e) => open(Number(/** @type {HTMLInputElement} */ (e.target).value) - 1),
        }),
        el('span', { class: 'muted small' }, `of ${L}`),
      ),
    );
  });
  root.replaceChildren(
    el('ol', { class: 'pipeline', 'aria-label': 'Stages of the model' }, items),
    el('button', { type: 'button', class: 'step', id: 'step', onclick: () => actions.step(), title: 'Walk through the stages in order' }, 'Step ▸'),
  );
  // Keep the current stage in view when the strip scrolls (phone width).
  /** @type {HTMLElement} */
  const strip = root.querySelector('.pipeline');
  /** @type {HTMLElement} */
  const active = root.querySelector('.stage.active');
  if (active) {
    const a = active.parentElement;
    if (a.offsetLeft < strip.scrollLeft || a.offsetLeft + a.offsetWidth > strip.scrollLeft + strip.clientWidth) strip.scrollLeft = a.offsetLeft - (strip.clientWidth - a.offsetWidth) / 2;
  }
}
