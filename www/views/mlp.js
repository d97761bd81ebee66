// @ts-check
// MLP of one layer: its hidden neurons for each token, and the most active ones for the
// chosen token. GPT-2: act(x·W_in) (GELU). Llama family: SwiGLU, SiLU(x·W_gate) ⊙ x·W_up,
// shown as its three parts: the gate, the up projection and their product.
import { el, viewHeader, fmt, kindBadge, loadingNote, errorNote } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { BarChart } from '../chart.js';
import { maxAbs } from '../colors.js';
import { axisLabels, tokenLabel } from '../tokens.js';
import { state, visibleTokens, position } from '../store.js';
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
  const cfg = state.info.config;
  const F = cfg.n_inner;
  const gated = cfg.gated_mlp;
  const act = { gelu_new: 'GELU', relu: 'ReLU', silu: 'SiLU' }[cfg.activation] || cfg.activation;
  const labels = axisLabels(toks);
  const focus = position();
  root.append(
    viewHeader(
      `MLP · layer ${layer + 1}`,
      'activation',
      gated
        ? `The ${F} hidden neurons of this layer’s feed-forward block (SwiGLU): a gate x·W_gate through ${act}, times an up projection x·W_up; their product feeds the down projection. Each token is processed on its own here.`
        : `The ${F} hidden neurons of this layer’s feed-forward block after ${act}, for each token. Each token is processed on its own here; positive values are neurons that fire.`,
    ),
  );
  const parts = gated
    ? [
        ['mlp_gate', `Gate: x·W_gate (before ${act})`, 'Where the gate is strongly positive, SiLU passes the up projection through; where it is negative, it (almost) shuts it.'],
        ['mlp_up', 'Up projection: x·W_up', 'The values the gate lets through.'],
        ['mlp_activation', `Product: ${act}(gate) ⊙ up`, 'The hidden neurons the down projection reads.'],
      ]
    : [['mlp_activation', `After ${act}`, 'The hidden neurons the output projection reads.']];
  /** @type {(Heatmap | BarChart)[]} */
  const maps = [];
  for (const [name, title, line] of parts) {
    const box = el('section', { class: 'subview' }, el('h3', {}, title, ' ', kindBadge('activation')), el('p', { class: 'muted' }, line));
    root.append(box);
    const m = data.tensor(name, layer);
    if (!m || failed(m)) {
      box.append(failed(m) ? errorNote(title, m) : loadingNote(title));
      continue;
    }
    const values = m.data.subarray(0, n * F);
    const hm = new Heatmap(box, {
      scale: 'diverging',
      rowTitle: 'tokens',
      colTitle: `neurons 0…${F - 1}`,
      valueName: name === 'mlp_activation' ? `post-${act}` : 'value',
      title: `MLP layer ${layer + 1}: ${title}`,
      exportName: `mlp-layer${layer + 1}-${name}`,
      tooltip: (i, j, v) => `token ${labels[i]}, neuron ${j}: ${fmt(v)}`,
      onHoverRow: actions.setHover,
      onClick: (i) => actions.setFocus(i),
    });
    hm.set({ rows: n, cols: F, get: (i, j) => values[i * F + j], max: maxAbs(values) || 1, rowLabels: labels, label: `${title} of layer ${layer + 1}` });
    maps.push(hm);
  }
  const post = data.tensor('mlp_activation', layer);
  if (post && !failed(post)) {
    const row = Array.from(post.data.subarray(focus * F, (focus + 1) * F));
    const order = row.map((v, j) => j).sort((a, b) => row[b] - row[a]).slice(0, 10);
    const select = el(
      'select',
      { 'aria-label': 'Token for top neurons', onchange: (e) => actions.setFocus(Number(e.target.value)) },
      toks.map((t, i) => el('option', { value: i, selected: i === focus }, `${i}: ${tokenLabel(t.bytes)}`)),
    );
    const box = el('section', { class: 'subview' }, el('h3', {}, 'Most active neurons for token ', select));
    root.append(box);
    const chart = new BarChart(box, { title: `Most active MLP neurons, layer ${layer + 1}, token ${focus}`, valueName: 'activation', axis: 'activation', exportName: `mlp-layer${layer + 1}-top-neurons`, format: (v) => v.toFixed(3) });
    chart.set(order.map((j) => ({ label: `neuron ${j}`, value: row[j] })));
    maps.push(chart);
  }
  return { highlight: (i) => maps.forEach((m) => m instanceof Heatmap && m.highlight(i, null)), destroy: () => maps.forEach((m) => m.destroy()) };
}
