// Colour scales for heatmaps. Diverging (blue − white + red) for signed values such as
// embeddings and activations; sequential (white → deep blue) for probabilities.

const NEG = [33, 102, 172];
const MID = [247, 247, 247];
const POS = [178, 24, 43];
const SEQ_LO = [255, 255, 255];
const SEQ_HI = [8, 48, 107];

function mix(a, b, t) {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** [r, g, b] for value v on a diverging scale symmetric around 0 with ±max at the ends. */
export function diverging(v, max) {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
  return t < 0 ? mix(MID, NEG, -t) : mix(MID, POS, t);
}

/** [r, g, b] for v in [0, max] on a sequential scale (a square root eases small values in). */
export function sequential(v, max) {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const t = max > 0 ? Math.sqrt(Math.max(0, Math.min(1, v / max))) : 0;
  return mix(SEQ_LO, SEQ_HI, t);
}

export function scaleFn(kind) {
  return kind === 'sequential' ? sequential : diverging;
}

export function css([r, g, b]) {
  return `rgb(${r | 0},${g | 0},${b | 0})`;
}

/** Largest |v| of the finite values, for a symmetric diverging scale. */
export function maxAbs(data) {
  let m = 0;
  for (const v of data) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}
