// @ts-check
// What the instruments' views (logit lens, attribution, embedding space) share: the target
// token they follow (state.target) and its picker, the model's own top tokens, token bytes
// by id, typed tokens, and keeping the keyboard's place across a redraw.
import { el, pct } from '../dom.js';
import { state } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';

/** @typedef {import('../heatmap.js').Heatmap} Heatmap */

/** How many top tokens the lens asks for at every layer and position. */
export const K = 10;

// A control whose change redraws the page asks to be focused again afterwards (the redraw
// replaces it), so keyboard users keep their place.
/** @type {{id: string, cursor: {i: number, j?: number, p?: number} | null} | null} */
let refocus = null;

/**
 * Focus the element with this id (and the heatmap cursor {i, j}, or {i, p}: row i at
 * position p, which the lens grid turns into its column) after the next redraw.
 * @param {string} id
 * @param {{i: number, j?: number, p?: number} | null} [cursor]
 */
export function focusAfterRender(id, cursor = null) {
  refocus = { id, cursor };
}

/**
 * The cursor asked for with `focusAfterRender`, if any (the lens grid places it).
 * @returns {{i: number, j?: number, p?: number} | null}
 */
export function pendingCursor() {
  return refocus ? refocus.cursor : null;
}

/**
 * Called at the end of a view's render: focuses what asked for it.
 * @param {(Heatmap | null)[]} [heatmaps]
 */
export function restoreFocus(heatmaps = []) {
  if (!refocus) return;
  const { id, cursor } = refocus;
  refocus = null;
  const e = document.getElementById(id);
  if (!e) return;
  const hm = heatmaps.find((h) => h && h.canvas === e);
  if (hm && cursor && cursor.j != null && hm.spec && cursor.i < hm.spec.rows && cursor.j < hm.spec.cols) {
    hm.cursor = { i: cursor.i, j: cursor.j };
    hm.draw();
  }
  e.focus({ preventScroll: false });
}

/** The learner's target token, if it belongs to this model's vocabulary (else null). */
export function chosenTarget() {
  const t = state.target;
  return t != null && t >= 0 && t < state.info.config.vocab_size ? t : null;
}

/** The model's own next-token distribution at the last visible position (top K). */
export function lastTop() {
  return data.distribution(state.at, K);
}

/**
 * Bytes of token ids, as a Map id → bytes once fetched (undefined while fetching).
 * @param {number[]} ids
 * @returns {import('../data.js').Fetched<Map<number, number[]>>}
 */
export function tokenBytes(ids) {
  const infos = data.tokenInfos(ids);
  if (!infos || failed(infos)) return /** @type {undefined | import('../data.js').Failed} */ (infos);
  return new Map(infos.map((t) => [t.id, t.bytes]));
}

/**
 * A token typed by the learner: ␣, ↵ and ⇥ stand for a space, a newline and a tab.
 * @param {string} s
 */
export function typedText(s) {
  return s.replaceAll('␣', ' ').replaceAll('↵', '\n').replaceAll('⇥', '\t');
}

/**
 * What to say when a typed token is not one token of the vocabulary.
 * @param {string} typed
 */
export function notOneToken(typed) {
  return `“${typed}” is not one token of this model’s vocabulary (a word in the middle of a sentence usually starts with a space: type ␣ or a space).`;
}

/**
 * A text box for typing a token, with its button: `use(token)` gets the token typed (null
 * when it is not one token); the status line says what went wrong.
 * @param {{id?: string, placeholder: string, label: string, button: string, use: (t: import('../protocol.js').TokenInfo, typed: string) => void}} opts
 * @returns {{input: HTMLInputElement, button: HTMLButtonElement, msg: HTMLElement}}
 */
export function tokenInput({ id, placeholder, label, button, use }) {
  const msg = el('span', { class: 'small warn', role: 'status' });
  const input = el('input', { type: 'text', id, class: 'target-text', spellcheck: 'false', autocomplete: 'off', placeholder, 'aria-label': label });
  const go = async () => {
    msg.textContent = '';
    if (!input.value) return;
    try {
      const t = await actions.lookUpToken(typedText(input.value));
      if (t == null) msg.textContent = notOneToken(input.value);
      else use(t, input.value);
    } catch (e) {
      msg.textContent = e.message;
    }
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      go();
    }
  });
  return { input, button: el('button', { type: 'button', class: 'small-btn', onclick: go }, button), msg };
}

/**
 * The target picker the lens and the attribution share (it sets state.target):
 * options [{id, label, p}] (the final top tokens at the position), the current target
 * {id, label} and whether it is the default (the model's top token).
 * @param {{options: {id: number, label: string, p: number}[], current: {id: number, label: string}, isDefault: boolean, where: string, id: string}} opts
 */
export function targetPicker({ options, current, isDefault, where, id }) {
  const select = el(
    'select',
    {
      id,
      onchange: (/** @type {Event} */ e) => {
        const v = /** @type {HTMLSelectElement} */ (e.target).value;
        focusAfterRender(id);
        actions.setTarget(v === '' ? null : Number(v));
      },
    },
    el('option', { value: '', selected: isDefault }, `the model’s top token${current && isDefault ? ` (${current.label})` : ''}`),
    options.map((o) => el('option', { value: String(o.id), selected: !isDefault && o.id === current.id }, `${o.label} · ${pct(o.p)}`)),
    !isDefault && current && !options.some((o) => o.id === current.id) ? el('option', { value: String(current.id), selected: true }, `${current.label} (typed)`) : null,
  );
  const typed = tokenInput({
    placeholder: '␣Paris',
    label: 'Type a token to follow',
    button: 'Follow',
    use: (t) => {
      focusAfterRender(id);
      actions.setTarget(t.id);
    },
  });
  return el(
    'div',
    { class: 'controls target-picker' },
    el('label', { class: 'control', for: id }, el('span', {}, 'Target token'), select, el('span', { class: 'muted small' }, `final top tokens ${where}`)),
    el(
      'div',
      { class: 'control' },
      el('span', {}, 'or type one'),
      el('span', { class: 'row' }, typed.input, typed.button),
      el('span', { class: 'muted small' }, '␣ or a space for a leading space'),
    ),
    typed.msg,
  );
}
