// The pipeline strip: the model's stages in order; click one or use ←/→; Step walks
// through them (and through each layer's attention, MLP and residual stream).
import { el } from '../dom.js';
import { state, stages, emit } from '../store.js';
import { SUBS } from './layer.js';

export function renderPipeline(root) {
  const list = stages();
  root.replaceChildren(
    el(
      'ol',
      { class: 'pipeline', 'aria-label': 'Stages of the model' },
      list.map((s, k) =>
        el(
          'li',
          {},
          el(
            'button',
            {
              type: 'button',
              class: 'stage' + (k === state.stage ? ' active' : '') + (s.id === 'layer' ? ' layer' : ''),
              'aria-current': k === state.stage ? 'step' : null,
              onclick: () => go(k),
            },
            s.label,
          ),
        ),
      ),
    ),
    el('button', { type: 'button', class: 'step', id: 'step', onclick: step, title: 'Walk through the stages in order' }, 'Step ▸'),
  );
  // Keep the current stage in view when the strip scrolls (phone width).
  const strip = root.querySelector('.pipeline');
  const active = root.querySelector('.stage.active');
  if (active) {
    const a = active.parentElement;
    if (a.offsetLeft < strip.scrollLeft || a.offsetLeft + a.offsetWidth > strip.scrollLeft + strip.clientWidth)
      strip.scrollLeft = a.offsetLeft - (strip.clientWidth - a.offsetWidth) / 2;
  }
}

export function go(k) {
  const n = stages().length;
  state.stage = Math.max(0, Math.min(n - 1, k));
  if (stages()[state.stage].id === 'layer' && !SUBS.some((s) => s[0] === state.sub)) state.sub = 'attention';
  emit('render');
}

/** Next stage, or the next part of the current layer. */
export function step() {
  const s = stages()[state.stage];
  if (s.id === 'layer') {
    const i = SUBS.findIndex((x) => x[0] === state.sub);
    if (i < SUBS.length - 1) {
      state.sub = SUBS[i + 1][0];
      return emit('render');
    }
  }
  const n = stages().length;
  const next = (state.stage + 1) % n;
  if (stages()[next].id === 'layer') state.sub = 'attention';
  go(next);
}

export function stepBack() {
  const s = stages()[state.stage];
  if (s.id === 'layer') {
    const i = SUBS.findIndex((x) => x[0] === state.sub);
    if (i > 0) {
      state.sub = SUBS[i - 1][0];
      return emit('render');
    }
  }
  const prev = Math.max(0, state.stage - 1);
  if (stages()[prev].id === 'layer') state.sub = SUBS[SUBS.length - 1][0];
  go(prev);
}
