// @ts-check
// A canvas heatmap with token labels, a colour legend, a hover tooltip, keyboard reading of
// cells (focus the map, then arrow keys; the value is announced), and PNG/CSV export.
// Cells are drawn on device-pixel boundaries so the picture is crisp at any
// devicePixelRatio; large maps go through an ImageData scaled without smoothing.

import { scaleFn, css, ink } from './colors.js';
import { showTooltip, hideTooltip } from './tooltip.js';
import { el, sizeCanvas } from './dom.js';
import { downloadCanvas, downloadCsv, composeFigure, exportRow } from './export.js';

const FONT = '11px system-ui, sans-serif';
const MONO = '11px ui-monospace, SFMono-Regular, Menlo, monospace';

/** @type {{dpr: number, pattern: CanvasPattern} | null} */
let hatch = null;
/**
 * The hatching of masked cells, at scale `dpr`.
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} dpr
 */
function hatchPattern(ctx, dpr) {
  if (hatch && hatch.dpr === dpr) return hatch.pattern;
  const c = document.createElement('canvas');
  const s = Math.max(4, Math.round(6 * dpr));
  c.width = c.height = s;
  const g = c.getContext('2d');
  g.fillStyle = '#e4e4e7';
  g.fillRect(0, 0, s, s);
  g.strokeStyle = '#a1a1aa';
  g.lineWidth = Math.max(1, dpr);
  g.beginPath();
  g.moveTo(0, s);
  g.lineTo(s, 0);
  g.stroke();
  hatch = { dpr, pattern: ctx.createPattern(c, 'repeat') };
  return hatch.pattern;
}

let ids = 0;

/**
 * A small picture of a pooled map {rows, cols, data} in a w × h (CSS pixels) canvas, each
 * value coloured by color(v) → [r, g, b], blocks on device-pixel boundaries. With `causal`
 * (the number of tokens the map pools), blocks entirely above the diagonal, which only
 * hold masked entries, are grey.
 * @param {HTMLCanvasElement} canvas
 * @param {{rows: number, cols: number, data: ArrayLike<number>}} t
 * @param {number} w
 * @param {number} h
 * @param {(v: number) => number[]} color
 */
export function paintThumbnail(canvas, t, w, h, color, causal = 0) {
  const g = sizeCanvas(canvas, w, h);
  g.setTransform(1, 0, 0, 1, 0, 0);
  const X = (j) => Math.round((j * canvas.width) / t.cols);
  const Y = (i) => Math.round((i * canvas.height) / t.rows);
  for (let i = 0; i < t.rows; i++)
    for (let j = 0; j < t.cols; j++) {
      const masked = causal > 0 && Math.floor((j * causal) / t.cols) > Math.floor((i * causal + causal - 1) / t.rows);
      g.fillStyle = masked ? '#e4e4e7' : css(color(t.data[i * t.cols + j]));
      g.fillRect(X(j), Y(i), X(j + 1) - X(j), Y(i + 1) - Y(i));
    }
}

/**
 * @typedef {object} HeatmapOptions
 * @property {'diverging' | 'sequential'} [scale]
 * @property {boolean} [square] cells as wide as high
 * @property {number} [rowHeight]
 * @property {number} [maxHeight]
 * @property {string} [rowTitle] axis caption
 * @property {string} [colTitle] axis caption
 * @property {string} [valueName] legend caption
 * @property {(i: number, j: number, v: number | null) => string} [tooltip] v is null for a masked cell
 * @property {(i: number | null) => void} [onHoverRow]
 * @property {(i: number, j: number) => void} [onClick]
 * @property {string} [title] for exports
 * @property {string} [exportName] file name stem; adds PNG and CSV buttons
 * @property {(i: number, j: number) => string} [cellText] drawn in each cell that is wide
 *   enough (e.g. the logit lens's top token)
 *
 * @typedef {object} HeatmapSpec
 * @property {number} rows
 * @property {number} cols
 * @property {(i: number, j: number) => number} get
 * @property {number} max the scale's end
 * @property {string[]} [rowLabels]
 * @property {string[]} [colLabels]
 * @property {(i: number, j: number) => boolean} [masked] drawn hatched
 * @property {number | null} [highlightRow]
 * @property {number | null} [highlightCol]
 * @property {string} [label] accessible name
 */

export class Heatmap {
  /**
   * @param {HTMLElement} parent
   * @param {HeatmapOptions} opts
   */
  constructor(parent, opts = {}) {
    /** @type {HeatmapOptions} */
    this.opts = { scale: 'diverging', rowHeight: 16, maxHeight: 520, ...opts };
    this.id = `heatmap-${++ids}`;
    this.root = el('figure', { class: 'heatmap' });
    this.canvas = el('canvas', { role: 'img', tabindex: '0', 'aria-roledescription': 'heatmap', class: 'map' });
    this.legend = el('canvas', { class: 'legend', 'aria-hidden': 'true' });
    this.caption = el('figcaption', {});
    this.live = el('p', { class: 'sr-only', 'aria-live': 'polite', id: `${this.id}-value` });
    this.root.append(this.canvas, this.legend, this.caption, this.live);
    if (opts.exportName) this.root.append(exportRow(() => this.exportPng(), () => this.exportCsv()));
    parent.append(this.root);
    /** @type {HeatmapSpec | null} */
    this.spec = null;
    /** @type {{i: number, j: number} | null} the keyboard's cell */
    this.cursor = null;
    /** @type {{W: number, H: number, left: number, top: number, cw: number, ch: number} | null} the layout last drawn */
    this.L = null;
    this.canvas.addEventListener('pointermove', (e) => this.hover(e));
    this.canvas.addEventListener('pointerleave', () => this.leave());
    this.canvas.addEventListener('click', (e) => {
      const c = this.cellAt(e);
      if (c && this.opts.onClick) this.opts.onClick(c.i, c.j);
    });
    this.canvas.addEventListener('keydown', (e) => this.key(e));
    this.canvas.addEventListener('blur', () => this.leave());
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.root);
  }

  /** @param {HeatmapSpec} spec */
  set(spec) {
    this.spec = spec;
    this.canvas.setAttribute('aria-label', `${spec.label || 'heatmap'}, ${spec.rows} rows × ${spec.cols} columns; arrow keys read the cells`);
    this.canvas.dataset.rows = String(spec.rows);
    this.canvas.dataset.cols = String(spec.cols);
    const o = this.opts;
    this.caption.textContent = [o.rowTitle && `rows: ${o.rowTitle}`, o.colTitle && `columns: ${o.colTitle}`].filter(Boolean).join(' · ');
    this.draw();
  }

  /**
   * @param {number | null} row
   * @param {number | null} col
   */
  highlight(row, col) {
    if (!this.spec) return;
    if (this.spec.highlightRow === row && this.spec.highlightCol === col) return;
    this.spec.highlightRow = row;
    this.spec.highlightCol = col;
    this.draw();
  }

  /** @param {CanvasRenderingContext2D} ctx */
  layout(ctx) {
    const s = this.spec;
    const o = this.opts;
    const W = Math.max(120, this.root.clientWidth);
    ctx.font = MONO;
    /** @param {string[] | undefined} labels */
    const textW = (labels) => (labels ? Math.min(110, Math.max(...labels.map((l) => ctx.measureText(l).width), 0) + 8) : 0);
    const left = s.rowLabels ? textW(s.rowLabels) : 4;
    const top = s.colLabels ? Math.min(90, textW(s.colLabels)) : 4;
    const avail = W - left - 6;
    let cw = avail / s.cols;
    let ch = o.square ? Math.min(cw, (o.maxHeight - top) / s.rows) : Math.min(o.rowHeight, (o.maxHeight - top) / s.rows);
    if (o.square) cw = ch = Math.max(2, Math.min(cw, 44, ch));
    ch = Math.max(ch, 2);
    const H = Math.ceil(top + ch * s.rows + 4);
    return { W, H, left, top, cw, ch };
  }

  draw() {
    const s = this.spec;
    if (!s || !this.root.isConnected || this.root.clientWidth === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const L = this.layout(this.canvas.getContext('2d'));
    this.L = L;
    this.paint(sizeCanvas(this.canvas, L.W, L.H, dpr), L, dpr);
    this.drawLegend(dpr);
  }

  /**
   * Draws the cells, highlights and labels with layout L at scale dpr.
   * @param {CanvasRenderingContext2D} ctx
   * @param {{W: number, H: number, left: number, top: number, cw: number, ch: number}} L
   * @param {number} dpr
   */
  paint(ctx, L, dpr) {
    const s = this.spec;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, Math.round(L.W * dpr), Math.round(L.H * dpr));
    const color = scaleFn(this.opts.scale);
    /** @param {number} j */
    const X = (j) => Math.round((L.left + j * L.cw) * dpr);
    /** @param {number} i */
    const Y = (i) => Math.round((L.top + i * L.ch) * dpr);
    if (s.rows * s.cols <= 60000 && L.cw * dpr >= 1) {
      for (let i = 0; i < s.rows; i++) {
        for (let j = 0; j < s.cols; j++) {
          if (s.masked && s.masked(i, j)) ctx.fillStyle = hatchPattern(ctx, dpr);
          else ctx.fillStyle = css(color(s.get(i, j), s.max));
          ctx.fillRect(X(j), Y(i), X(j + 1) - X(j), Y(i + 1) - Y(i));
        }
      }
    } else {
      // More columns than device pixels: each pixel column shows the largest-magnitude value
      // of the columns it covers (pooling, so a single strong neuron is never dropped).
      const outW = Math.max(1, Math.min(s.cols, X(s.cols) - X(0)));
      const img = new ImageData(outW, s.rows);
      for (let i = 0; i < s.rows; i++) {
        for (let k = 0; k < outW; k++) {
          const j0 = Math.floor((k * s.cols) / outW);
          const j1 = Math.max(j0 + 1, Math.floor(((k + 1) * s.cols) / outW));
          let v = s.get(i, j0);
          const masked = s.masked && s.masked(i, j0);
          for (let j = j0 + 1; j < j1; j++) {
            const w = s.get(i, j);
            if (Math.abs(w) > Math.abs(v)) v = w;
          }
          const [r, g, b] = masked ? [220, 220, 224] : color(v, s.max);
          const o = (i * outW + k) * 4;
          img.data[o] = r;
          img.data[o + 1] = g;
          img.data[o + 2] = b;
          img.data[o + 3] = 255;
        }
      }
      const off = document.createElement('canvas');
      off.width = outW;
      off.height = s.rows;
      off.getContext('2d').putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(off, X(0), Y(0), X(s.cols) - X(0), Y(s.rows) - Y(0));
      if (outW < s.cols && !/each pixel/.test(this.caption.textContent)) {
        this.caption.textContent += ` · each pixel column shows the largest |value| of ~${(s.cols / outW).toFixed(1)} columns (hover or use the arrow keys for exact values)`;
      }
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.opts.cellText && L.cw >= 24 && L.ch >= 12) {
      ctx.font = MONO;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      for (let i = 0; i < s.rows; i++) {
        for (let j = 0; j < s.cols; j++) {
          const t = this.opts.cellText(i, j);
          if (!t) continue;
          ctx.fillStyle = ink(color(s.get(i, j), s.max));
          ctx.fillText(t, L.left + (j + 0.5) * L.cw, L.top + (i + 0.5) * L.ch, L.cw - 4);
        }
      }
    }
    // Highlighted row/column (the hovered token) and the keyboard cursor.
    ctx.strokeStyle = '#f59e0b';
    ctx.lineWidth = 2;
    if (s.highlightRow != null && s.highlightRow < s.rows) ctx.strokeRect(L.left, L.top + s.highlightRow * L.ch, L.cw * s.cols, L.ch);
    if (s.highlightCol != null && s.highlightCol < s.cols) ctx.strokeRect(L.left + s.highlightCol * L.cw, L.top, L.cw, L.ch * s.rows);
    if (this.cursor) {
      ctx.strokeStyle = '#18181b';
      ctx.strokeRect(L.left + this.cursor.j * L.cw, L.top + this.cursor.i * L.ch, L.cw, L.ch);
    }
    ctx.fillStyle = '#27272a';
    ctx.font = MONO;
    ctx.textBaseline = 'middle';
    /** @param {number} size */
    const every = (size) => Math.max(1, Math.ceil(12 / size));
    if (s.rowLabels) {
      ctx.textAlign = 'right';
      for (let i = 0; i < s.rows; i += every(L.ch)) {
        ctx.fillStyle = i === s.highlightRow ? '#b45309' : '#27272a';
        ctx.fillText(s.rowLabels[i], L.left - 4, L.top + (i + 0.5) * L.ch, L.left - 6);
      }
    }
    if (s.colLabels) {
      ctx.textAlign = 'left';
      for (let j = 0; j < s.cols; j += every(L.cw)) {
        ctx.save();
        ctx.translate(L.left + (j + 0.5) * L.cw, L.top - 4);
        ctx.rotate(-Math.PI / 2);
        ctx.fillStyle = j === s.highlightCol ? '#b45309' : '#27272a';
        ctx.fillText(s.colLabels[j], 0, 0, L.top - 6);
        ctx.restore();
      }
    }
  }

  /** @param {number} dpr */
  drawLegend(dpr) {
    const s = this.spec;
    const o = this.opts;
    const W = Math.min(320, Math.max(200, this.root.clientWidth - 8));
    const H = 34;
    const ctx = sizeCanvas(this.legend, W, H, dpr);
    ctx.clearRect(0, 0, W, H);
    const color = scaleFn(o.scale);
    const hasMask = !!s.masked;
    const barW = W - (hasMask ? 90 : 10);
    const lo = o.scale === 'sequential' ? 0 : -s.max;
    for (let x = 0; x < barW; x++) {
      const v = lo + ((s.max - lo) * x) / (barW - 1);
      ctx.fillStyle = css(color(v, s.max));
      ctx.fillRect(5 + x, 2, 1.5, 10);
    }
    ctx.strokeStyle = '#a1a1aa';
    ctx.lineWidth = 1;
    ctx.strokeRect(5.5, 2.5, barW - 1, 9);
    ctx.fillStyle = '#3f3f46';
    ctx.font = FONT;
    ctx.textBaseline = 'top';
    /** @param {number} v */
    const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));
    ctx.textAlign = 'left';
    ctx.fillText(fmt(lo), 5, 15);
    ctx.textAlign = 'right';
    ctx.fillText(fmt(s.max), 5 + barW, 15);
    ctx.textAlign = 'center';
    ctx.fillText(o.valueName ? `${o.scale === 'sequential' ? '' : '0 · '}${o.valueName}` : '0', 5 + barW / 2, 15);
    if (hasMask) {
      ctx.fillStyle = hatchPattern(ctx, dpr);
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillRect(Math.round((barW + 15) * dpr), Math.round(2 * dpr), Math.round(12 * dpr), Math.round(10 * dpr));
      ctx.restore();
      ctx.fillStyle = '#3f3f46';
      ctx.textAlign = 'left';
      ctx.fillText('masked', barW + 30, 1);
      ctx.fillText('(future)', barW + 30, 15);
    }
  }

  /** @param {MouseEvent} e */
  cellAt(e) {
    const L = this.L;
    const s = this.spec;
    if (!L || !s) return null;
    const r = this.canvas.getBoundingClientRect();
    const i = Math.floor((e.clientY - r.top - L.top) / L.ch);
    const j = Math.floor((e.clientX - r.left - L.left) / L.cw);
    if (i < 0 || j < 0 || i >= s.rows || j >= s.cols) return null;
    return { i, j };
  }

  /**
   * @param {number} i
   * @param {number} j
   */
  text(i, j) {
    const s = this.spec;
    const masked = s.masked && s.masked(i, j);
    return this.opts.tooltip ? this.opts.tooltip(i, j, masked ? null : s.get(i, j)) : String(s.get(i, j));
  }

  /** @param {PointerEvent} e */
  hover(e) {
    const c = this.cellAt(e);
    if (!c) return this.leave();
    showTooltip(this.text(c.i, c.j), e.clientX, e.clientY);
    if (this.opts.onHoverRow) this.opts.onHoverRow(c.i);
  }

  /**
   * Arrow keys move a cursor over the cells; its value is shown and announced.
   * @param {KeyboardEvent} e
   */
  key(e) {
    const s = this.spec;
    if (!s) return;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1], Home: [0, -1e9], End: [0, 1e9], PageUp: [-1e9, 0], PageDown: [1e9, 0] };
    if (e.key === 'Enter' && this.cursor && this.opts.onClick) {
      this.opts.onClick(this.cursor.i, this.cursor.j);
      return e.preventDefault();
    }
    if (!moves[e.key]) return;
    e.preventDefault();
    e.stopPropagation();
    const c = this.cursor || { i: 0, j: 0 };
    const [di, dj] = moves[e.key];
    this.cursor = this.cursor ? { i: Math.max(0, Math.min(s.rows - 1, c.i + di)), j: Math.max(0, Math.min(s.cols - 1, c.j + dj)) } : c;
    const text = this.text(this.cursor.i, this.cursor.j);
    this.live.textContent = text;
    this.draw();
    const r = this.canvas.getBoundingClientRect();
    showTooltip(text, r.left + this.L.left + (this.cursor.j + 1) * this.L.cw, r.top + this.L.top + (this.cursor.i + 0.5) * this.L.ch);
    if (this.opts.onHoverRow) this.opts.onHoverRow(this.cursor.i);
  }

  leave() {
    hideTooltip();
    if (this.opts.onHoverRow) this.opts.onHoverRow(null);
  }

  /** The map with its title, axes, labels and legend, as one PNG. */
  exportPng() {
    const dpr = 2;
    const L = this.L || this.layout(this.canvas.getContext('2d'));
    const map = document.createElement('canvas');
    map.width = Math.round(L.W * dpr);
    map.height = Math.round(L.H * dpr);
    this.paint(map.getContext('2d'), L, dpr);
    downloadCanvas(composeFigure(this.opts.title || this.spec.label, map, this.legend, this.caption.textContent, dpr), `${this.opts.exportName}.png`);
  }

  /** The values as CSV: one row per heatmap row, with the labels. */
  exportCsv() {
    const s = this.spec;
    const header = ['', ...Array.from({ length: s.cols }, (_, j) => (s.colLabels ? s.colLabels[j] : String(j)))];
    const rows = Array.from({ length: s.rows }, (_, i) => [s.rowLabels ? s.rowLabels[i] : String(i), ...Array.from({ length: s.cols }, (_, j) => (s.masked && s.masked(i, j) ? '' : s.get(i, j)))]);
    downloadCsv([header, ...rows], `${this.opts.exportName}.csv`);
  }

  destroy() {
    this.ro.disconnect();
    this.root.remove();
  }
}
