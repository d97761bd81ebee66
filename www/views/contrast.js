// @ts-check
// Stage "Same word, two sentences": one word's vector in two contexts (src/contrast.rs).
// Both sentences run beside the prompt's context; the chart follows the cosine of the
// word's two vectors from the token embedding through every layer, raw and centred, and
// the strips show the two vectors themselves at one depth, dimension by dimension.
import { el, viewHeader, fmt, loadingNote, errorNote } from '../dom.js';
import { LineChart } from '../chart.js';
import { Heatmap } from '../heatmap.js';
import { maxAbs } from '../colors.js';
import { tokenLabel } from '../tokens.js';
import { state, CONTRAST_DEFAULT } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';
import { tokenBytes, focusAfterRender, restoreFocus } from './instrument.js';

/** @typedef {import('../protocol.js').Contrast} Contrast */
/** @typedef {import('../protocol.js').ContrastSide} Side */

const RAW = '#2563eb';
const CENTRED = '#c2410c';
const NEAR = 8;

/** The cosine chart, read by keyboard with every number of a depth. */
class ContrastChart extends LineChart {
  /** @type {Contrast | null} */
  c = null;
  /** @param {number} k */
  describe(k) {
    const c = this.c;
    return `${c.depths[k]}: cosine ${c.cosine[k].toFixed(4)}, centred ${c.centred[k].toFixed(4)}; length in A ${c.norms[k][0].toFixed(2)}, in B ${c.norms[k][1].toFixed(2)}`;
  }
  csv() {
    const c = this.c;
    return [['depth', 'cosine', 'centred_cosine', 'norm_a', 'norm_b'], ...c.depths.map((d, k) => [d, c.cosine[k], c.centred[k], c.norms[k][0], c.norms[k][1]])];
  }
}

/**
 * @param {HTMLElement} root
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root) {
  const cs = state.contrast;
  root.append(
    viewHeader(
      'The same word in two sentences',
      ['parameter', 'activation'],
      'A word enters the model as its row of the token-embedding table, the same row in every sentence. Each layer then adds what attention and the MLP computed from the words around it. Here one word is followed through two sentences: the cosine of its two vectors at every depth (1: they point the same way).',
    ),
    el(
      'p',
      { class: 'muted small instrument-note' },
      'The numbers of a vector are not labelled features: no dimension means “animal” or “verb”, and calling one “pet-ness” is only an analogy. What can be measured is how two vectors relate, as the cosine below does.',
    ),
    editor(cs),
  );
  /** @type {{destroy: () => void}[]} */
  const figs = [];
  const c = data.contrast(cs);
  if (!c) return root.append(loadingNote('both sentences')), {};
  if (failed(c)) {
    root.append(errorNote('the comparison', c));
    restoreFocus();
    return {};
  }
  root.append(sentences(c));
  root.append(summary(c));
  const chartBox = el(
    'section',
    { class: 'subview' },
    el('h3', {}, 'Cosine of the two vectors, depth by depth'),
    el(
      'p',
      { class: 'series-legend small' },
      el('span', { class: 'swatch', style: { background: RAW } }),
      ' cosine ',
      el('span', { class: 'swatch', style: { background: CENTRED } }),
      ' centred cosine',
    ),
  );
  root.append(chartBox);
  const chart = new ContrastChart(chartBox, {
    title: `Cosine of ${quoted(c.a)} in A and ${quoted(c.b)} in B, depth by depth`,
    yMin: -1,
    yMax: 1,
    xName: 'depth: the token embedding (e), then after each layer',
    exportName: 'same-word-cosine',
    caption: 'Blue: the cosine of the two vectors. Orange: the centred cosine, after subtracting from both the mean vector of every token of the two sentences at that depth (each sentence’s first token left out: models give it an outsized vector of its own). The raw cosine of residual vectors is pulled up by what all tokens share at a depth; the centred one compares what is left. Arrow keys read each depth.',
  });
  chart.c = c;
  chart.set(
    c.depths.map((_, k) => (k === 0 ? 'e' : String(k))),
    [
      { name: 'cosine', values: c.cosine, color: RAW },
      { name: 'centred', values: c.centred, color: CENTRED },
    ],
  );
  chart.canvas.id = 'contrast-chart';
  figs.push(chart);
  figs.push(strips(root, c));
  nearest(root, c);
  restoreFocus();
  return { destroy: () => figs.forEach((f) => f && f.destroy()) };
}

/** The compared token of a sentence, as the page shows tokens. @param {Side} s */
const quoted = (s) => tokenLabel(s.tokens[s.position].bytes);

/**
 * The two sentences and the word, applied together (Enter or the button).
 * @param {import('../store.js').ContrastState} cs
 */
function editor(cs) {
  const a = el('input', { type: 'text', id: 'contrast-a', class: 'sentence-text', value: cs.a, spellcheck: 'false', autocomplete: 'off' });
  const b = el('input', { type: 'text', id: 'contrast-b', class: 'sentence-text', value: cs.b, spellcheck: 'false', autocomplete: 'off' });
  const w = el('input', { type: 'text', id: 'contrast-word', class: 'target-text', value: cs.word, spellcheck: 'false', autocomplete: 'off' });
  /** @param {string} id */
  const apply = (id) => {
    focusAfterRender(id);
    actions.setContrast({ a: a.value, b: b.value, word: w.value });
  };
  for (const box of [a, b, w]) box.addEventListener('keydown', (e) => e.key === 'Enter' && (e.preventDefault(), apply(box.id)));
  const isDefault = cs.a === CONTRAST_DEFAULT.a && cs.b === CONTRAST_DEFAULT.b && cs.word === CONTRAST_DEFAULT.word;
  return el(
    'div',
    { class: 'controls contrast-editor' },
    el('label', { class: 'control', for: 'contrast-a' }, el('span', {}, 'Sentence A'), a),
    el('label', { class: 'control', for: 'contrast-b' }, el('span', {}, 'Sentence B'), b),
    el('label', { class: 'control', for: 'contrast-word' }, el('span', {}, 'Word'), w, el('span', { class: 'muted small' }, 'its last token, where it first occurs')),
    el(
      'div',
      { class: 'row' },
      el('button', { type: 'button', class: 'small-btn', id: 'contrast-apply', onclick: () => apply('contrast-apply') }, 'Compare'),
      el('button', { type: 'button', class: 'small-btn', onclick: () => (focusAfterRender('contrast-a'), actions.setContrast({ a: state.prompt })) }, 'Use my prompt as sentence A'),
      isDefault ? null : el('button', { type: 'button', class: 'small-btn', onclick: () => actions.setContrast({ ...CONTRAST_DEFAULT }) }, 'Back to “dog”'),
    ),
  );
}

/**
 * Each sentence's tokens; the compared one is pressed, and any other can be chosen instead.
 * @param {Contrast} c
 */
function sentences(c) {
  const cs = state.contrast;
  /** @type {(s: Side, k: 0 | 1) => HTMLElement} */
  const row = (s, k) =>
    el(
      'div',
      { class: 'contrast-sentence' },
      el('span', { class: 'muted small' }, k === 0 ? 'A' : 'B'),
      el(
        'span',
        { class: 'chips', role: 'group', 'aria-label': `Tokens of sentence ${k === 0 ? 'A' : 'B'}` },
        s.tokens.map((t, i) =>
          el(
            'button',
            {
              type: 'button',
              class: 'chip' + (i === s.position ? ' chosen' : ''),
              'aria-pressed': String(i === s.position),
              title: `compare token ${i} of sentence ${k === 0 ? 'A' : 'B'}`,
              onclick: () => {
                const positions = /** @type {[number | null, number | null]} */ ([...cs.positions]);
                positions[k] = i;
                positions[1 - k] = positions[1 - k] ?? (k === 0 ? c.b.position : c.a.position);
                actions.setContrast({ positions });
              },
            },
            tokenLabel(t.bytes),
          ),
        ),
      ),
    );
  const chosen = cs.positions.some((p) => p != null);
  return el(
    'div',
    { class: 'subview' },
    row(c.a, 0),
    row(c.b, 1),
    el(
      'p',
      { class: 'muted small' },
      chosen ? 'Tokens chosen by hand. ' : `“${c.word}”: its last token at its first occurrence in each sentence. Click another token to compare it instead. `,
      chosen ? el('button', { type: 'button', class: 'link-btn', onclick: () => actions.setContrast({ positions: [null, null] }) }, `Back to “${cs.word}”`) : null,
    ),
  );
}

/**
 * What the numbers show, in words: where the cosine starts, where it is lowest, where it
 * ends; the same for the centred cosine.
 * @param {Contrast} c
 */
function summary(c) {
  const L = c.cosine.length - 1;
  const f = (/** @type {number} */ v) => v.toFixed(3);
  const [ta, tb] = [c.a.tokens[c.a.position], c.b.tokens[c.b.position]];
  const same = ta.id === tb.id;
  const start = same
    ? `Both start as the same vector (cosine ${f(c.cosine[0])}): the compared token, ${tokenLabel(ta.bytes)}, is the same token in both sentences, so it is the same row of the embedding table.`
    : `They start at cosine ${f(c.cosine[0])}: ${tokenLabel(ta.bytes)} and ${tokenLabel(tb.bytes)} are different tokens with different embedding rows.`;
  let low = 1;
  for (let k = 2; k <= L; k++) if (c.cosine[k] < c.cosine[low]) low = k;
  const path =
    L === 0
      ? ''
      : ` After layer 1 the cosine is ${f(c.cosine[1])}; ${low === 1 ? 'that is its lowest' : `it is lowest after layer ${low} (${f(c.cosine[low])})`}${L > 1 ? `, and after the last layer (${L}) it is ${f(c.cosine[L])}` : ''}.`;
  const centred = L === 0 ? '' : ` Centred, it goes from ${f(c.centred[0])} to ${f(c.centred[1])} after layer 1 and ends at ${f(c.centred[L])}.`;
  return el('p', { class: 'contrast-summary', id: 'contrast-summary' }, start + path + centred);
}

/**
 * The two vectors at the chosen depth as aligned strips (and their difference).
 * @param {HTMLElement} root
 * @param {Contrast} c
 */
function strips(root, c) {
  const cs = state.contrast;
  const depth = Math.max(0, Math.min(c.depths.length - 1, cs.depth));
  const pick = el(
    'select',
    { id: 'contrast-depth', onchange: (/** @type {Event} */ e) => (focusAfterRender('contrast-depth'), actions.setContrast({ depth: Number(/** @type {HTMLSelectElement} */ (e.target).value) })) },
    c.depths.map((d, k) => el('option', { value: String(k), selected: k === depth }, `${d} · cosine ${c.cosine[k].toFixed(3)}`)),
  );
  const box = el(
    'section',
    { class: 'subview' },
    el('h3', {}, 'The two vectors, dimension by dimension'),
    el('div', { class: 'controls' }, el('label', { class: 'control', for: 'contrast-depth' }, el('span', {}, 'Depth'), pick)),
  );
  root.append(box);
  const [va, vb] = c.vectors[depth];
  const d = va.length;
  const diff = va.map((x, j) => x - vb[j]);
  const rows = [va, vb, diff];
  const names = [`A: ${quoted(c.a)}`, `B: ${quoted(c.b)}`, 'A − B'];
  const hm = new Heatmap(box, {
    scale: 'diverging',
    rowHeight: 24,
    rowTitle: 'the two vectors and their difference',
    colTitle: `dimensions 0…${d - 1}`,
    valueName: 'value',
    title: `${c.depths[depth]}: the word’s vector in A and in B`,
    exportName: `same-word-vectors-depth${depth}`,
    tooltip: (i, j, v) => `${names[i]}, dimension ${j}: ${fmt(v)}`,
  });
  hm.set({ rows: 3, cols: d, get: (i, j) => rows[i][j], max: Math.max(maxAbs(va), maxAbs(vb)) || 1, rowLabels: names, label: `the word’s vectors at ${c.depths[depth]}, ${d} dimensions` });
  hm.canvas.id = 'contrast-strips';
  box.append(el('p', { class: 'muted small' }, `Lengths at this depth: ${c.norms[depth][0].toFixed(2)} in A, ${c.norms[depth][1].toFixed(2)} in B. One colour scale for both rows, so the strips can be compared column by column.`));
  return hm;
}

/**
 * The compared token's nearest tokens in the embedding table (the Embedding space view's
 * computation), and the way there.
 * @param {HTMLElement} root
 * @param {Contrast} c
 */
function nearest(root, c) {
  const t = c.a.tokens[c.a.position];
  const box = el('section', { class: 'subview' }, el('h3', {}, `Nearest tokens to ${tokenLabel(t.bytes)} in the embedding table`));
  root.append(box);
  const near = data.neighbours(t.id, NEAR);
  const bytes = near && !failed(near) ? tokenBytes(near.map((x) => x.id)) : undefined;
  if (failed(near)) return box.append(errorNote('the nearest tokens', near));
  if (failed(bytes)) return box.append(errorNote('the tokens’ text', bytes));
  if (!near || !bytes) return box.append(loadingNote('the nearest tokens'));
  box.append(
    el('p', { class: 'muted small' }, 'Where the word starts, before any context: the tokens whose embedding rows point most nearly the same way (cosine).'),
    el(
      'ul',
      { class: 'near-list', id: 'contrast-nearest' },
      near.map((x) => el('li', {}, el('span', { class: 'chip static' }, tokenLabel(bytes.get(x.id) || [])), el('span', { class: 'mono small' }, ` ${x.cosine.toFixed(3)}`))),
    ),
    el('button', { type: 'button', class: 'small-btn', onclick: () => actions.navigate({ stage: 'neighbours' }) }, 'Open the Embedding space'),
  );
}
