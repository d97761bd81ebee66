// @ts-check
// Colour scales for heatmaps, in three palettes the reader can switch between (persisted):
// - classic: diverging blue − white + red for signed values (embeddings, activations),
//   sequential white → deep blue for probabilities;
// - viridis: colour-blind-safe sequential viridis for both (signed values span it from
//   −max to +max);
// - blue-orange: a colour-blind-safe diverging blue − white + orange, sequential white →
//   orange.

const WHITE = [247, 247, 247];
/** @type {Record<string, {neg?: RGB, pos?: RGB, seqLo?: RGB, seqHi?: RGB, label: string}>} */
const PALETTES = {
  classic: { neg: [33, 102, 172], pos: [178, 24, 43], seqLo: [255, 255, 255], seqHi: [8, 48, 107], label: 'Classic (blue–red)' },
  viridis: { label: 'Viridis (colour-blind safe)' },
  'blue-orange': { neg: [33, 102, 172], pos: [230, 97, 1], seqLo: [255, 255, 255], seqHi: [166, 54, 3], label: 'Blue–orange (colour-blind safe)' },
};
export const PALETTE_NAMES = Object.keys(PALETTES);
/** @param {string} name */
export const paletteLabel = (name) => PALETTES[name].label;

// Viridis at 9 stops (matplotlib's), interpolated linearly.
const VIRIDIS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

let current = PALETTES.classic;
let currentName = 'classic';

/**
 * Switches the palette; returns the name in effect (an unknown name keeps the classic one).
 * @param {string} name
 */
export function setPalette(name) {
  currentName = PALETTES[name] ? name : 'classic';
  current = PALETTES[currentName];
  return currentName;
}

/**
 * @param {RGB} a
 * @param {RGB} b
 * @param {number} t
 * @returns {RGB}
 */
function mix(a, b, t) {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** @param {number} t */
function viridis(t) {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  return mix(VIRIDIS[i], VIRIDIS[i + 1], x - i);
}

/**
 * [r, g, b] for value v on a diverging scale symmetric around 0 with ±max at the ends.
 * @param {number} v
 * @param {number} max
 * @returns {RGB}
 */
export function diverging(v, max) {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
  if (currentName === 'viridis') return viridis((t + 1) / 2);
  return t < 0 ? mix(WHITE, current.neg, -t) : mix(WHITE, current.pos, t);
}

/**
 * [r, g, b] for v in [0, max] on a sequential scale (a square root eases small values in).
 * @param {number} v
 * @param {number} max
 * @returns {RGB}
 */
export function sequential(v, max) {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const t = max > 0 ? Math.sqrt(Math.max(0, Math.min(1, v / max))) : 0;
  if (currentName === 'viridis') return viridis(t);
  return mix(current.seqLo, current.seqHi, t);
}

/**
 * The colour function of a scale.
 * @param {'sequential' | 'diverging'} kind
 */
export function scaleFn(kind) {
  return kind === 'sequential' ? sequential : diverging;
}

/** @typedef {number[]} RGB [r, g, b], each 0…255 */

/** @param {RGB} rgb */
export function css([r, g, b]) {
  return `rgb(${r | 0},${g | 0},${b | 0})`;
}

/**
 * Black or white, whichever reads better on [r, g, b].
 * @param {RGB} rgb
 */
export function ink([r, g, b]) {
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? '#18181b' : '#ffffff';
}

/**
 * Largest |v| of the finite values, for a symmetric diverging scale.
 * @param {Iterable<number>} data
 */
export function maxAbs(data) {
  let m = 0;
  for (const v of data) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}
