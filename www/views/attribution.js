// @ts-check
// Stage "Attribution": direct logit attribution (as TransformerLens decomposes it;
// src/instruments.rs). The final residual at one position is a sum of the embeddings, every
// head's output, the attention biases and every MLP's output; with the final norm's scale
// frozen from the run the norm is linear, so each one's share of a token's logit is its own
// dot product with that token's unembedding direction. Bars per layer block, a layer × head
// map, and the largest single components.
import { el, viewHeader, fmt, loadingNote, errorNote } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { BarChart } from '../chart.js';
import { tokenLabel } from '../tokens.js';
import { maxAbs } from '../colors.js';
import { state, visibleTokens, position, focused } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';
import { K, chosenTarget, lastTop, tokenBytes, targetPicker, restoreFocus } from './instrument.js';

/** @type {(v: number, d?: number) => string} */
const signed = (v, d = 4) => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(d);

/**
 * The model's final top-K at `pos`: [{id, p, bytes?}], undefined while fetching, or {error}.
 * @param {number} pos
 * @returns {import('../data.js').Fetched<{id: number, p: number, bytes?: number[]}[]>}
 */
function topAt(pos) {
  if (pos === state.at - 1) {
    const d = lastTop();
    if (!d || failed(d)) return /** @type {undefined | import('../data.js').Failed} */ (d);
    return d.tokens.map((t, k) => ({ id: t.id, p: d.probs[k], bytes: t.bytes }));
  }
  // Inside the prompt only the lens (its last row is the model's output) has the distribution.
  const lens = data.anyLens(K) || data.lens(K, null);
  if (!lens || failed(lens)) return /** @type {undefined | import('../data.js').Failed} */ (lens);
  return lens[lens.length - 1].top[pos].map((t) => ({ id: t.id, p: t.p }));
}

/**
 * @param {HTMLElement} root
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root) {
  const toks = visibleTokens();
  const cfg = state.info.config;
  const L = cfg.n_layer;
  const H = cfg.n_head;
  const normName = cfg.norm === 'rms_norm' ? 'RMSNorm' : 'LayerNorm';
  root.append(
    viewHeader(
      'Direct logit attribution',
      'activation',
      'How much each part of the model writes directly toward one token’s logit at one position: the final residual stream is the sum of the embeddings, every head’s output and every MLP’s output, so with the final norm’s scale frozen from this run each part’s share is its own dot product with the token’s unembedding direction.',
    ),
  );
  root.append(
    el(
      'p',
      { class: 'muted small instrument-note' },
      `Direct effects only: a head that changes what a later layer does gets no credit here for that later layer’s output (it would show up only through ablation). The ${normName}’s scale is frozen at the value this run had, as TransformerLens does; the parts are not independent causes, and a large bar is not proof that the model “needs” that part.`,
    ),
  );
  const pos = position();
  /** @type {(what: string, d: import('../data.js').Failed) => {}} */
  const fail = (what, d) => (root.append(errorNote(what, d)), {});
  const tops = topAt(pos);
  if (!tops) return root.append(loadingNote(`the model’s top tokens at position ${pos}`)), {};
  if (failed(tops)) return fail(`the model’s top tokens at position ${pos}`, tops);
  const token = chosenTarget() ?? tops[0].id;
  const need = [...new Set([token, ...tops.filter((t) => !t.bytes).map((t) => t.id)])];
  const bytes = tokenBytes(need);
  if (!bytes) return root.append(loadingNote('the tokens’ text')), {};
  if (failed(bytes)) return fail('the tokens’ text', bytes);
  for (const t of tops) if (t.bytes) bytes.set(t.id, t.bytes);
  /** @param {number} id */
  const label = (id) => tokenLabel(bytes.get(id) || []);
  const ctx = tokenLabel(toks[pos].bytes);
  root.append(
    targetPicker({
      options: tops.map((t) => ({ id: t.id, label: label(t.id), p: t.p })),
      current: { id: token, label: label(token) },
      isDefault: chosenTarget() == null,
      where: `at position ${pos} (after “${ctx}”)`,
      id: 'attribution-target',
    }),
    el('p', { class: 'muted small' }, `Position ${pos} (after “${ctx}”): ${focused() ? 'the token you chose (click another chip to change it)' : 'the last token (click a token chip to choose another position)'}.`),
  );
  restoreFocus();
  const a = data.attribution(pos, token);
  if (!a) return root.append(loadingNote(`the attribution of ${label(token)}`)), {};
  if (failed(a)) return fail(`the attribution of ${label(token)}`, a);

  // Group the components: per layer, the attention (its heads plus its bias) and the MLP.
  const heads = Array.from({ length: L }, () => new Array(H).fill(0));
  const attn = new Array(L).fill(0);
  const bias = new Array(L).fill(null);
  const mlp = new Array(L).fill(0);
  let emb = 0;
  let finalBias = null;
  let sum = 0;
  for (const c of a.components) {
    sum += c.value;
    if (c.layer == null) {
      if (c.name === 'embeddings') emb = c.value;
      else finalBias = c.value;
    } else if (c.head != null) {
      heads[c.layer - 1][c.head - 1] = c.value;
      attn[c.layer - 1] += c.value;
    } else if (/MLP/.test(c.name)) mlp[c.layer - 1] = c.value;
    else {
      bias[c.layer - 1] = c.value;
      attn[c.layer - 1] += c.value;
    }
  }

  const summary = el(
    'dl',
    { class: 'attr-summary' },
    el('dt', {}, `logit of ${label(token)} (id ${token})`),
    el('dd', { class: 'mono' }, a.logit.toFixed(4)),
    el('dt', {}, `sum of all ${a.components.length} components`),
    el('dd', { class: 'mono' }, `${sum.toFixed(4)} (difference ${Math.abs(sum - a.logit).toExponential(1)}, float rounding)`),
    el('dt', {}, `final ${normName} scale, frozen`),
    el('dd', { class: 'mono' }, `${fmt(a.norm_scale, 4)} (${cfg.norm === 'rms_norm' ? 'root mean square' : 'standard deviation'} of the final residual at this position)`),
  );
  root.append(el('section', { class: 'subview' }, summary));

  /** @type {{destroy: () => void}[]} */
  const charts = [];
  const barBox = el('section', { class: 'subview' }, el('h3', {}, `Toward ${label(token)}: each layer’s attention and MLP`));
  root.append(barBox);
  /** @type {{label: string, value: number, note?: string}[]} */
  const rows = [{ label: 'embeddings', value: emb, note: cfg.rope_theta != null ? 'token embedding' : 'token + position embedding' }];
  for (let l = 0; l < L; l++) {
    rows.push({ label: `L${l + 1} attention`, value: attn[l], note: `sum of ${H} heads${bias[l] != null ? ` and the output bias (${signed(bias[l])})` : ''}` });
    rows.push({ label: `L${l + 1} MLP`, value: mlp[l] });
  }
  if (finalBias != null) rows.push({ label: 'final norm bias', value: finalBias, note: `the ${normName}’s bias, which no layer writes` });
  const bars = new BarChart(barBox, {
    title: `Direct logit attribution of ${label(token)} at position ${pos}`,
    valueName: 'contribution to the logit',
    axis: 'red: toward the token · blue: against it',
    signed: true,
    format: (v) => signed(v, 3),
    exportName: `attribution-${token}-position-${pos}`,
    caption: 'Arrow keys read each bar. The bars sum to the logit.',
  });
  bars.set(rows);
  charts.push(bars);

  const mapBox = el('section', { class: 'subview' }, el('h3', {}, 'Each head’s contribution'), el('p', { class: 'muted small' }, 'Click a head, or move to it with the arrow keys and press Enter, to open its attention pattern.'));
  root.append(mapBox);
  const max = maxAbs(heads.flat()) || 1;
  const hm = new Heatmap(mapBox, {
    scale: 'diverging',
    rowHeight: L > 12 ? 18 : 28,
    maxHeight: L * (L > 12 ? 18 : 28) + 60,
    rowTitle: 'layer',
    colTitle: 'head',
    valueName: `contribution to the logit of ${label(token)}`,
    title: `Direct logit attribution per head: ${label(token)} at position ${pos}`,
    exportName: `attribution-heads-${token}-position-${pos}`,
    cellText: (i, j) => (Math.abs(heads[i][j]) >= 0.005 ? heads[i][j].toFixed(2) : ''),
    tooltip: (i, j, v) => `layer ${i + 1}, head ${j + 1}: ${signed(v)} toward ${label(token)} (Enter or click opens its attention)`,
    onClick: (i, j) => actions.navigate({ stage: 'layer', layer: i, head: j, sub: 'attention' }),
  });
  hm.set({
    rows: L,
    cols: H,
    get: (i, j) => heads[i][j],
    max,
    rowLabels: Array.from({ length: L }, (_, l) => `layer ${l + 1}`),
    colLabels: Array.from({ length: H }, (_, h) => `head ${h + 1}`),
    label: `direct logit attribution per head, ${L} layers × ${H} heads`,
  });
  hm.canvas.id = 'attribution-heads';
  charts.push(hm);

  const largest = [...a.components].sort((x, y) => Math.abs(y.value) - Math.abs(x.value)).slice(0, 8);
  root.append(
    el(
      'section',
      { class: 'subview' },
      el('h3', {}, 'The largest single components'),
      el(
        'ol',
        { class: 'attr-largest', 'aria-label': 'Largest components' },
        largest.map((c) =>
          el(
            'li',
            {},
            c.head != null
              ? el('button', { type: 'button', class: 'link-btn', onclick: () => actions.navigate({ stage: 'layer', layer: c.layer - 1, head: c.head - 1, sub: 'attention' }) }, c.name)
              : el('span', {}, c.name),
            ' ',
            el('span', { class: 'mono' }, signed(c.value)),
          ),
        ),
      ),
    ),
  );
  return { destroy: () => charts.forEach((c) => c.destroy()) };
}
