// @ts-check
// The token chips under the prompt: one per token, with its id. Hovering a chip highlights
// that token in every view; clicking it chooses it (e.g. for the MLP's top neurons).

import { el } from '../dom.js';
import { tokenLabel } from '../tokens.js';
import { state } from '../store.js';
import { actions } from '../controller.js';

export function renderChips(container) {
  container.replaceChildren();
  if (!state.run) return;
  state.run.tokens.forEach((t, i) => {
    const generated = i >= state.run.prompt_len;
    container.append(
      el(
        'button',
        {
          type: 'button',
          class: ['chip', generated ? 'generated' : '', i >= state.at ? 'later' : '', i === state.hover ? 'hover' : '', i === state.focus ? 'chosen' : ''].filter(Boolean).join(' '),
          dataset: { index: i, id: t.id },
          title: `position ${i}, token id ${t.id}${generated ? ' (generated)' : ''}`,
          'aria-pressed': String(i === state.focus),
          onpointerenter: () => actions.setHover(i),
          onpointerleave: () => actions.setHover(null),
          onfocus: () => actions.setHover(i),
          onblur: () => actions.setHover(null),
          onclick: () => actions.setFocus(i),
        },
        el('span', { class: 'chip-text' }, tokenLabel(t.bytes)),
        el('span', { class: 'chip-id' }, String(t.id)),
      ),
    );
  });
}

export function highlightChips(container, i) {
  for (const c of container.querySelectorAll('.chip')) c.classList.toggle('hover', Number(c.dataset.index) === i);
}
