// @ts-check
// Stage "Logit lens": the residual stream after the embeddings and after every block, put
// through the final norm and the unembedding as if the model ended there (nostalgebraist
// 2020; src/instruments.rs). A layer × position grid of each depth's top token
// (lens-grid.js), and one token's probability and rank per layer at one position.
import { el, viewHeader, pct, loadingNote, errorNote } from '../dom.js';
import { LineChart } from '../chart.js';
import { tokenLabel, shortLabel } from '../tokens.js';
import { state, visibleTokens, position } from '../store.js';
import { data, failed } from '../data.js';
import { K, chosenTarget, lastTop, tokenBytes, targetPicker, restoreFocus } from './instrument.js';
import { lensGrid } from './lens-grid.js';

/** @typedef {import('../protocol.js').LensLayer} LensLayer */
/** @typedef {import('../protocol.js').TokenInfo} TokenInfo */

/** @typedef {{after: string, target: string, p: number, rank: number, vocab: number, top: string, topP: number}} ChartRow */

/** The lens chart: the target's probability per layer, with its rank in the tooltip and CSV. */
class LensChart extends LineChart {
  /** @type {ChartRow[]} */
  rows = [];
  /** @param {number} k */
  describe(k) {
    const r = this.rows[k];
    return `${r.after}: p(${r.target}) = ${r.p.toFixed(4)}, rank ${r.rank} of ${r.vocab}; top token ${r.top} ${r.topP.toFixed(4)}`;
  }
  csv() {
    return [['after', 'target', 'target_probability', 'target_rank', 'top_token', 'top_probability'], ...this.rows.map((r) => [r.after, r.target, r.p, r.rank, r.top, r.topP])];
  }
}

/**
 * @param {HTMLElement} root
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root) {
  const toks = visibleTokens();
  const n = toks.length;
  const L = state.info.config.n_layer;
  root.append(
    viewHeader(
      'Logit lens',
      'activation',
      'What the residual stream would predict if the model ended early: after the embeddings and after every layer, the stream goes through the final norm and the unembedding, and softmax gives a next-token distribution. The last row is the model’s real output.',
    ),
    el(
      'p',
      { class: 'muted small instrument-note' },
      'Each cell shows the most probable next token at that depth (the token after that column’s token), coloured by its probability. This is what the stream would predict if the model stopped there; it does not claim the model uses that prediction: earlier layers were never trained to be read through the final norm and unembedding, so their rows are often noise, and a token that appears early may still be built up for other reasons.',
    ),
  );
  const pos = position();
  /** @type {(what: string, d: import('../data.js').Failed) => {}} */
  const fail = (what, d) => (root.append(errorNote(what, d)), {});
  let target = chosenTarget();
  if (target == null) {
    const d = lastTop();
    if (!d) return root.append(loadingNote('the model’s top next token')), {};
    if (failed(d)) return fail('the model’s top next token', d);
    target = d.ids[0];
  }
  const mine = data.lens(K, target);
  if (failed(mine)) return fail('the logit lens', mine);
  // While the lens for a new target is on its way, the grid of an earlier one (the same for
  // every target) stays on screen.
  const lens = mine || data.anyLens(K);
  if (!lens) return root.append(loadingNote(`the logit lens (${L + 1} × ${n} next-token distributions)`)), {};
  const ids = new Set([target]);
  for (const row of lens) for (let p = 0; p < n; p++) for (const t of row.top[p]) ids.add(t.id);
  const bytes = tokenBytes([...ids]);
  if (!bytes) return root.append(loadingNote('the tokens’ text')), {};
  if (failed(bytes)) return fail('the tokens’ text', bytes);
  /** @param {number} id */
  const label = (id) => tokenLabel(bytes.get(id) || []);
  const at = `at position ${pos} (after “${tokenLabel(toks[pos].bytes)}”)`;

  // Target picker: the final layer's top tokens at the chosen position.
  root.append(
    targetPicker({
      options: lens[L].top[pos].map((t) => ({ id: t.id, label: label(t.id), p: t.p })),
      current: { id: target, label: label(target) },
      isDefault: chosenTarget() == null,
      where: at,
      id: 'lens-target',
    }),
  );
  const gridBox = el('section', { class: 'subview' });
  root.append(gridBox);
  const grid = lensGrid(gridBox, root.clientWidth || 900, {
    lens,
    toks,
    pos,
    label,
    short: (id, max) => shortLabel(bytes.get(id) || [], max),
    target: mine ? { id: target, label: label(target) } : null,
  });
  const chartBox = el('section', { class: 'subview' });
  root.append(chartBox);
  const chart = targetChart(chartBox, mine, target, pos, label);
  restoreFocus([grid.heatmap()]);
  return {
    highlight: (i) => grid.heatmap() && grid.heatmap().highlight(null, grid.columnOf(i) ?? grid.columnOf(pos)),
    destroy: () => {
      if (grid.heatmap()) grid.heatmap().destroy();
      if (chart) chart.destroy();
    },
  };
}

/**
 * The target's probability and rank per layer at position `pos`, as a chart and a line of
 * ranks; a placeholder while its lens (`mine`) is on its way.
 * @param {HTMLElement} box
 * @param {LensLayer[] | undefined} mine the lens with the target's probabilities
 * @param {number} target
 * @param {number} pos
 * @param {(id: number) => string} label
 * @returns {LensChart | null}
 */
function targetChart(box, mine, target, pos, label) {
  const cfg = state.info.config;
  const toks = visibleTokens();
  box.append(el('h3', {}, `${label(target)}: probability after each layer at position ${pos} (next after “${tokenLabel(toks[pos].bytes)}”)`));
  if (!mine) return box.append(loadingNote(`the lens for ${label(target)}`)), null;
  /** @type {ChartRow[]} */
  const rows = mine.map((r) => ({
    after: r.after,
    target: label(target),
    p: r.target[pos][0],
    rank: r.target[pos][1],
    vocab: cfg.vocab_size,
    top: label(r.top[pos][0].id),
    topP: r.top[pos][0].p,
  }));
  const maxP = Math.max(...rows.map((r) => Math.max(r.p, r.topP)));
  const chart = new LensChart(box, {
    title: `Logit lens: p(${label(target)}) after each layer at position ${pos}`,
    xName: 'after the embeddings (emb) and after each layer',
    yMax: maxP > 0.5 ? 1 : maxP > 0.2 ? 0.5 : maxP > 0.1 ? 0.2 : 0.1,
    exportName: `logit-lens-target-${target}-position-${pos}`,
    caption: `Blue: the target token’s probability; grey: the probability of that layer’s top token. Arrow keys read each layer (with the target’s rank among ${cfg.vocab_size} tokens).`,
  });
  chart.rows = rows;
  chart.set(
    rows.map((r, i) => (i === 0 ? 'emb' : String(i))),
    [
      { name: `p(${label(target)})`, values: rows.map((r) => r.p), color: '#2563eb' },
      { name: 'top token p', values: rows.map((r) => r.topP), color: '#a1a1aa' },
    ],
  );
  const first = rows.findIndex((r, i) => rows.slice(i).every((q) => q.rank === 1));
  const final = rows[rows.length - 1];
  box.append(
    el(
      'p',
      { class: 'small lens-summary' },
      `Rank of ${label(target)} (1 = top): ${rows.map((r) => `${r.after === 'embeddings' ? 'emb' : r.after.replace('layer ', 'L')} ${r.rank}`).join(' · ')}. `,
      first >= 0 ? `It is the top token from ${first === 0 ? 'the embeddings' : rows[first].after} on.` : `In the model’s output it has probability ${pct(final.p)}, rank ${final.rank}.`,
    ),
  );
  return chart;
}
