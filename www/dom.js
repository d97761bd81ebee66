// @ts-check
// Small DOM helpers. Text is always inserted as text nodes (never innerHTML), so token
// text from the model can never become markup.

/**
 * el('div', {class: 'x', onclick: f}, 'text', child, …)
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any> | null} [attrs] attributes; on… are listeners, `class`,
 *   `dataset` and `style` set those, other non-strings set the property of that name
 * @param {...any} children nodes, text, arrays of them; null and false are skipped
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style') Object.assign(e.style, v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** @type {Record<string, string>} */
const KIND_TEXT = {
  activation: 'activation — computed from this prompt',
  parameter: 'learned parameter — a weight fixed by training',
  hyperparameter: 'hyperparameter — chosen by people',
  input: 'input — what you typed',
  setting: 'sampling setting — chosen by you, no model run needed',
};

/**
 * A view's heading with its one-line description and the kind of data it shows.
 * @param {string} title
 * @param {string | string[]} kinds
 * @param {string} line
 */
export function viewHeader(title, kinds, line) {
  return el(
    'header',
    { class: 'view-head' },
    el('h2', {}, title),
    [].concat(kinds).map((kind) => kindBadge(kind)),
    el('p', { class: 'view-line' }, line),
  );
}

/**
 * The badge saying which kind of data something is.
 * @param {string} kind
 */
export function kindBadge(kind) {
  return el('span', { class: `kind kind-${kind}`, title: KIND_TEXT[kind] }, kind === 'parameter' ? 'learned parameter' : kind);
}

/**
 * A number with `digits` decimals, or — when it is not a finite number.
 * @param {number | null | undefined} v
 */
export function fmt(v, digits = 4) {
  if (v == null || !Number.isFinite(v)) return '—';
  return v.toFixed(digits);
}

/** A probability as a percentage: one decimal, three below 0.1%. */
export const pct = (/** @type {number} */ p) => `${(p * 100).toFixed(p < 0.001 ? 3 : 1)}%`;

/**
 * Sizes a canvas to w × h CSS pixels at `dpr` device pixels each; returns its context,
 * scaled so that drawing is in CSS pixels.
 * @param {HTMLCanvasElement} canvas
 * @param {number} w
 * @param {number} h
 */
export function sizeCanvas(canvas, w, h, dpr = window.devicePixelRatio || 1) {
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  return g;
}

/** @param {number} n */
export function fmtCount(n) {
  return n.toLocaleString('en-US');
}

/**
 * What a view shows while the data it asked the worker for is on its way.
 * @param {string} what
 */
export function loadingNote(what) {
  return el('p', { class: 'muted loading-note', role: 'status' }, `Computing ${what}…`);
}

/**
 * What a view shows when its data request failed.
 * @param {string} what
 * @param {{error: string}} data
 */
export function errorNote(what, data) {
  return el('p', { class: 'warn', role: 'alert' }, `Could not compute ${what}: ${data.error}`);
}
