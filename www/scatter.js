// @ts-check
// A 2-D scatter of labelled points, drawn on a canvas in chart.js's manner: equal scales on
// both axes, labels placed where they do not collide, hover and keyboard reading, and
// PNG/CSV export. The embedding-space view maps token embeddings with it.
import { sizeCanvas } from './dom.js';
import { Chart } from './chart.js';

const FONT = '12px system-ui, sans-serif';
const MONO = '11px ui-monospace, SFMono-Regular, Menlo, monospace';

/** @typedef {{id: number, x: number, y: number, label: string, group: string, note?: string}} Point */

/** A 2-D scatter of labelled points: equal scales on both axes (distances stay honest),
 * labels placed where they do not collide, hover and keyboard reading, PNG (with its legend
 * canvas, as Chart exports it) and CSV. */
export class Scatter extends Chart {
  /**
   * @param {HTMLElement} parent
   * @param {{title: string, exportName: string, xName: string, yName: string, caption: string, colors: Record<string, string>}} opts
   *   colors: each group's colour
   */
  constructor(parent, opts) {
    super(parent, opts, { kind: 'scatter plot', cls: 'chart scatter', legend: true });
    this.mark = null;
  }

  /** @param {Point[]} points */
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
    const drawn = super.draw();
    if (drawn) this.drawLegend(window.devicePixelRatio || 1);
    return drawn;
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
      g.fillStyle = this.opts.colors[p.group] || '#18181b';
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
      g.fillStyle = this.opts.colors[p.group] || '#18181b';
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
      g.fillStyle = this.opts.colors[name] || '#18181b';
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
