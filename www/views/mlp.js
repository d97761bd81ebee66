// MLP of one layer: the hidden activations after the nonlinearity, [tokens × n_inner],
// and the most active neurons for the chosen token.
import { el, viewHeader, fmt } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { maxAbs } from '../colors.js';
import { shortLabel, tokenLabel } from '../tokens.js';
import { state, visibleTokens, setHover, emit } from '../store.js';

export function render(root, layer) {
  const toks = visibleTokens();
  const n = toks.length;
  const cfg = state.info.config;
  const m = state.tensors.mlp_activation[layer];
  const F = m.shape[1];
  const act = cfg.activation === 'relu' ? 'ReLU' : 'GELU';
  const labels = toks.map((t, i) => `${i}:${shortLabel(t.bytes, 10)}`);
  const focus = state.focus != null && state.focus < n ? state.focus : n - 1;
  root.append(
    viewHeader(
      `MLP · layer ${layer + 1}`,
      'activation',
      `The ${F} hidden neurons of this layer’s feed-forward block after ${act}, for each token. Each token is processed on its own here; positive values are neurons that fire.`,
    ),
  );
  const box = el('section', { class: 'subview' });
  root.append(box);
  const data = m.data.subarray(0, n * F);
  const hm = new Heatmap(box, {
    scale: 'diverging',
    rowTitle: 'tokens',
    colTitle: `neurons 0…${F - 1}`,
    valueName: `post-${act}`,
    tooltip: (i, j, v) => `token ${labels[i]}, neuron ${j}: ${fmt(v)}`,
    onHoverRow: setHover,
    onClick: (i) => {
      state.focus = i;
      emit('render');
    },
  });
  hm.set({ rows: n, cols: F, get: (i, j) => data[i * F + j], max: maxAbs(data) || 1, rowLabels: labels, label: `MLP activations of layer ${layer + 1}` });

  const row = Array.from(data.subarray(focus * F, (focus + 1) * F));
  const order = row.map((v, j) => j).sort((a, b) => row[b] - row[a]).slice(0, 10);
  const top = row[order[0]] || 1;
  const select = el(
    'select',
    { 'aria-label': 'Token for top neurons', onchange: (e) => { state.focus = Number(e.target.value); emit('render'); } },
    toks.map((t, i) => el('option', { value: i, selected: i === focus }, `${i}: ${tokenLabel(t.bytes)}`)),
  );
  const list = el(
    'ol',
    { class: 'bars' },
    order.map((j) =>
      el(
        'li',
        {},
        el('span', { class: 'bar-label mono' }, `neuron ${j}`),
        el('span', { class: 'bar-track' }, el('span', { class: 'bar pos', style: { width: `${Math.max(0, (row[j] / top) * 100)}%` } })),
        el('span', { class: 'bar-value mono' }, fmt(row[j], 3)),
      ),
    ),
  );
  root.append(el('section', { class: 'subview' }, el('h3', {}, 'Most active neurons for token ', select), list));
  return { highlight: (i) => hm.highlight(i, null), destroy: () => hm.destroy() };
}
