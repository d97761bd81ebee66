// Stage "Embedding space": every token is a vector, a row of the token-embedding table.
// A chosen token's nearest rows by cosine, a 2-D PCA map of a set of tokens (drawn here: a
// canvas scatter with labels, keyboard reading and PNG/CSV export, in chart.js's manner),
// and for a set of words their exact pairwise cosines.
import { el, viewHeader, loadingNote, errorNote, sizeCanvas } from '../dom.js';
import { BarChart, Chart } from '../chart.js';
import { Heatmap } from '../heatmap.js';
import { tokenLabel } from '../tokens.js';
import { state, visibleTokens, position, focused } from '../store.js';
import { actions } from '../controller.js';
import { tokenBytes, typedText, resolveToken, focusAfterRender, restoreFocus } from './lens.js';

const NEAR = 10;
const CAPITALS = [' Paris', ' London', ' France', ' Berlin', ' Germany', ' Rome', ' Italy'];
/** Most words a set may hold for its pairwise cosines (each costs one pass over the table). */
const MAX_WORDS = 12;
const FONT = '12px system-ui, sans-serif';
const MONO = '11px ui-monospace, SFMono-Regular, Menlo, monospace';
const GROUP_COLORS = {
  'chosen token': '#c2410c',
  'its nearest tokens': '#2563eb',
  'this prompt’s tokens': '#52525b',
  'the preset words': '#7e22ce',
  'your words': '#7e22ce',
};

/** A 2-D scatter of labelled points: equal scales on both axes (distances stay honest),
 * labels placed where they do not collide, hover and keyboard reading, PNG (with its legend
 * canvas, as Chart exports it) and CSV. */
class Scatter extends Chart {
  /** opts: title, exportName, xName, yName, caption. */
  constructor(parent, opts) {
    super(parent, opts, { kind: 'scatter plot', cls: 'chart scatter', legend: true });
    this.mark = null;
  }

  /** points: [{x, y, label, group, note}]. */
  set(points) {
    this.points = this.data = points;
    const groups = [...new Set(points.map((p) => p.group))];
    this.canvas.setAttribute('aria-label', `${this.opts.title}: ${points.length} tokens (${groups.join(', ')}). Arrow keys read each point.`);
    this.draw();
  }

  describe(k) {
    const p = this.points[k];
    return `${p.label} (${p.group}${p.note ? `, ${p.note}` : ''}): x ${p.x.toFixed(3)}, y ${p.y.toFixed(3)}`;
  }

  height(W) {
    return Math.round(Math.max(260, Math.min(480, W * 0.7)));
  }

  /** Where each point sits in a W × H figure. */
  geom(W, H) {
    const pad = { left: 44, right: 12, top: 12, bottom: 40 };
    const w = W - pad.left - pad.right;
    const h = H - pad.top - pad.bottom;
    const xs = this.points.map((p) => p.x);
    const ys = this.points.map((p) => p.y);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const span = Math.max(1e-9, x1 - x0, y1 - y0);
    // Equal units on both axes; 10% margin so labels fit.
    const s = Math.min(w / Math.max(1e-9, (x1 - x0) * 1.2 || span), h / Math.max(1e-9, (y1 - y0) * 1.2 || span));
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    const X = (x) => pad.left + w / 2 + (x - cx) * s;
    const Y = (y) => pad.top + h / 2 - (y - cy) * s;
    return { pad, w, h, X, Y, s, cx, cy };
  }

  count() {
    return this.points ? this.points.length : 0;
  }

  draw() {
    if (super.draw()) this.drawLegend(window.devicePixelRatio || 1);
  }

  paint(g, W, H) {
    const G = this.geom(W, H);
    this.G = G;
    g.clearRect(0, 0, W, H);
    // Frame, zero lines (the centre of these tokens) and tick values at the frame's ends.
    g.strokeStyle = '#d4d4d8';
    g.lineWidth = 1;
    g.strokeRect(G.pad.left + 0.5, G.pad.top + 0.5, G.w, G.h);
    g.setLineDash([3, 3]);
    g.beginPath();
    const zx = G.X(0);
    const zy = G.Y(0);
    if (zx > G.pad.left && zx < G.pad.left + G.w) (g.moveTo(zx + 0.5, G.pad.top), g.lineTo(zx + 0.5, G.pad.top + G.h));
    if (zy > G.pad.top && zy < G.pad.top + G.h) (g.moveTo(G.pad.left, zy + 0.5), g.lineTo(G.pad.left + G.w, zy + 0.5));
    g.stroke();
    g.setLineDash([]);
    g.font = FONT;
    g.fillStyle = '#52525b';
    const inv = (px, py) => [G.cx + (px - G.pad.left - G.w / 2) / G.s, G.cy - (py - G.pad.top - G.h / 2) / G.s];
    const [xl] = inv(G.pad.left, 0);
    const [xr] = inv(G.pad.left + G.w, 0);
    const [, yt] = inv(0, G.pad.top);
    const [, yb] = inv(0, G.pad.top + G.h);
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillText(xl.toFixed(2), G.pad.left, G.pad.top + G.h + 3);
    g.textAlign = 'right';
    g.fillText(xr.toFixed(2), G.pad.left + G.w, G.pad.top + G.h + 3);
    g.textAlign = 'center';
    g.fillText(this.opts.xName || '', G.pad.left + G.w / 2, G.pad.top + G.h + 20);
    g.save();
    g.translate(12, G.pad.top + G.h / 2);
    g.rotate(-Math.PI / 2);
    g.textBaseline = 'middle';
    g.fillText(this.opts.yName || '', 0, 0);
    g.restore();
    g.textAlign = 'right';
    g.textBaseline = 'top';
    g.fillText(yt.toFixed(2), G.pad.left - 3, G.pad.top);
    g.textBaseline = 'bottom';
    g.fillText(yb.toFixed(2), G.pad.left - 3, G.pad.top + G.h);
    // Points, the chosen/hovered ones last (on top).
    const order = this.points.map((_, k) => k).sort((a, b) => this.rank(a) - this.rank(b));
    for (const k of order) {
      const p = this.points[k];
      g.fillStyle = GROUP_COLORS[p.group] || '#18181b';
      g.beginPath();
      g.arc(G.X(p.x), G.Y(p.y), k === this.cursor || k === this.mark ? 6 : 4, 0, 2 * Math.PI);
      g.fill();
      if (k === this.cursor || k === this.mark) {
        g.strokeStyle = k === this.cursor ? '#18181b' : '#f59e0b';
        g.lineWidth = 2;
        g.stroke();
      }
    }
    // Labels: try right, left, above, below; skip one that would overlap a placed label or
    // leave the frame (hover or the arrow keys still read it).
    g.font = MONO;
    g.textBaseline = 'middle';
    const boxes = [];
    const hit = (b) => boxes.some((o) => b.x < o.x + o.w && o.x < b.x + b.w && b.y < o.y + o.h && o.y < b.y + b.h);
    const inside = (b) => b.x >= G.pad.left && b.x + b.w <= G.pad.left + G.w && b.y >= G.pad.top && b.y + b.h <= G.pad.top + G.h;
    for (const p of this.points) boxes.push({ x: G.X(p.x) - 4, y: G.Y(p.y) - 4, w: 8, h: 8 });
    this.hidden = 0;
    for (const k of [...order].reverse()) {
      const p = this.points[k];
      const px = G.X(p.x);
      const py = G.Y(p.y);
      const w = g.measureText(p.label).width + 2;
      const h = 13;
      const tries = [
        { x: px + 7, y: py - h / 2 },
        { x: px - 7 - w, y: py - h / 2 },
        { x: px - w / 2, y: py - 7 - h },
        { x: px - w / 2, y: py + 7 },
      ];
      const b = tries.find((t) => !hit({ ...t, w, h }) && inside({ ...t, w, h }));
      if (!b) {
        this.hidden++;
        continue;
      }
      boxes.push({ ...b, w, h });
      g.fillStyle = GROUP_COLORS[p.group] || '#18181b';
      g.textAlign = 'left';
      g.fillText(p.label, b.x + 1, b.y + h / 2);
    }
  }

  rank(k) {
    return k === this.cursor ? 3 : k === this.mark ? 2 : this.points[k].group === 'chosen token' ? 1 : 0;
  }

  /** Legend rows for width W: [{name, x, y}] and the height they take. */
  legendLayout(g, W) {
    const groups = [...new Set(this.points.map((p) => p.group))];
    g.font = FONT;
    let x = 4;
    let y = 11;
    const items = groups.map((name) => {
      const w = g.measureText(name).width + 26;
      if (x + w > W && x > 4) (x = 4), (y += 18);
      const it = { name, x, y };
      x += w;
      return it;
    });
    return { items, height: y + 11 };
  }

  paintLegend(g, items) {
    g.font = FONT;
    g.textBaseline = 'middle';
    g.textAlign = 'left';
    for (const { name, x, y } of items) {
      g.fillStyle = GROUP_COLORS[name] || '#18181b';
      g.beginPath();
      g.arc(x + 5, y, 4, 0, 2 * Math.PI);
      g.fill();
      g.fillStyle = '#27272a';
      g.fillText(name, x + 14, y);
    }
  }

  drawLegend(dpr) {
    const W = Math.max(200, this.root.clientWidth - 8);
    const { items, height } = this.legendLayout(this.legend.getContext('2d'), W);
    this.paintLegend(sizeCanvas(this.legend, W, height, dpr), items);
  }

  anchor(k) {
    const p = this.points[k];
    return [this.G.X(p.x), this.G.Y(p.y)];
  }

  itemAt(e) {
    if (!this.G) return null;
    const r = this.canvas.getBoundingClientRect();
    const mx = e.clientX - r.left;
    const my = e.clientY - r.top;
    let best = null;
    let bd = 100;
    this.points.forEach((p, k) => {
      const d = (this.G.X(p.x) - mx) ** 2 + (this.G.Y(p.y) - my) ** 2;
      if (d < bd) (bd = d), (best = k);
    });
    return best;
  }

  /** The arrow keys walk the points from left to right. */
  order() {
    return this.points.map((_, k) => k).sort((a, b) => this.points[a].x - this.points[b].x);
  }

  /** Marks point k (the hovered token), or none (null). */
  highlight(k) {
    if (this.mark === k) return;
    this.mark = k;
    this.draw();
  }

  csv() {
    return [['token', 'id', 'group', 'x', 'y'], ...this.points.map((p) => [p.label, p.id, p.group, p.x, p.y])];
  }
}

// The view's own choices, kept across redraws: a typed token (until another chip is
// chosen), which set the map shows, and the learner's own words.
const view = { typed: null, typedFocus: null, set: 'context', words: 'king, queen, man, woman, lord, lady', space: true };

export function render(root) {
  const toks = visibleTokens();
  const cfg = state.info.config;
  root.append(
    viewHeader(
      'Embedding space',
      'parameter',
      'Everything is a vector: the token-embedding table (a learned parameter) gives every token one row of numbers. Tokens whose rows point the same way (cosine near 1) enter the model alike.',
    ),
    el(
      'p',
      { class: 'muted small instrument-note' },
      `Cosine is computed over all ${cfg.n_embd} numbers of each row; it is the exact figure. The map squeezes those ${cfg.n_embd} dimensions into the 2 along which the shown tokens vary most (PCA of their rows), so distances on it are approximate and change with the set shown. This is the table before any layer: it does not show what a token means in context, which the layers build from it.`,
    ),
  );
  if (view.typed && (view.typedFocus !== state.focus || view.typed.vocab !== cfg.vocab_size)) view.typed = null;
  const at = position();
  const chosen = view.typed ? view.typed : { id: toks[at].id, bytes: toks[at].bytes, from: `position ${at}` };
  const charts = [];

  // Choosing the token: the chosen chip, or one typed here.
  const msg = el('span', { class: 'small warn', role: 'status' });
  const input = el('input', { type: 'text', id: 'neighbours-token', class: 'target-text', spellcheck: 'false', autocomplete: 'off', placeholder: '␣king', 'aria-label': 'Type a token to look at' });
  const lookUp = async () => {
    msg.textContent = '';
    if (!input.value) return;
    try {
      const id = await resolveToken(input.value);
      if (id == null) return (msg.textContent = `“${input.value}” is not one token of this model’s vocabulary (a word in the middle of a sentence usually starts with a space: type ␣ or a space).`);
      const [info] = await actions.request('tokenInfos', { ids: [id] });
      view.typed = { id, bytes: info.bytes, from: 'typed', vocab: cfg.vocab_size };
      view.typedFocus = state.focus;
      focusAfterRender('neighbours-token');
      actions.redraw();
    } catch (e) {
      msg.textContent = e.message;
    }
  };
  input.addEventListener('keydown', (e) => e.key === 'Enter' && (e.preventDefault(), lookUp()));
  root.append(
    el(
      'div',
      { class: 'controls' },
      el(
        'div',
        { class: 'control' },
        el('span', {}, 'Token'),
        el('span', { class: 'chip static chosen-token' }, el('span', { class: 'chip-text' }, tokenLabel(chosen.bytes)), el('span', { class: 'chip-id' }, String(chosen.id))),
        el('span', { class: 'muted small' }, view.typed ? 'typed here' : `the ${focused() ? 'chosen' : 'last'} token (position ${at}); click a chip to choose another`),
      ),
      el(
        'div',
        { class: 'control' },
        el('span', {}, 'or type one'),
        el('span', { class: 'row' }, input, el('button', { type: 'button', class: 'small-btn', onclick: lookUp }, 'Look up')),
        el('span', { class: 'muted small' }, '␣ or a space for a leading space'),
      ),
      view.typed
        ? el('button', { type: 'button', class: 'small-btn', onclick: () => ((view.typed = null), focusAfterRender('neighbours-token'), actions.redraw()) }, 'Back to the chosen chip')
        : null,
      msg,
    ),
  );

  // Its nearest tokens by cosine.
  const nearBox = el('section', { class: 'subview' }, el('h3', {}, `The ${NEAR} tokens nearest ${tokenLabel(chosen.bytes)} (id ${chosen.id}) by cosine`));
  root.append(nearBox);
  const near = actions.data(`neighbours:${chosen.id}:${NEAR}`, 'neighbours', { id: chosen.id, k: NEAR });
  const nearBytes = near && !near.error ? tokenBytes(near.map((x) => x.id)) : null;
  if (!near || (near && !near.error && !nearBytes)) nearBox.append(loadingNote(`the nearest tokens to ${tokenLabel(chosen.bytes)}`));
  else if (near.error) nearBox.append(errorNote('the nearest tokens', near));
  else if (nearBytes.error) nearBox.append(errorNote('the tokens’ text', nearBytes));
  else {
    const bars = new BarChart(nearBox, {
      title: `Nearest tokens to ${tokenLabel(chosen.bytes)} by cosine of their embedding rows`,
      valueName: 'cosine',
      axis: 'cosine (1 = same direction)',
      signed: near.some((x) => x.cosine < 0),
      max: 1,
      exportName: `neighbours-${chosen.id}`,
      caption: `Over all ${cfg.vocab_size} rows of the table, the token itself left out. Arrow keys read each bar.`,
    });
    bars.set(near.map((x) => ({ label: tokenLabel(nearBytes.get(x.id) || []), value: x.cosine, note: `id ${x.id}` })));
    bars.canvas.id = 'neighbours-chart';
    charts.push(bars);
  }

  // The map.
  const mapBox = el('section', { class: 'subview' }, el('h3', {}, 'A map of token embeddings (PCA)'));
  root.append(mapBox);
  const pick = el(
    'select',
    { id: 'embedding-set', onchange: (e) => ((view.set = e.target.value), focusAfterRender('embedding-set'), actions.redraw()) },
    el('option', { value: 'context', selected: view.set === 'context' }, `this prompt’s tokens and ${tokenLabel(chosen.bytes)}’s nearest`),
    el('option', { value: 'capitals', selected: view.set === 'capitals' }, 'capitals and countries (␣Paris, ␣France, …)'),
    el('option', { value: 'words', selected: view.set === 'words' }, 'your own words'),
  );
  mapBox.append(el('div', { class: 'controls' }, el('label', { class: 'control', for: 'embedding-set' }, el('span', {}, 'Tokens on the map'), pick)));
  let points = null; // [{id, bytes, group}]
  let words = null; // for the preset and own words: [{text, id|null}]
  if (view.set === 'context') {
    if (near && !near.error && nearBytes && !nearBytes.error) {
      const seen = new Map();
      seen.set(chosen.id, { id: chosen.id, bytes: chosen.bytes, group: 'chosen token' });
      for (const x of near) if (!seen.has(x.id)) seen.set(x.id, { id: x.id, bytes: nearBytes.get(x.id) || [], group: 'its nearest tokens' });
      for (const t of toks) if (!seen.has(t.id)) seen.set(t.id, { id: t.id, bytes: t.bytes, group: 'this prompt’s tokens' });
      points = [...seen.values()];
    }
  } else {
    if (view.set === 'words') {
      const box = el('input', { type: 'text', id: 'embedding-words', class: 'words-text', value: view.words, spellcheck: 'false', 'aria-label': 'Your words, separated by commas' });
      const space = el('input', { type: 'checkbox', checked: view.space });
      const apply = () => {
        view.words = box.value;
        view.space = space.checked;
        focusAfterRender('embedding-words');
        actions.redraw();
      };
      box.addEventListener('keydown', (e) => e.key === 'Enter' && (e.preventDefault(), apply()));
      mapBox.append(
        el(
          'div',
          { class: 'controls' },
          el('label', { class: 'control' }, el('span', {}, `Your words (commas between them, at most ${MAX_WORDS})`), box),
          el('label', { class: 'check' }, space, ' each with a leading space, as in mid-sentence'),
          el('button', { type: 'button', class: 'small-btn', onclick: apply }, 'Show'),
        ),
      );
    }
    const texts =
      view.set === 'capitals'
        ? CAPITALS
        : [
            ...new Set(
              view.words
                .split(',')
                .map((w) => typedText(w.trim()))
                .filter(Boolean)
                .map((w) => (view.space && !w.startsWith(' ') ? ' ' + w : w)),
            ),
          ].slice(0, MAX_WORDS);
    words = texts.map((text) => ({ text, id: actions.data(`tokenId:${text}`, 'tokenId', { text }) }));
    if (words.some((w) => w.id === undefined)) mapBox.append(loadingNote('the words’ token ids'));
    else {
      const failed = words.find((w) => w.id && w.id.error);
      const found = words.filter((w) => w.id != null && !w.id.error);
      const wb = found.length ? tokenBytes(found.map((w) => w.id)) : new Map();
      if (failed) mapBox.append(errorNote('a token id', failed.id));
      else if (!wb) mapBox.append(loadingNote('the tokens’ text'));
      else if (wb.error) mapBox.append(errorNote('the tokens’ text', wb));
      else {
        const group = view.set === 'capitals' ? 'the preset words' : 'your words';
        points = [...new Map(found.map((w) => [w.id, { id: w.id, bytes: wb.get(w.id) || [], group }])).values()];
        const missing = words.filter((w) => w.id == null).map((w) => tokenLabel(new TextEncoder().encode(w.text)));
        if (missing.length) mapBox.append(el('p', { class: 'muted small' }, `Not one token in this model’s vocabulary, so left out: ${missing.join(', ')}.`));
      }
    }
  }
  let scatter = null;
  if (points && points.length < 3) mapBox.append(el('p', { class: 'muted' }, `A map needs at least 3 tokens; ${points.length} ${points.length === 1 ? 'is' : 'are'} in this vocabulary.`));
  else if (points) {
    const ids = points.map((p) => p.id);
    const pca = actions.data(`pca:${ids.join(',')}`, 'pca', { ids });
    if (!pca) mapBox.append(loadingNote('the PCA map'));
    else if (pca.error) mapBox.append(errorNote('the PCA map', pca));
    else {
      scatter = new Scatter(mapBox, {
        title: `Token embeddings on their first two principal axes (${points.length} tokens)`,
        exportName: `embedding-pca-${view.set}`,
        xName: 'principal axis 1',
        yName: 'principal axis 2',
        caption: `Both axes in embedding units, at the same scale; the dashed lines cross at the tokens’ mean. Labels that would overlap are left off: hover, or focus the map and use the arrow keys, to read every point.`,
      });
      scatter.set(points.map((p, k) => ({ id: p.id, x: pca[k][0], y: pca[k][1], label: tokenLabel(p.bytes), group: p.group, note: `id ${p.id}` })));
      scatter.canvas.id = 'embedding-map';
      charts.push(scatter);
    }
  }
  if (words && points && points.length >= 2) cosineSection(root, points, charts);
  restoreFocus();
  return {
    highlight(i) {
      if (!scatter) return;
      const t = i != null ? toks[i] : null;
      const k = t ? scatter.points.findIndex((p) => p.id === t.id) : -1;
      scatter.highlight(k >= 0 ? k : null);
    },
    destroy: () => charts.forEach((c) => c.destroy()),
  };
}

/** The exact pairwise cosines of a set of words: a matrix and the closest pairs. */
function cosineSection(root, points, charts) {
  const box = el('section', { class: 'subview' }, el('h3', {}, 'Their exact pairwise cosines'));
  root.append(box);
  const m = actions.data(`cosines:${points.map((p) => p.id).join(',')}`, 'cosines', { ids: points.map((p) => p.id) });
  if (!m) return box.append(loadingNote(`the cosines of ${points.length} tokens`));
  if (m.error) return box.append(errorNote('the pairwise cosines', m));
  const n = points.length;
  const cos = (i, j) => m[i][j];
  const labels = points.map((p) => tokenLabel(p.bytes));
  const pairs = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j, cos(i, j)]);
  pairs.sort((a, b) => b[2] - a[2]);
  if (n >= 3) {
    box.append(
      el(
        'p',
        { class: 'cosine-first' },
        `${labels[0]}, ${labels[1]} and ${labels[2]}: `,
        `cos(${labels[0]}, ${labels[1]}) = ${cos(0, 1).toFixed(3)}, cos(${labels[0]}, ${labels[2]}) = ${cos(0, 2).toFixed(3)}, cos(${labels[1]}, ${labels[2]}) = ${cos(1, 2).toFixed(3)}.`,
      ),
    );
  }
  box.append(
    el('p', { class: 'small' }, `Closest pairs: ${pairs.slice(0, 5).map(([i, j, c]) => `${labels[i]}–${labels[j]} ${c.toFixed(3)}`).join(' · ')}. Least alike: ${pairs.slice(-1).map(([i, j, c]) => `${labels[i]}–${labels[j]} ${c.toFixed(3)}`)[0]}.`),
  );
  const hm = new Heatmap(box, {
    scale: 'diverging',
    square: true,
    maxHeight: 440,
    valueName: 'cosine',
    title: 'Pairwise cosines of token-embedding rows',
    exportName: 'embedding-cosines',
    rowTitle: 'token',
    colTitle: 'token',
    cellText: (i, j) => cos(i, j).toFixed(2),
    tooltip: (i, j, v) => `cos(${labels[i]}, ${labels[j]}) = ${v.toFixed(4)}`,
  });
  hm.set({ rows: n, cols: n, get: cos, max: 1, rowLabels: labels, colLabels: labels, label: `pairwise cosines of ${n} tokens` });
  charts.push(hm);
}
