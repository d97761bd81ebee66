// @ts-check
// The logit lens's grid: a layer × position heatmap of each depth's top token, coloured by
// its probability, over a window of positions that fits the width (with pager buttons),
// and its CSV of every depth's top K tokens at every position.
import { el } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { tokenLabel, shortLabel } from '../tokens.js';
import { state } from '../store.js';
import { actions } from '../controller.js';
import { downloadCsv } from '../export.js';
import { K, focusAfterRender, pendingCursor } from './instrument.js';

/** @typedef {import('../protocol.js').LensLayer} LensLayer */
/** @typedef {import('../protocol.js').TokenInfo} TokenInfo */

/** Narrowest grid column that still shows its top token. */
const MIN_COL = 60;

// Which positions the grid shows (a window that fits the width), kept across redraws.
let win = { run: -1, start: 0, pos: -1, size: 0, n: 0 };

/**
 * What the grid draws.
 * @typedef {object} GridInput
 * @property {LensLayer[]} lens
 * @property {TokenInfo[]} toks the tokens on screen
 * @property {number} pos the position the instruments follow
 * @property {(id: number) => string} label a token id's label
 * @property {(id: number, max: number) => string} short the same, cut to `max` characters
 * @property {{id: number, label: string} | null} target the target, when `lens` has its probabilities
 */

/**
 * Draws the grid into `box` (replacing what it held); returns the heatmap's handle.
 * @param {HTMLElement} box
 * @param {number} width the width it may take
 * @param {GridInput} input
 * @returns {{heatmap: () => Heatmap | null, columnOf: (i: number | null) => number | null}}
 */
export function lensGrid(box, width, input) {
  const { lens, toks, pos, short } = input;
  const n = toks.length;
  const L = lens.length - 1;
  const rowNames = lens.map((r) => r.after);
  const size = Math.max(3, Math.min(n, Math.floor((Math.max(280, width - 24) - 90) / MIN_COL)));
  const same = win.run === state.runSeq && win.size === size && win.n === n;
  if (!same || (win.pos !== pos && !(pos >= win.start && pos < win.start + size))) {
    // Show the chosen position, as far right as it can be (the last positions by default).
    win = { run: state.runSeq, size, n, start: Math.max(0, Math.min(n - size, pos - size + 1)), pos };
  }
  win.pos = pos;
  /** @type {Heatmap | null} */
  let hm = null;
  let start = 0;
  let cols = 0;
  /** @param {number | null} i */
  const columnOf = (i) => (i != null && i >= start && i < start + cols ? i - start : null);
  /** @param {number} focusAfter -1 or 1: focus the pager button that moved that way */
  const draw = (focusAfter) => {
    if (hm) hm.destroy();
    start = Math.max(0, Math.min(n - size, win.start));
    cols = Math.min(size, n - start);
    /** @param {number} d */
    const page = (d) => {
      win.start = Math.max(0, Math.min(n - size, start + d));
      draw(Math.sign(d));
    };
    const prev = el('button', { type: 'button', class: 'small-btn', disabled: start === 0, onclick: () => page(-size) }, '◂ earlier positions');
    const next = el('button', { type: 'button', class: 'small-btn', disabled: start + cols >= n, onclick: () => page(size) }, 'later positions ▸');
    box.replaceChildren(el('h3', {}, 'Top token after each layer, at every position'));
    if (n > size) box.append(el('div', { class: 'row lens-pager' }, prev, el('span', { class: 'muted small', 'aria-live': 'polite' }, `positions ${start}–${start + cols - 1} of 0–${n - 1}`), next));
    const rh = L > 12 ? 18 : 26;
    hm = new Heatmap(box, {
      scale: 'sequential',
      rowHeight: rh,
      maxHeight: (L + 1) * rh + 100,
      rowTitle: 'the residual stream after the embeddings and after each layer (the last row is the model’s output)',
      colTitle: 'positions (each cell predicts the token after this one); click a column, or press Enter, to follow it',
      valueName: 'probability of the top token',
      title: `Logit lens: top token after each layer, positions ${start}–${start + cols - 1}`,
      exportName: `logit-lens-positions-${start}-${start + cols - 1}`,
      cellText: (i, j) => short(lens[i].top[start + j][0].id, 8),
      tooltip: (i, j) => cellText(input, i, start + j),
      onClick: (i, j) => {
        focusAfterRender('lens-grid', { i, p: start + j });
        actions.setFocus(start + j);
      },
    });
    hm.set({
      rows: L + 1,
      cols,
      get: (i, j) => lens[i].top[start + j][0].p,
      max: 1,
      rowLabels: rowNames,
      colLabels: Array.from({ length: cols }, (_, j) => `${start + j}:${shortLabel(toks[start + j].bytes, 8)}`),
      highlightCol: columnOf(pos),
      label: `logit lens, top token after each of ${L + 1} stages at positions ${start} to ${start + cols - 1}`,
    });
    hm.canvas.id = 'lens-grid';
    box.append(
      el(
        'div',
        { class: 'export-row' },
        el('button', { type: 'button', class: 'small-btn', onclick: () => downloadCsv(topTokensCsv(input), 'logit-lens-top-tokens.csv') }, `Download the top ${K} tokens at every layer and position (CSV)`),
      ),
    );
    if (focusAfter) {
      const same = focusAfter < 0 ? prev : next;
      (same.disabled ? (same === prev ? next : prev) : same).focus();
    }
  };
  draw(0);
  // A cursor asked for at a position (a click on the grid) becomes this window's column.
  const c = pendingCursor();
  if (c && c.p != null) c.j = c.p - start;
  return { heatmap: () => hm, columnOf };
}

/**
 * What a cell says (tooltip and keyboard): the depth, the position and its top 3 tokens,
 * and the target's probability and rank when known.
 * @param {GridInput} input
 * @param {number} i the depth (0: after the embeddings)
 * @param {number} p the position
 */
function cellText({ lens, toks, label, target }, i, p) {
  const L = lens.length - 1;
  const top3 = lens[i].top[p]
    .slice(0, 3)
    .map((t, k) => `${k + 1}. ${label(t.id)}  p ${t.p.toFixed(4)}  (id ${t.id})`)
    .join('\n');
  const tg = target && lens[i].target ? lens[i].target[p] : null;
  const where = i === L ? `model output (after layer ${L})` : i === 0 ? 'after the embeddings' : `after ${lens[i].after}`;
  return `${where}, position ${p} (next after “${tokenLabel(toks[p].bytes)}”):\n${top3}${tg ? `\ntarget ${target.label}: p ${tg[0].toFixed(4)}, rank ${tg[1]}` : ''}`;
}

/**
 * Every depth × position × rank of the lens as CSV rows, with the target's probability and
 * rank when known.
 * @param {GridInput} input
 */
function topTokensCsv({ lens, toks, label, target }) {
  /** @type {(string | number)[][]} */
  const out = [['after', 'position', 'context_token', 'rank', 'id', 'token', 'probability', ...(target ? ['target', 'target_probability', 'target_rank'] : [])]];
  lens.forEach((r) => {
    for (let p = 0; p < toks.length; p++) {
      r.top[p].forEach((t, k) => {
        const tg = target && r.target ? [target.label, r.target[p][0], r.target[p][1]] : [];
        out.push([r.after, p, tokenLabel(toks[p].bytes), k + 1, t.id, label(t.id), t.p, ...tg]);
      });
    }
  });
  return out;
}
