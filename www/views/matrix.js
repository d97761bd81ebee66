// @ts-check
// Stage "Batched matrix": one head's queries for the whole prompt as one matrix product
// (src/batched.rs). The prompt's token vectors as the attention block reads them (ln_1's
// output), stacked as X (T × d), times the head's slice of the learned query projection
// W_Q (d × head_dim), give Q (T × head_dim): every token's query in one product. The
// product's time is measured in the worker; the run's time is the backend's.
import { el, viewHeader, fmt, fmtCount, loadingNote, errorNote } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { maxAbs } from '../colors.js';
import { axisLabels } from '../tokens.js';
import { state, visibleTokens } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';
import { focusAfterRender, restoreFocus } from './instrument.js';

/** A time in the unit that reads best. @param {number} ms */
function duration(ms) {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(ms * 1000 >= 10 ? 1 : 2)} µs`;
}

/**
 * @param {HTMLElement} root
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root) {
  const cfg = state.info.config;
  const toks = visibleTokens();
  const layer = Math.min(state.layer, cfg.n_layer - 1);
  const head = Math.min(state.head, cfg.n_head - 1);
  root.append(
    viewHeader(
      'The batched matrix',
      ['activation', 'parameter', 'hyperparameter'],
      'One vector per token is how the model is explained; it is not how it is computed. The tokens’ vectors are stacked into one matrix and multiplied by a matrix of learned weights: one product gives every token’s result at once, which is the shape of work a GPU, or a CPU’s blocked matrix multiply, does fastest.',
    ),
  );
  /** @type {(l: number, h: number, id: string) => void} */
  const open = (l, h, id) => (focusAfterRender(id), actions.navigate({ stage: 'matrix', layer: l, head: h }));
  root.append(
    el(
      'div',
      { class: 'controls' },
      el('label', {}, 'Layer ', el('select', { id: 'matrix-layer', 'aria-label': 'Layer', onchange: (/** @type {Event} */ e) => open(Number(/** @type {HTMLSelectElement} */ (e.target).value), head, 'matrix-layer') }, Array.from({ length: cfg.n_layer }, (_, l) => el('option', { value: String(l), selected: l === layer }, `${l + 1}`)))),
      el('label', {}, 'Head ', el('select', { id: 'matrix-head', 'aria-label': 'Head', onchange: (/** @type {Event} */ e) => open(layer, Number(/** @type {HTMLSelectElement} */ (e.target).value), 'matrix-head') }, Array.from({ length: cfg.n_head }, (_, h) => el('option', { value: String(h), selected: h === head }, `${h + 1}`)))),
    ),
  );
  const m = data.batchedQuery(layer, head, state.at);
  if (!m) return root.append(loadingNote(`layer ${layer + 1}, head ${head + 1}’s queries`)), {};
  if (failed(m)) {
    root.append(errorNote('the matrix product', m));
    restoreFocus();
    return {};
  }
  const T = m.tokens;
  const hd = m.head_dim;
  const d = m.d;
  const labels = axisLabels(toks.slice(0, T));
  const run = state.run;
  const where = run.backend.kind === 'gpu' ? `WebGPU (${run.backend.adapter ? run.backend.adapter.name : 'the GPU'})` : 'the CPU (WebAssembly, the blocked SGEMM)';
  root.append(
    el(
      'p',
      { class: 'matrix-equation', id: 'matrix-equation' },
      el('span', { class: 'mono' }, `X (${T} × ${d}) · W_Q (${d} × ${hd})${m.bias ? ' + b' : ''} = Q (${T} × ${hd})`),
    ),
    el(
      'p',
      { id: 'matrix-timing' },
      `One matrix product computed the queries of all ${T} tokens of layer ${m.layer}, head ${m.head} at once: ${fmtCount(m.multiply_adds)} multiply-adds. `,
      m.product_ms != null
        ? `Timed here for real, in this tab’s worker on the CPU (the blocked SGEMM, the same code the CPU backend runs): ${duration(m.product_ms)} per product, the mean of ${fmtCount(m.repeats)} repeats. `
        : 'This browser gave no clock fine enough to time the product here. ',
      `The whole last run, every layer with all ${cfg.n_head} heads’ queries, keys and values in one product per layer, took ${run.elapsed_ms.toFixed(1)} ms on ${where} for ${run.computed} token${run.computed === 1 ? '' : 's'}.`,
    ),
  );
  const grid = el('div', { class: 'matrix-grid' });
  root.append(grid);
  /** @type {Heatmap[]} */
  const maps = [];
  /** @type {(title: string, kind: string, rows: number, cols: number, values: number[], opts: Record<string, any>) => Heatmap} */
  const fig = (title, kind, rows, cols, values, opts) => {
    const cell = el('section', { class: `matrix-cell matrix-${kind}` }, el('h3', {}, title));
    grid.append(cell);
    const hm = new Heatmap(cell, { scale: 'diverging', valueName: 'value', title, exportName: `batched-${kind}-layer${m.layer}-head${m.head}`, ...opts });
    hm.set({ rows, cols, get: (i, j) => values[i * cols + j], max: maxAbs(Float32Array.from(values)) || 1, rowLabels: opts.rowLabels, label: `${title}, ${rows} × ${cols}` });
    hm.canvas.id = `matrix-${kind}`;
    maps.push(hm);
    return hm;
  };
  fig(`X: the tokens’ vectors after ln_1 (${T} × ${d})`, 'x', T, d, m.x, {
    rowTitle: 'tokens (rows)',
    colTitle: `dimensions 0…${d - 1}`,
    rowLabels: labels,
    rowHeight: T > 24 ? 10 : 18,
    tooltip: (/** @type {number} */ i, /** @type {number} */ j, /** @type {number} */ v) => `X: token ${labels[i]}, dimension ${j}: ${fmt(v)}`,
    onHoverRow: actions.setHover,
  });
  grid.append(el('span', { class: 'matrix-op', 'aria-hidden': 'true' }, '×'));
  fig(`W_Q: layer ${m.layer}, head ${m.head} (${d} × ${hd})`, 'w', d, hd, m.w, {
    rowTitle: `input dimensions 0…${d - 1}`,
    colTitle: `query dimensions 0…${hd - 1}`,
    rowHeight: 2,
    maxHeight: 320,
    tooltip: (/** @type {number} */ i, /** @type {number} */ j, /** @type {number} */ v) => `W_Q: input dimension ${i}, query dimension ${j}: ${fmt(v)}`,
  });
  grid.append(el('span', { class: 'matrix-op', 'aria-hidden': 'true' }, '='));
  fig(`Q: every token’s query (${T} × ${hd})`, 'q', T, hd, m.q, {
    rowTitle: 'tokens (rows)',
    colTitle: `query dimensions 0…${hd - 1}`,
    rowLabels: labels,
    rowHeight: T > 24 ? 10 : 18,
    // Each cell is one row of X times one column of W_Q: recomputed here from the two
    // matrices shown, beside the engine's value.
    tooltip: (/** @type {number} */ i, /** @type {number} */ j, /** @type {number} */ v) => `Q: token ${labels[i]}, dimension ${j}: ${fmt(v)} (row ${i} of X · column ${j} of W_Q${m.bias ? ' + b' : ''} = ${fmt(dot(m, i, j))})`,
    onHoverRow: actions.setHover,
  });
  root.append(
    el(
      'p',
      { class: 'muted small' },
      `X is an activation (your prompt’s values); W_Q is a learned parameter, this head’s ${hd} columns of the layer’s query projection; d = ${d} and head_dim = ${hd} are hyperparameters. `,
      cfg.rope_theta != null ? 'Q is shown before RoPE rotates it by position. ' : '',
      'Keys and values come from the same X by two more products, and attention scores are one more: Q times the keys, transposed.',
    ),
  );
  restoreFocus(maps);
  return { highlight: (i) => maps.forEach((hm) => hm.spec && hm.spec.rows === T && hm.highlight(i, null)), destroy: () => maps.forEach((hm) => hm.destroy()) };
}

/**
 * Row i of X times column j of W_Q (plus the bias), in double precision.
 * @param {import('../protocol.js').BatchedMatrix} m
 * @param {number} i
 * @param {number} j
 */
function dot(m, i, j) {
  let s = m.bias ? m.bias[j] : 0;
  for (let k = 0; k < m.d; k++) s += m.x[i * m.d + k] * m.w[k * m.head_dim + j];
  return s;
}
