// @ts-check
// The first screen: the whole model at a glance for the current prompt, as a map of its
// stages in order (tokens → embeddings → each layer's attention and MLP → logits → the
// predicted next token). Every card shows a thumbnail of that stage's real activations
// (each layer's attention averaged over its heads, its MLP neurons pooled to a few columns)
// and opens the stage when clicked.
import { el, viewHeader, loadingNote, errorNote } from '../dom.js';
import { sequential, diverging, maxAbs } from '../colors.js';
import { paintThumbnail } from '../heatmap.js';
import { tokenLabel } from '../tokens.js';
import { state, visibleTokens } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';

/** Thumbnails are pooled to at most this many rows and columns (src/session/mod.rs `pool`). */
const SIZE = 32;

/**
 * @param {string} label
 * @param {() => void} onclick
 * @param {...Node} body
 */
function card(label, onclick, ...body) {
  return el('li', {}, el('button', { type: 'button', class: 'map-card', onclick }, el('span', { class: 'map-label' }, label), ...body));
}

/** @param {HTMLElement} root */
export function render(root) {
  const cfg = state.info.config;
  const toks = visibleTokens();
  const n = toks.length;
  root.append(
    viewHeader(
      'The whole model at a glance',
      'activation',
      `Your prompt flows left to right, top to bottom: ${n} tokens → their embeddings → ${cfg.n_layer} layers, each attention (who looks at whom, averaged over ${cfg.n_head} heads) then an MLP (its neurons, pooled) → the logits → the predicted next token. Every picture is this prompt’s real activations; click one to open it.`,
    ),
  );
  const th = data.thumbnails(state.at, SIZE);
  const dist = data.distribution(state.at, 3);
  if (!th) return root.append(loadingNote('the thumbnails')), {};
  if (failed(th)) return root.append(errorNote('the thumbnails', th)), {};
  const list = el('ol', { class: 'model-map', 'aria-label': 'The model’s stages for this prompt' });
  root.append(list);
  /** @param {import('../controller.js').ViewPatch} patch */
  const go = (patch) => () => actions.navigate(patch);
  // The attention thumbnails keep the causal mask (causal = n): a pooled block above the
  // diagonal is grey.
  /** @type {(t: import('../protocol.js').Thumb, color: (v: number) => number[], w: number, h: number, causal?: number) => HTMLCanvasElement} */
  const thumb = (t, color, w, h, causal = 0) => {
    const c = el('canvas', { 'aria-hidden': 'true' });
    paintThumbnail(c, t, w, h, color, causal);
    return c;
  };

  const chips = el('span', { class: 'map-tokens' }, toks.slice(0, 12).map((t) => el('span', { class: 'chip static' }, tokenLabel(t.bytes))), n > 12 ? el('span', { class: 'muted small' }, `+${n - 12}`) : null);
  list.append(card(`Tokens (${n})`, go({ stage: 'tokens' }), chips));
  const emax = maxAbs(th.embedding.data) || 1;
  list.append(card('Embeddings', go({ stage: 'embeddings' }), thumb(th.embedding, (v) => diverging(v, emax), 72, 56)));

  for (let l = 0; l < cfg.n_layer; l++) {
    const a = thumb(th.attention[l], (v) => sequential(v, 1), 44, 44, n);
    const mt = th.mlp[l];
    const mmax = maxAbs(mt.data) || 1;
    const m = thumb(mt, (v) => diverging(v, mmax), 44, 44);
    list.append(
      el(
        'li',
        {},
        el(
          'div',
          { class: 'map-layer' },
          el('span', { class: 'map-label' }, `Layer ${l + 1}`),
          el('button', { type: 'button', class: 'map-part', 'aria-label': `open layer ${l + 1} attention`, onclick: go({ stage: 'layer', layer: l, sub: 'attention' }) }, a, el('span', { class: 'small' }, 'attention')),
          el('button', { type: 'button', class: 'map-part', 'aria-label': `open layer ${l + 1} MLP`, onclick: go({ stage: 'layer', layer: l, sub: 'mlp' }) }, m, el('span', { class: 'small' }, 'MLP')),
        ),
      ),
    );
  }

  const top = dist && !failed(dist) ? dist.tokens.map((t, k) => ({ text: tokenLabel(t.bytes), p: dist.probs[k] })) : null;
  const bars = el(
    'span',
    { class: 'map-bars' },
    top
      ? top.map((t) => el('span', { class: 'map-bar-row' }, el('span', { class: 'mono small' }, t.text), el('span', { class: 'map-bar', style: { width: `${Math.max(2, t.p * 60)}px` } }), el('span', { class: 'small' }, `${(t.p * 100).toFixed(0)}%`)))
      : el('span', { class: 'muted small' }, '…'),
  );
  list.append(card('Logits → probabilities', go({ stage: 'logits' }), bars));
  list.append(card('Next token', go({ stage: 'next' }), el('span', { class: 'map-next mono' }, top ? top[0].text : '…')));
  root.append(
    el(
      'p',
      { class: 'muted small' },
      'Then ask why: the ',
      el('button', { type: 'button', class: 'link-btn', onclick: go({ stage: 'lens' }) }, 'logit lens'),
      ' (what each layer would predict), ',
      el('button', { type: 'button', class: 'link-btn', onclick: go({ stage: 'attribution' }) }, 'attribution'),
      ' (which heads and MLPs push the prediction) and the ',
      el('button', { type: 'button', class: 'link-btn', onclick: go({ stage: 'neighbours' }) }, 'embedding space'),
      '.',
    ),
  );
  return {};
}
