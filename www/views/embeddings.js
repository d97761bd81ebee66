// @ts-check
// Stage "Embeddings": each token's row of the token-embedding table (a learned parameter)
// and how position enters: GPT-2 adds a learned position table (their sum is the first
// activation); Llama-family models have no position table and instead rotate each query
// and key by an angle that grows with position (RoPE), shown here on the real q and k.
import { el, viewHeader, fmt, kindBadge, loadingNote, errorNote } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { maxAbs } from '../colors.js';
import { axisLabels, tokenLabel } from '../tokens.js';
import { state, visibleTokens, position } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';

/**
 * A titled section of the view.
 * @param {HTMLElement} root
 * @param {string} title
 * @param {string} kind
 * @param {string} line
 */
function section(root, title, kind, line) {
  const box = el('section', { class: 'subview' }, el('h3', {}, title, ' ', kindBadge(kind)), el('p', { class: 'muted' }, line));
  root.append(box);
  return box;
}

/**
 * @param {HTMLElement} root
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root) {
  const toks = visibleTokens();
  const T = toks.length;
  const cfg = state.info.config;
  const d = cfg.n_embd;
  const rope = cfg.rope_theta != null;
  const labels = axisLabels(toks);
  root.append(
    viewHeader(
      'Embeddings',
      ['parameter', 'activation'],
      rope
        ? `Each token becomes a vector of ${d} numbers: its row of the token-embedding table, learned in training. There is no position table: position enters inside each attention layer, where RoPE rotates queries and keys by an angle that grows with the token’s position.`
        : `Each token becomes a vector of ${d} numbers: its row of the token-embedding table plus its position’s row of the position-embedding table. Both tables are learned; their sum is the first activation.`,
    ),
  );
  const te = data.tensor('token_embeddings');
  const pe = rope ? null : data.tensor('position_embeddings');
  if (!te || (!rope && !pe)) return root.append(loadingNote('the embeddings')), {};
  if (failed(te) || failed(pe)) return root.append(errorNote('the embeddings', failed(te) ? te : /** @type {import('../data.js').Failed} */ (pe))), {};
  /** @type {Heatmap[]} */
  const maps = [];
  /** @type {(box: HTMLElement, title: string, values: Float32Array, name: string) => void} */
  const map = (box, title, values, name) => {
    const hm = new Heatmap(box, {
      scale: 'diverging',
      rowTitle: 'tokens (position:token)',
      colTitle: `dimensions 0…${d - 1}`,
      valueName: 'value',
      title,
      exportName: name,
      tooltip: (i, j, v) => `${title}: token ${labels[i]}, dimension ${j}: ${fmt(v)}`,
      onHoverRow: actions.setHover,
    });
    hm.set({ rows: T, cols: d, get: (i, j) => values[i * d + j], max: maxAbs(values.subarray(0, T * d)) || 1, rowLabels: labels, label: `${title} heatmap, ${T} tokens × ${d} dimensions` });
    maps.push(hm);
  };
  map(section(root, 'Token embedding', 'parameter', `The row of the token-embedding table for each token id (${cfg.vocab_size} rows × ${d}).`), 'Token embedding', te.data, 'token-embedding');
  if (!rope) {
    map(section(root, 'Position embedding', 'parameter', 'The row of the position-embedding table for each position 0, 1, 2, …'), 'Position embedding', pe.data, 'position-embedding');
    const sum = new Float32Array(T * d);
    for (let k = 0; k < T * d; k++) sum[k] = te.data[k] + pe.data[k];
    map(section(root, 'Sum = input to layer 1', 'activation', 'Token plus position embedding: the residual stream as it enters layer 1.'), 'Input to layer 1', sum, 'embedding-sum');
  } else {
    renderRope(root, toks, labels, maps);
  }
  return { highlight: (i) => maps.forEach((m) => m.highlight(i, null)), destroy: () => maps.forEach((m) => m.destroy()) };
}

/**
 * RoPE: the angle of every dimension pair at every position, and one token's real q and k
 * in one head before and after the rotation.
 * @param {HTMLElement} root
 * @param {import('../protocol.js').TokenInfo[]} toks
 * @param {string[]} labels
 * @param {Heatmap[]} maps
 */
function renderRope(root, toks, labels, maps) {
  const cfg = state.info.config;
  const hd = cfg.head_dim;
  const half = hd / 2;
  const T = toks.length;
  const inv = Array.from({ length: half }, (_, i) => 1 / Math.pow(cfg.rope_theta, (2 * i) / hd));
  const box = section(
    root,
    'RoPE: rotation angle per dimension pair',
    'hyperparameter',
    `Each head’s ${hd} dimensions form ${half} pairs (i, i + ${half}); at position p, pair i is rotated by p · θ^(−2i/${hd}) with θ = ${cfg.rope_theta} (a hyperparameter). Early pairs spin fast, late pairs slowly, so the dot product q·k depends on how far apart two tokens are. Shown: cos of the angle.`,
  );
  const hm = new Heatmap(box, {
    scale: 'diverging',
    rowTitle: 'positions',
    colTitle: `dimension pairs 0…${half - 1}`,
    valueName: 'cos(angle)',
    title: 'RoPE rotation (cos of the angle)',
    exportName: 'rope-angles',
    tooltip: (p, i) => `position ${p}, pair ${i}: angle ${(p * inv[i]).toFixed(3)} rad, cos ${Math.cos(p * inv[i]).toFixed(4)}`,
    onHoverRow: actions.setHover,
  });
  hm.set({ rows: T, cols: half, get: (p, i) => Math.cos(p * inv[i]), max: 1, rowLabels: labels, label: 'RoPE rotation angles' });
  maps.push(hm);

  const layer = state.layer;
  const head = Math.min(state.head, cfg.n_head - 1);
  const kvHead = Math.floor((head * cfg.n_kv_head) / cfg.n_head);
  const focus = position();
  /** @type {[string, number][]} */
  const parts = [['q', head], ['q_rotated', head], ['k', kvHead], ['k_rotated', kvHead]];
  const qs = parts.map(([n, h]) => data.tensor(n, layer, h));
  const box2 = section(
    root,
    `Token ${focus} (${tokenLabel(toks[focus].bytes)}): q and k of layer ${layer + 1}, head ${head + 1}, before and after RoPE`,
    'activation',
    `The real query (head ${head + 1}) and key (key/value head ${kvHead + 1}) of this token, as computed for your prompt, before and after the rotation by position ${focus}. Choose the token with its chip, the layer and head in the Attention view.`,
  );
  if (qs.some((x) => !x)) return box2.append(loadingNote('q and k'));
  const bad = qs.find(failed);
  if (failed(bad)) return box2.append(errorNote('q and k', bad));
  // One head's rows [T, hd]; this token's row.
  const rows = qs.map((t) => /** @type {import('../protocol.js').TensorSlice} */ (t).data.subarray(focus * hd, (focus + 1) * hd));
  const names = ['q before RoPE', 'q after RoPE', 'k before RoPE', 'k after RoPE'];
  const hm2 = new Heatmap(box2, {
    scale: 'diverging',
    rowHeight: 22,
    rowTitle: 'query and key, before and after',
    colTitle: `dimensions 0…${hd - 1} (pair i is dimensions i and i + ${half})`,
    valueName: 'value',
    title: `q and k before and after RoPE (layer ${layer + 1}, head ${head + 1}, token ${focus})`,
    exportName: 'rope-q-k',
    tooltip: (r, j, v) => `${names[r]}, dimension ${j}: ${fmt(v)}`,
  });
  hm2.set({ rows: 4, cols: hd, get: (r, j) => rows[r][j], max: Math.max(...rows.map((x) => maxAbs(x))) || 1, rowLabels: names, label: 'q and k before and after RoPE' });
  maps.push(hm2);
}
