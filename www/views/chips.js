// The token chips under the prompt: one per token, with its id. Hovering a chip highlights
// that token in every view; clicking it chooses it (e.g. for the MLP's top neurons).

import { el } from '../dom.js';
import { tokenLabel } from '../tokens.js';
import { state, setHover, emit } from '../store.js';

export function renderChips(container) {
  container.replaceChildren();
  if (!state.run) return;
  const toks = state.run.tokens;
  toks.forEach((t, i) => {
    const chip = el(
      'button',
      {
        type: 'button',
        class: ['chip', i >= state.run.prompt_len ? 'generated' : '', i >= state.at ? 'later' : '', i === state.hover ? 'hover' : '']
          .filter(Boolean)
          .join(' '),
        dataset: { index: i, id: t.id },
        title: `position ${i}, token id ${t.id}${i >= state.run.prompt_len ? ' (generated)' : ''}`,
        onpointerenter: () => setHover(i),
        onpointerleave: () => setHover(null),
        onfocus: () => setHover(i),
        onblur: () => setHover(null),
        onclick: () => {
          state.focus = i;
          emit('render');
        },
      },
      el('span', { class: 'chip-text' }, tokenLabel(t.bytes)),
      el('span', { class: 'chip-id' }, String(t.id)),
    );
    container.append(chip);
  });
}

export function highlightChips(container, i) {
  for (const c of container.querySelectorAll('.chip')) c.classList.toggle('hover', Number(c.dataset.index) === i);
}
