// @ts-check
// Stage "Tokens": each token's id, its exact bytes and where it sits in the prompt.
import { el, viewHeader } from '../dom.js';
import { tokenLabel } from '../tokens.js';
import { state, visibleTokens } from '../store.js';
import { actions } from '../controller.js';

export function render(root) {
  const toks = visibleTokens();
  const hex = (b) => b.map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
  const rows = toks.map((t, i) =>
    el(
      'tr',
      { dataset: { index: i }, onpointerenter: () => actions.setHover(i), onpointerleave: () => actions.setHover(null) },
      el('td', {}, String(i)),
      el('td', {}, el('span', { class: 'chip static' }, el('span', { class: 'chip-text' }, tokenLabel(t.bytes)))),
      el('td', { class: 'num' }, String(t.id)),
      el('td', { class: 'mono' }, hex(t.bytes)),
      el('td', {}, i < state.run.prompt_len ? (state.info.config.eos_token_ids.includes(t.id) && i > 0 ? 'prompt (special)' : 'prompt') : 'generated'),
    ),
  );
  const table = el(
    'table',
    { class: 'data' },
    el('thead', {}, el('tr', {}, el('th', {}, 'position'), el('th', {}, 'token'), el('th', {}, 'id'), el('th', {}, 'bytes'), el('th', {}, 'from'))),
    el('tbody', {}, rows),
  );
  root.append(
    viewHeader(
      'Tokens',
      'input',
      'The prompt cut into pieces from the tokenizer’s fixed vocabulary (byte-level BPE); each piece is an id. ␣ is a space, ↵ a newline, <F0 9F> bytes of a character split across tokens.',
    ),
    el('div', { class: 'scroll' }, table),
  );
  return {
    highlight(i) {
      for (const tr of table.querySelectorAll('tbody tr')) tr.classList.toggle('hover', Number(/** @type {HTMLElement} */ (tr).dataset.index) === i);
    },
  };
}
