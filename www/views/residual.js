// The residual stream: for each token, its size (L2 norm) after every layer and how much
// this layer's attention and MLP blocks added to it.
import { el, viewHeader, fmt } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { tokenLabel, shortLabel } from '../tokens.js';
import { state, visibleTokens, setHover } from '../store.js';

export function render(root, layer) {
  const toks = visibleTokens();
  const n = toks.length;
  const L = state.info.config.n_layer;
  const r = state.tensors.residual_norms; // [T, 1 + 3L]
  const C = r.shape[1];
  const v = (i, k) => r.data[i * C + k];
  const residAfter = (i, l) => (l < 0 ? v(i, 0) : v(i, 1 + 3 * l));
  root.append(
    viewHeader(
      `Residual stream · layer ${layer + 1}`,
      'activation',
      'Each token carries one vector through the model; every block adds to it. Shown: the length (L2 norm) of that vector, and of what attention and the MLP added in this layer.',
    ),
  );
  const box = el('section', { class: 'subview' }, el('h3', {}, '‖residual‖ after each layer'));
  root.append(box);
  const rowNames = ['embedding', ...Array.from({ length: L }, (_, l) => `after layer ${l + 1}`)];
  let max = 0;
  for (let i = 0; i < n; i++) for (let l = -1; l < L; l++) max = Math.max(max, residAfter(i, l));
  const labels = toks.map((t, i) => `${i}:${shortLabel(t.bytes, 10)}`);
  const hm = new Heatmap(box, {
    scale: 'sequential',
    rowHeight: 22,
    rowTitle: 'embedding, then after each layer',
    colTitle: 'tokens',
    valueName: '‖x‖',
    tooltip: (s, i) =>
      s === 0
        ? `token ${labels[i]}, embedding: ‖x‖ = ${fmt(v(i, 0), 3)}`
        : `token ${labels[i]}, after layer ${s}: ‖x‖ = ${fmt(residAfter(i, s - 1), 3)} (attention added ${fmt(v(i, 3 * s - 1), 3)}, MLP added ${fmt(v(i, 3 * s), 3)})`,
  });
  hm.set({ rows: L + 1, cols: n, get: (s, i) => residAfter(i, s - 1), max: max || 1, rowLabels: rowNames, colLabels: labels, highlightRow: layer + 1, label: 'residual norms' });

  let top = 0;
  for (let i = 0; i < n; i++) top = Math.max(top, residAfter(i, layer - 1), residAfter(i, layer), v(i, 2 + 3 * layer), v(i, 3 + 3 * layer));
  const bar = (x, cls) => el('span', { class: 'bar-track' }, el('span', { class: `bar ${cls}`, style: { width: `${(x / (top || 1)) * 100}%` } }));
  const rows = toks.map((t, i) =>
    el(
      'tr',
      { dataset: { index: i }, onpointerenter: () => setHover(i), onpointerleave: () => setHover(null) },
      el('td', {}, el('span', { class: 'chip static' }, el('span', { class: 'chip-text' }, tokenLabel(t.bytes)))),
      el('td', {}, bar(residAfter(i, layer - 1), 'in'), el('span', { class: 'mono small' }, fmt(residAfter(i, layer - 1), 2))),
      el('td', {}, bar(v(i, 2 + 3 * layer), 'attn'), el('span', { class: 'mono small' }, fmt(v(i, 2 + 3 * layer), 2))),
      el('td', {}, bar(v(i, 3 + 3 * layer), 'mlp'), el('span', { class: 'mono small' }, fmt(v(i, 3 + 3 * layer), 2))),
      el('td', {}, bar(residAfter(i, layer), 'out'), el('span', { class: 'mono small' }, fmt(residAfter(i, layer), 2))),
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
      for (const tr of table.querySelectorAll('tbody tr')) tr.classList.toggle('hover', Number(tr.dataset.index) === i);
    },
    destroy: () => hm.destroy(),
  };
}
