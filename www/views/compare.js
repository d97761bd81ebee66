// @ts-check
// The compare panel: a second prompt on the same model, run in its own context. Attention
// maps and next-token probabilities then show both prompts side by side, or their
// difference when the two have the same number of tokens ("The doctor said that he" and
// "… she"). Both share the stage, layer and head selection.
import { el, fmt, pct, loadingNote, errorNote } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { BarChart } from '../chart.js';
import { axisLabels, tokenLabel } from '../tokens.js';
import { state, visibleTokens } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';

/** @typedef {import('../protocol.js').TensorSlice} TensorSlice */

let wired = false;

/**
 * Wires the compare box under the prompt once, and keeps it in step with the state.
 * @param {HTMLDetailsElement} details
 */
export function renderCompare(details) {
  /** @type {HTMLTextAreaElement} */
  const box = details.querySelector('#compare-prompt');
  if (!wired) {
    wired = true;
    details.addEventListener('toggle', () => state.compare.open !== details.open && actions.setCompare({ open: details.open, prompt: box.value }));
    box.addEventListener('input', () => actions.typeComparePrompt(box.value));
  }
  if (document.activeElement !== box) box.value = state.compare.prompt;
  details.open = state.compare.open;
}

const active = () => state.compare.open && state.compare.run;

/**
 * Beside the main attention map: the same head on the second prompt, and the difference.
 * @param {HTMLElement} root
 * @param {number} layer
 * @param {number} head
 * @param {TensorSlice | null} mainAtt the first prompt's map, once fetched
 * @returns {{destroy: () => void}[]}
 */
export function compareAttention(root, layer, head, mainAtt) {
  if (!state.compare.open) return [];
  const box = el('section', { class: 'subview compare-view' }, el('h3', {}, 'Second prompt: the same head'));
  root.append(box);
  if (state.compare.error) return box.append(el('p', { class: 'warn' }, state.compare.error)), [];
  if (!active()) return box.append(loadingNote('the second prompt')), [];
  const toks = state.compare.run.tokens;
  const att = data.tensor('attentions', layer, head, 'compare');
  if (!att) return box.append(loadingNote('its attention')), [];
  if (failed(att)) return box.append(errorNote('its attention', att)), [];
  const T = att.shape[0];
  const labels = axisLabels(toks);
  const maps = [];
  const pair = el('div', { class: 'pair' });
  box.append(pair);
  const second = el('div', {}, el('p', { class: 'muted small' }, `“${state.compare.prompt}”`));
  pair.append(second);
  const hm = new Heatmap(second, {
    scale: 'sequential', square: true, maxHeight: 320, valueName: 'attention weight', rowTitle: 'query token', colTitle: 'key token',
    title: `Attention of layer ${layer + 1}, head ${head + 1}: second prompt`, exportName: `compare-attention-layer${layer + 1}-head${head + 1}`,
    tooltip: (i, j, v) => (v == null ? 'masked' : `${labels[i]} → ${labels[j]}: ${fmt(v)}`),
  });
  hm.set({ rows: T, cols: T, get: (i, j) => att.data[i * T + j], max: 1, masked: (i, j) => j > i, rowLabels: labels, colLabels: labels, label: `attention of the second prompt, layer ${layer + 1} head ${head + 1}` });
  maps.push(hm);
  const n = visibleTokens().length;
  if (mainAtt && n === T) {
    const diffBox = el('div', {}, el('p', { class: 'muted small' }, 'Difference: first prompt − second prompt'));
    pair.append(diffBox);
    const Tm = mainAtt.shape[0];
    const d = (i, j) => mainAtt.data[i * Tm + j] - att.data[i * T + j];
    let max = 0;
    for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) max = Math.max(max, Math.abs(d(i, j)));
    const dm = new Heatmap(diffBox, {
      scale: 'diverging', square: true, maxHeight: 320, valueName: 'difference', rowTitle: 'query position', colTitle: 'key position',
      title: `Attention difference, layer ${layer + 1}, head ${head + 1}`, exportName: `compare-attention-diff-layer${layer + 1}-head${head + 1}`,
      tooltip: (i, j, v) => (v == null ? 'masked' : `position ${i} → ${j}: ${fmt(v)}`),
    });
    dm.set({ rows: T, cols: T, get: d, max: max || 1, masked: (i, j) => j > i, rowLabels: labels, colLabels: labels, label: 'attention difference between the prompts' });
    maps.push(dm);
  } else if (mainAtt) {
    pair.append(el('p', { class: 'muted small' }, `The prompts have ${n} and ${T} tokens: a difference map needs the same number.`));
  }
  return maps;
}

/**
 * Below the main distribution: the second prompt's next-token probabilities.
 * @param {HTMLElement} root
 * @returns {{destroy: () => void}[]}
 */
export function compareLogits(root) {
  if (!state.compare.open) return [];
  const box = el('section', { class: 'subview compare-view' }, el('h3', {}, `Second prompt: “${state.compare.prompt}”`));
  root.append(box);
  if (state.compare.error) return box.append(el('p', { class: 'warn' }, state.compare.error)), [];
  if (!active()) return box.append(loadingNote('the second prompt')), [];
  const at = state.compare.run.tokens.length;
  const d = data.distribution(at, 12, { ctx: 'compare' });
  if (!d) return box.append(loadingNote('its distribution')), [];
  if (failed(d)) return box.append(errorNote('its distribution', d)), [];
  const c = new BarChart(box, { title: `Next-token probabilities, second prompt`, valueName: 'probability', axis: 'probability', max: 1, format: pct, exportName: 'compare-next-token' });
  c.set(d.tokens.map((t, k) => ({ label: tokenLabel(t.bytes), value: d.probs[k] })));
  return [c];
}
