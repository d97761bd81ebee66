// @ts-check
// Canvas charts with the same habits as heatmap.js: axes and labels drawn, values read by
// keyboard (focus, then ↑/↓ or ←/→; announced), PNG and CSV downloads.
// - BarChart: one horizontal bar per row, signed or not, with an optional grey bar behind
//   each (e.g. the model's probability behind the sampled one).
// - LineChart: one or more series over a shared x axis (e.g. a token's probability per layer).

import { el, sizeCanvas } from './dom.js';
import { css, diverging, sequential } from './colors.js';
import { downloadCanvas, downloadCsv, composeFigure, exportRow } from './export.js';
import { showTooltip, hideTooltip } from './tooltip.js';

const FONT = '12px system-ui, sans-serif';
const MONO = '12px ui-monospace, SFMono-Regular, Menlo, monospace';

/** What the charts share: a figure with its canvas (focusable, read by keyboard and on
 * hover), caption, live region for screen readers, PNG and CSV downloads. A subclass gives
 * count(), describe(k), anchor(k), itemAt(e), height(W), paint(g, W, H), csv(), and may
 * give order() (the keyboard's walk) and a legend canvas (`legend: true`). */
export class Chart {
  /**
   * @param {HTMLElement} parent
   * @param {Record<string, any>} opts title, exportName, caption, and the subclass's own
   */
  constructor(parent, opts, { kind = 'chart', cls = 'chart', legend = false } = {}) {
    this.opts = opts;
    /** @type {any} what is drawn (null: nothing yet) */
    this.data = null;
    /** @type {number} the width last drawn at */
    this.W = 0;
    this.root = el('figure', { class: cls });
    this.canvas = el('canvas', { role: 'img', tabindex: '0', 'aria-roledescription': kind });
    this.legend = legend ? el('canvas', { class: 'legend', 'aria-hidden': 'true' }) : null;
    this.live = el('p', { class: 'sr-only', 'aria-live': 'polite' });
    this.caption = el('figcaption', {}, opts.caption || '');
    this.root.append(this.canvas, ...(this.legend ? [this.legend] : []), this.caption, this.live);
    if (opts.exportName) this.root.append(exportRow(() => this.exportPng(), () => downloadCsv(this.csv(), `${opts.exportName}.csv`)));
    parent.append(this.root);
    /** @type {number | null} the item the keyboard is on */
    this.cursor = null;
    this.canvas.addEventListener('keydown', (e) => this.key(e));
    this.canvas.addEventListener('blur', hideTooltip);
    this.canvas.addEventListener('pointermove', (e) => {
      const k = this.itemAt(e);
      if (k == null) return hideTooltip();
      showTooltip(this.describe(k), e.clientX, e.clientY);
    });
    this.canvas.addEventListener('pointerleave', hideTooltip);
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.root);
  }

  /** Draws at the figure's width and the screen's resolution; false when there is nothing
   * to draw yet (no data, or the figure is not on screen). */
  draw() {
    if (!this.data || !this.root.isConnected || this.root.clientWidth === 0) return false;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(200, this.root.clientWidth);
    const H = this.height(W);
    this.W = W;
    this.paint(sizeCanvas(this.canvas, W, H, dpr), W, H);
    return true;
  }

  // What a subclass gives (see the class comment).
  /** @returns {number} */
  count() {
    throw new Error(`${this.constructor.name} does not count its items`);
  }
  /** @param {number} _k @returns {string} */
  describe(_k) {
    throw new Error(`${this.constructor.name} does not describe its items`);
  }
  /** @param {number} _k @returns {number[]} [x, y] of item k in the canvas */
  anchor(_k) {
    throw new Error(`${this.constructor.name} does not place its items`);
  }
  /** @param {PointerEvent} _e @returns {number | null} */
  itemAt(_e) {
    throw new Error(`${this.constructor.name} does not find its items`);
  }
  /** @param {number} _W @returns {number} */
  height(_W) {
    throw new Error(`${this.constructor.name} has no height`);
  }
  /** @param {CanvasRenderingContext2D} _g @param {number} _W @param {number} _H */
  paint(_g, _W, _H) {
    throw new Error(`${this.constructor.name} does not paint`);
  }
  /** @returns {unknown[][]} */
  csv() {
    throw new Error(`${this.constructor.name} has no CSV`);
  }

  /** The items in the order the arrow keys walk them. */
  order() {
    return Array.from({ length: this.count() }, (_, k) => k);
  }

  /** @param {KeyboardEvent} e */
  key(e) {
    const n = this.count();
    const d = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, Home: -1e9, PageUp: -1e9, End: 1e9, PageDown: 1e9 }[e.key];
    if (!d || !n) return;
    e.preventDefault();
    e.stopPropagation();
    const walk = this.order();
    const at = this.cursor == null ? -1 : walk.indexOf(this.cursor);
    this.cursor = walk[at < 0 ? (d > 0 ? 0 : n - 1) : Math.max(0, Math.min(n - 1, at + d))];
    const text = this.describe(this.cursor);
    this.live.textContent = text;
    this.draw();
    const r = this.canvas.getBoundingClientRect();
    const [x, y] = this.anchor(this.cursor);
    showTooltip(text, r.left + x, r.top + y);
  }

  exportPng() {
    const dpr = 2;
    const c = document.createElement('canvas');
    const W = this.W || 600;
    const H = this.height(W);
    c.width = W * dpr;
    c.height = H * dpr;
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = '#fff';
    g.fillRect(0, 0, W, H);
    this.paint(g, W, H);
    downloadCanvas(composeFigure(this.opts.title, c, this.legend, this.caption.textContent, dpr), `${this.opts.exportName}.png`);
  }

  destroy() {
    this.ro.disconnect();
    hideTooltip();
    this.root.remove();
  }
}

export class BarChart extends Chart {
  /**
   * opts: title, valueName, signed, max, exportName, caption.
   * @param {{label: string, value: number, back?: number, note?: string}[]} rows
   */
  set(rows) {
    this.data = rows;
    const top = rows.slice(0, 3).map((r) => `${r.label} ${this.fmt(r.value)}`).join(', ');
    this.canvas.setAttribute('aria-label', `${this.opts.title}: ${rows.length} bars; ${top}${rows.length > 3 ? ', …' : ''}. Arrow keys read each bar.`);
    this.draw();
  }
  count() {
    return this.data ? this.data.length : 0;
  }
  fmt(v) {
    return this.opts.format ? this.opts.format(v) : Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4);
  }
  describe(k) {
    const r = this.data[k];
    return `${r.label}: ${this.opts.valueName || 'value'} ${this.fmt(r.value)}${r.back != null ? ` (before: ${this.fmt(r.back)})` : ''}${r.note ? ` · ${r.note}` : ''}`;
  }
  layoutRows(W) {
    const g = this.canvas.getContext('2d');
    g.font = MONO;
    const label = Math.min(W * 0.4, Math.max(40, ...this.data.map((r) => g.measureText(r.label).width)) + 10);
    return { label, value: 84, row: 20, top: 18 };
  }
  height() {
    return 18 + 20 * (this.data ? this.data.length : 0) + 22;
  }
  anchor(k) {
    return [this.W / 2, 18 + 20 * k + 10];
  }
  itemAt(e) {
    const r = this.canvas.getBoundingClientRect();
    const k = Math.floor((e.clientY - r.top - 18) / 20);
    return k >= 0 && k < this.count() ? k : null;
  }
  paint(g, W, H) {
    const L = this.layoutRows(W);
    const rows = this.data;
    const signed = this.opts.signed;
    const max = this.opts.max || Math.max(1e-12, ...rows.map((r) => Math.max(Math.abs(r.value), Math.abs(r.back || 0))));
    const x0 = L.label;
    const span = W - L.label - L.value - 8;
    const zero = signed ? x0 + span / 2 : x0;
    const scale = signed ? span / 2 / max : span / max;
    g.clearRect(0, 0, W, H);
    g.font = FONT;
    g.fillStyle = '#52525b';
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillText(this.opts.axis || '', x0, 2);
    rows.forEach((r, k) => {
      const y = L.top + k * L.row;
      g.font = MONO;
      g.textBaseline = 'middle';
      g.textAlign = 'right';
      g.fillStyle = '#27272a';
      g.fillText(r.label, x0 - 6, y + L.row / 2, x0 - 8);
      if (r.back != null) {
        g.fillStyle = '#d4d4d8';
        const w = r.back * scale;
        g.fillRect(Math.min(zero, zero + w), y + 3, Math.abs(w), L.row - 6);
      }
      const w = r.value * scale;
      g.fillStyle = css(signed ? diverging(r.value, max) : sequential(Math.max(0.25, r.value / max), 1));
      g.fillRect(Math.min(zero, zero + w), y + 5, Math.max(1, Math.abs(w)), L.row - 10);
      g.textAlign = 'left';
      g.fillStyle = '#27272a';
      g.fillText(this.fmt(r.value), W - L.value, y + L.row / 2);
      if (this.cursor === k) {
        g.strokeStyle = '#18181b';
        g.lineWidth = 2;
        g.strokeRect(x0 - 2, y + 1, span + 4, L.row - 2);
      }
    });
    g.strokeStyle = '#a1a1aa';
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(zero + 0.5, L.top);
    g.lineTo(zero + 0.5, L.top + rows.length * L.row);
    g.stroke();
    // Scale ticks: 0 and ±max.
    g.font = FONT;
    g.fillStyle = '#52525b';
    g.textBaseline = 'top';
    const yb = L.top + rows.length * L.row + 4;
    g.textAlign = 'center';
    g.fillText('0', zero, yb);
    g.textAlign = 'right';
    g.fillText(this.fmt(max), x0 + span, yb);
    if (signed) {
      g.textAlign = 'left';
      g.fillText(this.fmt(-max), x0, yb);
    }
  }
  csv() {
    return [['label', this.opts.valueName || 'value', ...(this.data.some((r) => r.back != null) ? ['before'] : [])], ...this.data.map((r) => [r.label, r.value, ...(r.back != null ? [r.back] : [])])];
  }
}

export class LineChart extends Chart {
  /**
   * opts: title, yName, yMax, yMin (default 0), exportName.
   * @param {string[]} x labels [n]
   * @param {{name: string, values: number[], color: string, format?: (v: number) => string}[]} series
   */
  set(x, series) {
    this.x = x;
    this.series = series;
    this.data = true;
    this.canvas.setAttribute('aria-label', `${this.opts.title}: ${series.map((s) => s.name).join(', ')} over ${x.length} points. Arrow keys read each point.`);
    this.draw();
  }
  count() {
    return this.x ? this.x.length : 0;
  }
  describe(k) {
    return `${this.x[k]}: ${this.series.map((s) => `${s.name} ${s.format ? s.format(s.values[k]) : s.values[k].toFixed(4)}`).join(', ')}`;
  }
  height() {
    return 200;
  }
  geom(W) {
    return { left: 44, right: 12, top: 10, bottom: 36, w: W - 56, h: 200 - 46 };
  }
  anchor(k) {
    const G = this.geom(this.W);
    return [G.left + (G.w * k) / Math.max(1, this.x.length - 1), G.top + G.h / 2];
  }
  itemAt(e) {
    const G = this.geom(this.W);
    const r = this.canvas.getBoundingClientRect();
    const k = Math.round(((e.clientX - r.left - G.left) / G.w) * (this.x.length - 1));
    return k >= 0 && k < this.x.length ? k : null;
  }
  paint(g, W, H) {
    const G = this.geom(W);
    const max = this.opts.yMax || 1;
    const min = this.opts.yMin || 0;
    const X = (k) => G.left + (G.w * k) / Math.max(1, this.x.length - 1);
    const Y = (v) => G.top + G.h * (1 - Math.max(0, Math.min(1, (v - min) / (max - min))));
    g.clearRect(0, 0, W, H);
    g.strokeStyle = '#e4e4e7';
    g.fillStyle = '#52525b';
    g.font = FONT;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const v = min + f * (max - min);
      g.beginPath();
      g.moveTo(G.left, Y(v) + 0.5);
      g.lineTo(G.left + G.w, Y(v) + 0.5);
      g.stroke();
      g.fillText(v.toFixed(2), G.left - 4, Y(v));
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const every = Math.max(1, Math.ceil(this.x.length / Math.max(1, G.w / 40)));
    this.x.forEach((lab, k) => k % every === 0 && g.fillText(lab, X(k), G.top + G.h + 4));
    g.fillText(this.opts.xName || '', G.left + G.w / 2, G.top + G.h + 20);
    for (const s of this.series) {
      g.strokeStyle = s.color;
      g.fillStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      s.values.forEach((v, k) => (k ? g.lineTo(X(k), Y(v)) : g.moveTo(X(k), Y(v))));
      g.stroke();
      s.values.forEach((v, k) => g.fillRect(X(k) - 2.5, Y(v) - 2.5, 5, 5));
    }
    if (this.cursor != null) {
      g.strokeStyle = '#18181b';
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(X(this.cursor) + 0.5, G.top);
      g.lineTo(X(this.cursor) + 0.5, G.top + G.h);
      g.stroke();
    }
  }
  csv() {
    return [['x', ...this.series.map((s) => s.name)], ...this.x.map((lab, k) => [lab, ...this.series.map((s) => s.values[k])])];
  }
}
