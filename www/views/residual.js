// @ts-check
// The residual stream: for each token, its size (L2 norm) after every layer and how much
// this layer's attention and MLP blocks added to it.
import { el, viewHeader, fmt, loadingNote, errorNote } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { tokenLabel, axisLabels } from '../tokens.js';
import { state, visibleTokens } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';

/**
 * @param {HTMLElement} root
 * @param {number} layer
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root, layer) {
  const toks = visibleTokens();
  const n = toks.length;
  const L = state.info.config.n_layer;
  const norm = state.info.config.norm === 'rms_norm' ? 'RMSNorm' : 'LayerNorm';
  root.append(
    viewHeader(
      `Residual stream · layer ${layer + 1}`,
      'activation',
      `Each token carries one vector through the model; every block adds to it (each block first reads it through a ${norm}). Shown: the length (L2 norm) of that vector, and of what attention and the MLP added in this layer.`,
    ),
  );
  const r = data.norms();
  if (!r) return root.append(loadingNote('residual norms')), {};
  if (failed(r)) return root.append(errorNote('residual norms', r)), {};
  /** @type {(i: number, l: number) => number} */
  const resid = (i, l) => (l < 0 ? r.embedding[i] : r.after_layer[l][i]);
  const box = el('section', { class: 'subview' }, el('h3', {}, '‖residual‖ after each layer'));
  root.append(box);
  let max = 0;
  for (let i = 0; i < n; i++) for (let l = -1; l < L; l++) max = Math.max(max, resid(i, l));
  const labels = axisLabels(toks);
  const hm = new Heatmap(box, {
    scale: 'sequential',
    rowHeight: L > 12 ? 12 : 22,
    rowTitle: 'embedding, then after each layer',
    colTitle: 'tokens',
    valueName: '‖x‖',
    title: 'Residual stream norm per layer and token',
    exportName: 'residual-norms',
    tooltip: (s, i) =>
      s === 0 ? `token ${labels[i]}, embedding: ‖x‖ = ${fmt(r.embedding[i], 3)}` : `token ${labels[i]}, after layer ${s}: ‖x‖ = ${fmt(resid(i, s - 1), 3)} (attention added ${fmt(r.attention[s - 1][i], 3)}, MLP added ${fmt(r.mlp[s - 1][i], 3)})`,
  });
  hm.set({ rows: L + 1, cols: n, get: (s, i) => resid(i, s - 1), max: max || 1, rowLabels: ['embedding', ...Array.from({ length: L }, (_, l) => `after layer ${l + 1}`)], colLabels: labels, highlightRow: layer + 1, label: 'residual norms' });

  let top = 0;
  for (let i = 0; i < n; i++) top = Math.max(top, resid(i, layer - 1), resid(i, layer), r.attention[layer][i], r.mlp[layer][i]);
  /** @type {(x: number, cls: string) => HTMLElement} */
  const bar = (x, cls) => el('span', { class: 'bar-track' }, el('span', { class: `bar ${cls}`, style: { width: `${(x / (top || 1)) * 100}%` } }));
  /** @type {(x: number, cls: string) => HTMLElement} */
  const cell = (x, cls) => el('td', {}, bar(x, cls), el('span', { class: 'mono small' }, fmt(x, 2)));
  const rows = toks.map((t, i) =>
    el(
      'tr',
      { dataset: { index: i }, onpointerenter: () => actions.setHover(i), onpointerleave: () => actions.setHover(null) },
      el('td', {}, el('span', { class: 'chip static' }, el('span', { class: 'chip-text' }, tokenLabel(t.bytes)))),
      cell(resid(i, layer - 1), 'in'),
      cell(r.attention[layer][i], 'attn'),
      cell(r.mlp[layer][i], 'mlp'),
      cell(resid(i, layer), 'out'),
    ),
  );
  const table = el(
    'table',
    { class: 'data residual' },
    el('thead', {}, el('tr', {}, el('th', {}, 'token'), el('th', {}, '‖in‖'), el('th', {}, '+ attention ‖·‖'), el('th', {}, '+ MLP ‖·‖'), el('th', {}, '‖out‖'))),
    el('tbody', {}, rows),
  );
  root.append(el('section', { class: 'subview' }, el('h3', {}, `Layer ${layer + 1}: what each block added`), el('div', { class: 'scroll' }, table)));
  return {
    highlight(i) {
      hm.highlight(layer + 1, i);
      for (const tr of table.querySelectorAll('tbody tr')) tr.classList.toggle('hover', Number(/** @type {HTMLElement} */ (tr).dataset.index) === i);
    },
    destroy: () => hm.destroy(),
  };
}
