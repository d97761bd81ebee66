// Stage "Embeddings": the rows of the token and position embedding tables picked by this
// prompt (learned parameters) and their sum, the input to layer 1 (an activation).
import { el, viewHeader, fmt, kindBadge } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { maxAbs } from '../colors.js';
import { shortLabel } from '../tokens.js';
import { state, visibleTokens, setHover } from '../store.js';

export function render(root) {
  const toks = visibleTokens();
  const T = toks.length;
  const te = state.tensors.token_embeddings;
  const pe = state.tensors.position_embeddings;
  const d = te.shape[1];
  const sum = new Float32Array(T * d);
  for (let k = 0; k < T * d; k++) sum[k] = te.data[k] + pe.data[k];
  const labels = toks.map((t, i) => `${i}:${shortLabel(t.bytes, 10)}`);
  root.append(
    viewHeader('Embeddings', ['parameter', 'activation'], `Each token becomes a vector of ${d} numbers: its row of the token-embedding table plus its position’s row of the position-embedding table. Both tables are learned; their sum is the first activation.`),
  );
  const maps = [];
  const parts = [
    ['Token embedding', 'parameter', 'The row of the token-embedding table (wte) for each token id.', te.data],
    ['Position embedding', 'parameter', 'The row of the position-embedding table (wpe) for each position 0, 1, 2, …', pe.data],
    ['Sum = input to layer 1', 'activation', 'Token plus position embedding: the residual stream as it enters layer 1.', sum],
  ];
  for (const [title, kind, line, data] of parts) {
    const box = el(
      'section',
      { class: 'subview' },
      el('h3', {}, title, ' ', kindBadge(kind)),
      el('p', { class: 'muted' }, line),
    );
    root.append(box);
    const max = maxAbs(data.subarray(0, T * d)) || 1;
    const hm = new Heatmap(box, {
      scale: 'diverging',
      rowTitle: 'tokens (position:token)',
      colTitle: `dimensions 0…${d - 1}`,
      valueName: 'value',
      tooltip: (i, j, v) => `${title}: token ${labels[i]}, dimension ${j}: ${fmt(v)}`,
      onHoverRow: setHover,
    });
    hm.set({ rows: T, cols: d, get: (i, j) => data[i * d + j], max, rowLabels: labels, label: `${title} heatmap, ${T} tokens × ${d} dimensions` });
    maps.push(hm);
  }
  return { highlight: (i) => maps.forEach((m) => m.highlight(i, null)), destroy: () => maps.forEach((m) => m.destroy()) };
}
