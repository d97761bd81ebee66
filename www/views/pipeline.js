// The pipeline strip: the model's stages in order, then the instruments that ask why. Click
// one or use ←/→; Step walks through them (and through each layer's attention, MLP and
// residual stream). A model with many layers gets one "Layer N" stage with a slider rather
// than a button per layer, so the strip fits at any width.
import { el } from '../dom.js';
import { state, stages, stageIndex } from '../store.js';
import { actions } from '../controller.js';

const MAX_LAYER_BUTTONS = 8;

export function renderPipeline(root) {
  const list = stages();
  const current = stageIndex();
  const L = state.info ? state.info.config.n_layer : 0;
  const many = L > MAX_LAYER_BUTTONS;
  const button = (s, k) =>
    el(
      'button',
      {
        type: 'button',
        class: 'stage' + (k === current ? ' active' : '') + (s.id === 'layer' ? ' layer' : '') + (s.group === 'why' ? ' why' : ''),
        'aria-current': k === current ? 'step' : null,
        onclick: () => actions.go(k),
      },
      s.label,
    );
  const items = [];
  let sawWhy = false;
  list.forEach((s, k) => {
    if (s.group === 'why' && !sawWhy) {
      sawWhy = true;
      items.push(el('li', { class: 'sep', 'aria-hidden': 'true' }, 'Why?'));
    }
    if (s.id !== 'layer' || !many) return items.push(el('li', {}, button(s, k)));
    // Many layers: one stage for the current layer, with a slider to choose it.
    if (s.layer !== (state.stage === 'layer' ? state.layer : 0)) return;
    // Dragging only updates the label; the layer opens when the slider is let go (or moved
    // by a key, which fires `change` too), not once for every layer passed.
    const open = (l) => actions.navigate({ stage: 'layer', layer: l });
    const pick = button({ ...s, label: `Layer ${s.layer + 1}` }, list.findIndex((x) => x.id === 'layer' && x.layer === s.layer));
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
          oninput: (e) => (pick.textContent = `Layer ${e.target.value}`),
          onchange: (e) => open(Number(e.target.value) - 1),
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
  const strip = root.querySelector('.pipeline');
  const active = root.querySelector('.stage.active');
  if (active) {
    const a = active.parentElement;
    if (a.offsetLeft < strip.scrollLeft || a.offsetLeft + a.offsetWidth > strip.scrollLeft + strip.clientWidth) strip.scrollLeft = a.offsetLeft - (strip.clientWidth - a.offsetWidth) / 2;
  }
}
