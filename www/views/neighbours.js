// @ts-check
// Stage "Embedding space": every token is a vector, a row of the token-embedding table.
// A chosen token's nearest rows by cosine, a 2-D PCA map of a set of tokens (scatter.js),
// and for a set of words their exact pairwise cosines.
import { el, viewHeader, loadingNote, errorNote } from '../dom.js';
import { BarChart } from '../chart.js';
import { Heatmap } from '../heatmap.js';
import { Scatter } from '../scatter.js';
import { tokenLabel } from '../tokens.js';
import { state, visibleTokens, position, focused } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';
import { tokenBytes, typedText, tokenInput, focusAfterRender, restoreFocus } from './instrument.js';

/** @typedef {import('../protocol.js').Neighbour} Neighbour */
/** A token shown: its id and bytes, and where it comes from. */
/** @typedef {{id: number, bytes: number[], from: string, vocab?: number}} Chosen */
/** A token on the map, with its group (a colour and a legend entry). */
/** @typedef {{id: number, bytes: number[], group: string}} MapToken */
/** @typedef {{destroy: () => void}} Destroyable */

const NEAR = 10;
const CAPITALS = [' Paris', ' London', ' France', ' Berlin', ' Germany', ' Rome', ' Italy'];
/** Most words a set may hold for its pairwise cosines (each costs one pass over the table). */
const MAX_WORDS = 12;
const GROUP_COLORS = {
  'chosen token': '#c2410c',
  'its nearest tokens': '#2563eb',
  'this prompt’s tokens': '#52525b',
  'the preset words': '#7e22ce',
  'your words': '#7e22ce',
};

// The view's own choices, kept across redraws: a typed token (until another chip is
// chosen), which set the map shows, and the learner's own words.
/** @type {{typed: Chosen | null, typedFocus: number | null, set: string, words: string, space: boolean}} */
const view = { typed: null, typedFocus: null, set: 'context', words: 'king, queen, man, woman, lord, lady', space: true };

/**
 * @param {HTMLElement} root
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root) {
  const toks = visibleTokens();
  const cfg = state.info.config;
  root.append(
    viewHeader(
      'Embedding space',
      'parameter',
      'Everything is a vector: the token-embedding table (a learned parameter) gives every token one row of numbers. Tokens whose rows point the same way (cosine near 1) enter the model alike.',
    ),
    el(
      'p',
      { class: 'muted small instrument-note' },
      `Cosine is computed over all ${cfg.n_embd} numbers of each row; it is the exact figure. The map squeezes those ${cfg.n_embd} dimensions into the 2 along which the shown tokens vary most (PCA of their rows), so distances on it are approximate and change with the set shown. This is the table before any layer: it does not show what a token means in context, which the layers build from it.`,
    ),
  );
  if (view.typed && (view.typedFocus !== state.focus || view.typed.vocab !== cfg.vocab_size)) view.typed = null;
  const at = position();
  /** @type {Chosen} */
  const chosen = view.typed ? view.typed : { id: toks[at].id, bytes: toks[at].bytes, from: `position ${at}` };
  /** @type {Destroyable[]} */
  const charts = [];
  root.append(tokenChooser(chosen, at));
  const near = nearestSection(root, chosen, charts);
  const mapBox = el('section', { class: 'subview' }, el('h3', {}, 'A map of token embeddings (PCA)'));
  root.append(mapBox);
  const points = mapTokens(mapBox, chosen, near);
  const scatter = points ? mapSection(mapBox, points, charts) : null;
  if (points && points.length >= 2 && view.set !== 'context') cosineSection(root, points, charts);
  restoreFocus();
  return {
    highlight(i) {
      if (!scatter) return;
      const t = i != null ? toks[i] : null;
      const k = t ? scatter.points.findIndex((p) => p.id === t.id) : -1;
      scatter.highlight(k >= 0 ? k : null);
    },
    destroy: () => charts.forEach((c) => c.destroy()),
  };
}

/**
 * Choosing the token: the chosen chip, or one typed here.
 * @param {Chosen} chosen
 * @param {number} at the position the chip stands at
 */
function tokenChooser(chosen, at) {
  const vocab = state.info.config.vocab_size;
  const typed = tokenInput({
    id: 'neighbours-token',
    placeholder: '␣king',
    label: 'Type a token to look at',
    button: 'Look up',
    use: (t) => {
      view.typed = { id: t.id, bytes: t.bytes, from: 'typed', vocab };
      view.typedFocus = state.focus;
      focusAfterRender('neighbours-token');
      actions.redraw();
    },
  });
  return el(
    'div',
    { class: 'controls' },
    el(
      'div',
      { class: 'control' },
      el('span', {}, 'Token'),
      el('span', { class: 'chip static chosen-token' }, el('span', { class: 'chip-text' }, tokenLabel(chosen.bytes)), el('span', { class: 'chip-id' }, String(chosen.id))),
      el('span', { class: 'muted small' }, view.typed ? 'typed here' : `the ${focused() ? 'chosen' : 'last'} token (position ${at}); click a chip to choose another`),
    ),
    el(
      'div',
      { class: 'control' },
      el('span', {}, 'or type one'),
      el('span', { class: 'row' }, typed.input, typed.button),
      el('span', { class: 'muted small' }, '␣ or a space for a leading space'),
    ),
    view.typed ? el('button', { type: 'button', class: 'small-btn', onclick: () => ((view.typed = null), focusAfterRender('neighbours-token'), actions.redraw()) }, 'Back to the chosen chip') : null,
    typed.msg,
  );
}

/**
 * The chosen token's nearest tokens by cosine, as a bar chart; returns them with their
 * bytes once fetched.
 * @param {HTMLElement} root
 * @param {Chosen} chosen
 * @param {Destroyable[]} charts
 * @returns {{near: Neighbour[], bytes: Map<number, number[]>} | null}
 */
function nearestSection(root, chosen, charts) {
  const cfg = state.info.config;
  const box = el('section', { class: 'subview' }, el('h3', {}, `The ${NEAR} tokens nearest ${tokenLabel(chosen.bytes)} (id ${chosen.id}) by cosine`));
  root.append(box);
  const near = data.neighbours(chosen.id, NEAR);
  const bytes = near && !failed(near) ? tokenBytes(near.map((x) => x.id)) : undefined;
  if (failed(near)) return box.append(errorNote('the nearest tokens', near)), null;
  if (failed(bytes)) return box.append(errorNote('the tokens’ text', bytes)), null;
  if (!near || !bytes) return box.append(loadingNote(`the nearest tokens to ${tokenLabel(chosen.bytes)}`)), null;
  const bars = new BarChart(box, {
    title: `Nearest tokens to ${tokenLabel(chosen.bytes)} by cosine of their embedding rows`,
    valueName: 'cosine',
    axis: 'cosine (1 = same direction)',
    signed: near.some((x) => x.cosine < 0),
    max: 1,
    exportName: `neighbours-${chosen.id}`,
    caption: `Over all ${cfg.vocab_size} rows of the table, the token itself left out. Arrow keys read each bar.`,
  });
  bars.set(near.map((x) => ({ label: tokenLabel(bytes.get(x.id) || []), value: x.cosine, note: `id ${x.id}` })));
  bars.canvas.id = 'neighbours-chart';
  charts.push(bars);
  return { near, bytes };
}

/**
 * The map's choice of tokens and the tokens of that choice: this prompt's with the chosen
 * token's nearest, the preset capitals, or the learner's own words. Null while they are
 * fetched (or when they could not be).
 * @param {HTMLElement} box the map's section
 * @param {Chosen} chosen
 * @param {{near: Neighbour[], bytes: Map<number, number[]>} | null} near
 * @returns {MapToken[] | null}
 */
function mapTokens(box, chosen, near) {
  const pick = el(
    'select',
    { id: 'embedding-set', onchange: (/** @type {Event} */ e) => ((view.set = /** @type {HTMLSelectElement} */ (e.target).value), focusAfterRender('embedding-set'), actions.redraw()) },
    el('option', { value: 'context', selected: view.set === 'context' }, `this prompt’s tokens and ${tokenLabel(chosen.bytes)}’s nearest`),
    el('option', { value: 'capitals', selected: view.set === 'capitals' }, 'capitals and countries (␣Paris, ␣France, …)'),
    el('option', { value: 'words', selected: view.set === 'words' }, 'your own words'),
  );
  box.append(el('div', { class: 'controls' }, el('label', { class: 'control', for: 'embedding-set' }, el('span', {}, 'Tokens on the map'), pick)));
  if (view.set === 'context') {
    if (!near) return null;
    /** @type {Map<number, MapToken>} */
    const seen = new Map();
    seen.set(chosen.id, { id: chosen.id, bytes: chosen.bytes, group: 'chosen token' });
    for (const x of near.near) if (!seen.has(x.id)) seen.set(x.id, { id: x.id, bytes: near.bytes.get(x.id) || [], group: 'its nearest tokens' });
    for (const t of visibleTokens()) if (!seen.has(t.id)) seen.set(t.id, { id: t.id, bytes: t.bytes, group: 'this prompt’s tokens' });
    return [...seen.values()];
  }
  if (view.set === 'words') box.append(wordsEditor());
  return wordTokens(box);
}

/** The learner's words: a text box (commas between words) and the leading-space choice. */
function wordsEditor() {
  const box = el('input', { type: 'text', id: 'embedding-words', class: 'words-text', value: view.words, spellcheck: 'false', 'aria-label': 'Your words, separated by commas' });
  const space = el('input', { type: 'checkbox', checked: view.space });
  const apply = () => {
    view.words = box.value;
    view.space = space.checked;
    focusAfterRender('embedding-words');
    actions.redraw();
  };
  box.addEventListener('keydown', (e) => e.key === 'Enter' && (e.preventDefault(), apply()));
  return el(
    'div',
    { class: 'controls' },
    el('label', { class: 'control' }, el('span', {}, `Your words (commas between them, at most ${MAX_WORDS})`), box),
    el('label', { class: 'check' }, space, ' each with a leading space, as in mid-sentence'),
    el('button', { type: 'button', class: 'small-btn', onclick: apply }, 'Show'),
  );
}

/**
 * The preset words or the learner's, as tokens of this vocabulary (saying which are not
 * one token); null while their ids are fetched.
 * @param {HTMLElement} box
 * @returns {MapToken[] | null}
 */
function wordTokens(box) {
  const texts =
    view.set === 'capitals'
      ? CAPITALS
      : [
          ...new Set(
            view.words
              .split(',')
              .map((w) => typedText(w.trim()))
              .filter(Boolean)
              .map((w) => (view.space && !w.startsWith(' ') ? ' ' + w : w)),
          ),
        ].slice(0, MAX_WORDS);
  const words = texts.map((text) => ({ text, id: data.tokenId(text) }));
  if (words.some((w) => w.id === undefined)) return box.append(loadingNote('the words’ token ids')), null;
  const bad = words.find((w) => failed(w.id));
  if (bad && failed(bad.id)) return box.append(errorNote('a token id', bad.id)), null;
  const found = /** @type {{text: string, id: number}[]} */ (words.filter((w) => w.id != null));
  const bytes = found.length ? tokenBytes(found.map((w) => w.id)) : new Map();
  if (!bytes) return box.append(loadingNote('the tokens’ text')), null;
  if (failed(bytes)) return box.append(errorNote('the tokens’ text', bytes)), null;
  const group = view.set === 'capitals' ? 'the preset words' : 'your words';
  const missing = words.filter((w) => w.id == null).map((w) => tokenLabel(new TextEncoder().encode(w.text)));
  if (missing.length) box.append(el('p', { class: 'muted small' }, `Not one token in this model’s vocabulary, so left out: ${missing.join(', ')}.`));
  return [...new Map(found.map((w) => [w.id, { id: w.id, bytes: bytes.get(w.id) || [], group }])).values()];
}

/**
 * The PCA map of `points`; returns the scatter once drawn.
 * @param {HTMLElement} box the map's section
 * @param {MapToken[]} points
 * @param {Destroyable[]} charts
 * @returns {Scatter | null}
 */
function mapSection(box, points, charts) {
  if (points.length < 3) return box.append(el('p', { class: 'muted' }, `A map needs at least 3 tokens; ${points.length} ${points.length === 1 ? 'is' : 'are'} in this vocabulary.`)), null;
  const pca = data.pca(points.map((p) => p.id));
  if (!pca) return box.append(loadingNote('the PCA map')), null;
  if (failed(pca)) return box.append(errorNote('the PCA map', pca)), null;
  const scatter = new Scatter(box, {
    title: `Token embeddings on their first two principal axes (${points.length} tokens)`,
    exportName: `embedding-pca-${view.set}`,
    xName: 'principal axis 1',
    yName: 'principal axis 2',
    caption: `Both axes in embedding units, at the same scale; the dashed lines cross at the tokens’ mean. Labels that would overlap are left off: hover, or focus the map and use the arrow keys, to read every point.`,
    colors: GROUP_COLORS,
  });
  scatter.set(points.map((p, k) => ({ id: p.id, x: pca[k][0], y: pca[k][1], label: tokenLabel(p.bytes), group: p.group, note: `id ${p.id}` })));
  scatter.canvas.id = 'embedding-map';
  charts.push(scatter);
  return scatter;
}

/**
 * The exact pairwise cosines of a set of words: a matrix and the closest pairs.
 * @param {HTMLElement} root
 * @param {MapToken[]} points
 * @param {Destroyable[]} charts
 */
function cosineSection(root, points, charts) {
  const box = el('section', { class: 'subview' }, el('h3', {}, 'Their exact pairwise cosines'));
  root.append(box);
  const m = data.cosines(points.map((p) => p.id));
  if (!m) return box.append(loadingNote(`the cosines of ${points.length} tokens`));
  if (failed(m)) return box.append(errorNote('the pairwise cosines', m));
  const n = points.length;
  /** @type {(i: number, j: number) => number} */
  const cos = (i, j) => m[i][j];
  const labels = points.map((p) => tokenLabel(p.bytes));
  /** @type {[number, number, number][]} */
  const pairs = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j, cos(i, j)]);
  pairs.sort((a, b) => b[2] - a[2]);
  if (n >= 3) {
    box.append(
      el(
        'p',
        { class: 'cosine-first' },
        `${labels[0]}, ${labels[1]} and ${labels[2]}: `,
        `cos(${labels[0]}, ${labels[1]}) = ${cos(0, 1).toFixed(3)}, cos(${labels[0]}, ${labels[2]}) = ${cos(0, 2).toFixed(3)}, cos(${labels[1]}, ${labels[2]}) = ${cos(1, 2).toFixed(3)}.`,
      ),
    );
  }
  box.append(
    el('p', { class: 'small' }, `Closest pairs: ${pairs.slice(0, 5).map(([i, j, c]) => `${labels[i]}–${labels[j]} ${c.toFixed(3)}`).join(' · ')}. Least alike: ${pairs.slice(-1).map(([i, j, c]) => `${labels[i]}–${labels[j]} ${c.toFixed(3)}`)[0]}.`),
  );
  const hm = new Heatmap(box, {
    scale: 'diverging',
    square: true,
    maxHeight: 440,
    valueName: 'cosine',
    title: 'Pairwise cosines of token-embedding rows',
    exportName: 'embedding-cosines',
    rowTitle: 'token',
    colTitle: 'token',
    cellText: (i, j) => cos(i, j).toFixed(2),
    tooltip: (i, j, v) => `cos(${labels[i]}, ${labels[j]}) = ${v.toFixed(4)}`,
  });
  hm.set({ rows: n, cols: n, get: cos, max: 1, rowLabels: labels, colLabels: labels, label: `pairwise cosines of ${n} tokens` });
  charts.push(hm);
}
