// @ts-check
// Stage "Train": a GPT-2 trained from scratch in the worker while the learner watches: the
// hyperparameters and task chosen here, the loss curve (train and held-out), learned
// parameters as heatmaps with the size of their last update, the head census over time as
// small multiples, and every head's attention on a fixed probe sequence. Earlier seeds' runs
// stay beside the current one. Built once; each progress message redraws the pictures in
// place (the handle's `train`), so typing in the form keeps its focus.
import { el, viewHeader, sizeCanvas, fmtCount } from '../dom.js';
import { diverging, sequential, maxAbs } from '../colors.js';
import { train, trainActions, statusLine } from '../training.js';

/** @typedef {import('../training.js').RunRecord} RunRecord */

const TRAIN_COLOR = '#2563eb';
const HELD_COLOR = '#ea580c';
const PREV_COLOR = '#a1a1aa';
const PREV_TOKEN_COLOR = '#7c3aed';
const INDUCTION_COLOR = '#059669';

/** The hyperparameters the learner sets: field, label, input attributes. */
const FIELDS = /** @type {const} */ ([
  ['layers', 'Layers', { min: '1', max: '12', step: '1' }],
  ['heads', 'Heads', { min: '1', max: '16', step: '1' }],
  ['width', 'Width', { min: '4', max: '1024', step: '4' }],
  ['context', 'Context', { min: '8', max: '512', step: '1' }],
  ['lr', 'Learning rate', { min: '0', max: '1', step: 'any' }],
  ['batch', 'Batch', { min: '1', max: '256', step: '1' }],
]);

const TASKS = /** @type {const} */ ([
  ['induction', 'Induction (random tokens with repeats)'],
  ['shakespeare', 'Shakespeare text (Julius Caesar)'],
  ['text', 'Your own text, pasted'],
]);

/**
 * Paints a matrix into `canvas`, one device pixel block per cell, on a diverging scale
 * (or sequential for attention).
 * @param {HTMLCanvasElement} canvas
 * @param {number} rows
 * @param {number} cols
 * @param {number[]} data
 * @param {'diverging' | 'sequential'} scale
 * @param {number} width CSS pixels
 */
function paintMatrix(canvas, rows, cols, data, scale, width) {
  canvas.width = cols;
  canvas.height = rows;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${Math.max(8, Math.round((width * rows) / cols))}px`;
  const g = canvas.getContext('2d');
  const img = g.createImageData(cols, rows);
  const max = scale === 'sequential' ? 1 : maxAbs(data);
  for (let k = 0; k < rows * cols; k++) {
    const [r, gg, b] = scale === 'sequential' ? sequential(data[k], max) : diverging(data[k], max);
    img.data.set([r, gg, b, 255], 4 * k);
  }
  g.putImageData(img, 0, 0);
  return max;
}

/**
 * Draws lines over steps: `series` of [step, value] points, with axes.
 * @param {HTMLCanvasElement} canvas
 * @param {number} W
 * @param {number} H
 * @param {{points: [number, number][], color: string, dash?: number[], dots?: boolean}[]} series
 * @param {{yMin: number, yMax: number, xMax: number, labels: boolean}} axes
 */
function plot(canvas, W, H, series, { yMin, yMax, xMax, labels }) {
  const g = sizeCanvas(canvas, W, H);
  const G = labels ? { l: 40, r: 8, t: 8, b: 30 } : { l: 2, r: 2, t: 2, b: 2 };
  const w = W - G.l - G.r;
  const h = H - G.t - G.b;
  const X = (/** @type {number} */ s) => G.l + (w * s) / Math.max(1, xMax);
  const Y = (/** @type {number} */ v) => G.t + h * (1 - Math.max(0, Math.min(1, (v - yMin) / (yMax - yMin || 1))));
  g.clearRect(0, 0, W, H);
  g.strokeStyle = '#e4e4e7';
  g.strokeRect(G.l + 0.5, G.t + 0.5, w, h);
  if (labels) {
    g.fillStyle = '#52525b';
    g.font = '12px system-ui, sans-serif';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const f of [0, 0.5, 1]) g.fillText((yMin + f * (yMax - yMin)).toFixed(2), G.l - 4, Y(yMin + f * (yMax - yMin)));
    g.textAlign = 'center';
    g.textBaseline = 'top';
    g.fillText('0', G.l, G.t + h + 4);
    g.fillText(`step ${xMax}`, G.l + w - 20, G.t + h + 4);
  }
  for (const s of series) {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.5;
    g.setLineDash(s.dash || []);
    g.beginPath();
    // At most one point per CSS pixel: a long run stays cheap to draw.
    const every = Math.max(1, Math.floor(s.points.length / w));
    s.points.forEach(([x, y], k) => {
      if (k % every && k !== s.points.length - 1) return;
      if (k === 0) g.moveTo(X(x), Y(y));
      else g.lineTo(X(x), Y(y));
    });
    g.stroke();
    if (s.dots) for (const [x, y] of s.points) g.fillRect(X(x) - 2, Y(y) - 2, 4, 4);
  }
  g.setLineDash([]);
}

/**
 * A legend: coloured swatches and their names, as text.
 * @param {[string, string, boolean?][]} items [colour, name, dashed]
 */
function legend(items) {
  return el(
    'p',
    { class: 'train-legend small' },
    items.map(([color, name, dashed]) => el('span', {}, el('span', { class: 'swatch' + (dashed ? ' dashed' : ''), style: { borderColor: color, background: dashed ? 'transparent' : color } }), name)),
  );
}

/** @param {RunRecord} r */
const lossPoints = (r) => /** @type {[number, number][]} */ (r.losses.map((v, k) => [k + 1, v]).filter((p) => p[1] != null));

/**
 * @param {HTMLElement} root
 */
export function render(root) {
  trainActions.init();
  const section = el('section', { class: 'train' });
  root.append(
    viewHeader(
      'Train a transformer',
      ['hyperparameter', 'parameter'],
      'Nobody designs the learned parameters: they start as random noise and settle, step by small step, into values that predict the next token. Train a small GPT-2 here, in this tab, and watch the weights, the loss and the heads change.',
    ),
    section,
  );

  // The form: hyperparameters, task, pasted text.
  /** @type {Map<string, HTMLInputElement>} */
  const inputs = new Map();
  const form = el('div', { class: 'train-form' });
  for (const [key, label, attrs] of FIELDS) {
    const input = el('input', {
      type: 'number',
      id: `train-${key}`,
      ...attrs,
      oninput: (/** @type {Event} */ e) => {
        const v = Number(/** @type {HTMLInputElement} */ (e.target).value);
        if (/** @type {HTMLInputElement} */ (e.target).value !== '' && Number.isFinite(v)) trainActions.set({ [key]: v });
      },
    });
    inputs.set(key, input);
    form.append(el('label', { class: 'control' }, el('span', {}, label), input));
  }
  const task = el(
    'select',
    { id: 'train-task', onchange: (/** @type {Event} */ e) => trainActions.set({ task: /** @type {any} */ (/** @type {HTMLSelectElement} */ (e.target).value) }) },
    TASKS.map(([v, label]) => el('option', { value: v }, label)),
  );
  form.append(el('label', { class: 'control train-task' }, el('span', {}, 'Task'), task));
  const pasted = el('textarea', {
    id: 'train-text',
    rows: 4,
    'aria-label': 'Your text',
    placeholder: 'Paste a few thousand words of text to train on',
    oninput: (/** @type {Event} */ e) => {
      train.settings.text = /** @type {HTMLTextAreaElement} */ (e.target).value;
    },
  });
  const count = el('p', { class: 'small', id: 'train-count', 'aria-live': 'polite' });
  const button = (/** @type {string} */ label, /** @type {() => void} */ onclick) => el('button', { type: 'button', onclick }, label);
  const startB = button('Start', () => trainActions.start());
  const pauseB = button('Pause', () => trainActions.pause());
  const resetB = button('Reset', () => trainActions.reset());
  const againB = button('Start again with another seed', () => trainActions.again());
  const openB = button('Open in the views', () => trainActions.open());
  const downloadB = button('Download', () => trainActions.download());
  const status = el('p', { role: 'status', id: 'train-status', class: 'train-status mono' });
  const speed = el('p', { class: 'small muted', id: 'train-speed' });
  const message = el('p', { class: 'warn', id: 'train-message' });
  section.append(form, pasted, count, el('div', { class: 'row train-buttons' }, startB, pauseB, resetB, againB, openB, downloadB), status, speed, message);

  // The pictures.
  const lossCanvas = el('canvas', { role: 'img', 'aria-label': 'Loss over training steps' });
  const lossBox = el(
    'figure',
    { class: 'train-figure' },
    el('figcaption', {}, 'Loss (mean cross-entropy) per step'),
    lossCanvas,
    legend([
      [TRAIN_COLOR, 'training batch'],
      [HELD_COLOR, 'held-out', true],
      [PREV_COLOR, 'earlier seeds'],
    ]),
  );
  const censusBox = el('div', { class: 'train-census' });
  const censusFig = el(
    'figure',
    { class: 'train-figure' },
    el('figcaption', {}, 'Head census over training: each head’s previous-token and induction score on the probe (0 to 1)'),
    legend([
      [PREV_TOKEN_COLOR, 'previous-token'],
      [INDUCTION_COLOR, 'induction'],
      [PREV_COLOR, 'earlier seeds (induction)', true],
    ]),
    censusBox,
  );
  const pictureBox = el('div', { class: 'train-pictures' });
  const probeBox = el('div', { class: 'train-probe' });
  section.append(
    el('div', { class: 'train-plots' }, lossBox, censusFig),
    el('h3', {}, 'Learned parameters, as they are now'),
    el('p', { class: 'small muted' }, 'Red and blue: positive and negative values, scaled to each picture’s largest. Under each: the size of the last update of its tensor.'),
    pictureBox,
    el('h3', {}, 'Attention on a fixed probe sequence'),
    el('p', { class: 'small muted' }, 'Random tokens with one span repeated: an induction head attends, from the second copy, to the token after the first copy’s (a diagonal offset by the span). Rows: queries; columns: keys.'),
    probeBox,
  );

  const width = () => Math.max(260, Math.min(section.clientWidth || 600, 1200));

  function drawForm() {
    const s = train.settings;
    for (const [key, input] of inputs) {
      if (s && document.activeElement !== input) input.value = String(/** @type {any} */ (s)[key]);
      input.disabled = !s || train.status === 'running' || train.status === 'starting';
    }
    if (s && document.activeElement !== task) task.value = s.task;
    task.disabled = !s || train.status === 'running';
    pasted.hidden = !s || s.task !== 'text';
    if (s && document.activeElement !== pasted) pasted.value = s.text || '';
    const p = train.plan;
    count.className = 'small' + ((p && p.refusal) || train.planError ? ' warn' : '');
    count.textContent = train.planError
      ? train.planError
      : p
        ? p.refusal || `${p.parameters.toLocaleString('en-US')} learned parameters · about ${(p.bytes / 1e6).toFixed(0)} MB to train, of ${(p.limit / 1e6).toFixed(0)} MB the tab gives training`
        : 'counting the learned parameters…';
    const running = train.status === 'running' || train.status === 'starting';
    startB.disabled = !s || running || !!(p && p.refusal) || !!train.planError;
    startB.textContent = train.status === 'paused' ? 'Start' : 'Start';
    pauseB.disabled = train.status !== 'running';
    resetB.disabled = !train.current && !train.previous.length;
    againB.disabled = !train.current || train.status === 'starting';
    openB.disabled = !train.last || train.opening;
    downloadB.disabled = !train.last;
    status.textContent = statusLine() + (train.status === 'paused' ? ' · paused' : '');
    message.textContent = train.message || '';
    message.hidden = !train.message;
    const p2 = train.last;
    const m = train.measured;
    const r = train.current;
    speed.textContent = p2
      ? `${p2.steps_per_s.toFixed(1)} steps/s · ${fmtCount(Math.round(p2.tokens_per_s))} tokens/s · ${(p2.elapsed_ms / 1e3).toFixed(1)} s of training, step ${p2.step}` +
        (m && m.held_out != null ? ` · held-out loss ${m.held_out.toFixed(3)} (step ${m.step})` : '') +
        (r && r.inductionAt != null ? ` · induction ≥ 0.5 in layer ≥ 2 after ${r.inductionAt.toFixed(1)} s` : '')
      : '';
    section.dataset.progress = String(train.received);
    section.dataset.status = train.status;
    section.dataset.plans = String(train.plans);
    // The step the status line and pictures show.
    section.dataset.step = String(m ? m.step : 0);
  }

  function drawLoss() {
    const runs = [...train.previous, ...(train.current ? [train.current] : [])];
    const all = runs.flatMap((r) => r.losses.filter((v) => v != null));
    const xMax = Math.max(1, ...runs.map((r) => r.losses.length));
    const yMax = all.length ? Math.max(...all) : 1;
    const yMin = all.length ? Math.min(...all, ...runs.flatMap((r) => r.heldOut.map((h) => h[1]))) : 0;
    plot(
      lossCanvas,
      Math.min(width(), 900),
      220,
      [
        ...train.previous.map((r) => ({ points: lossPoints(r), color: PREV_COLOR })),
        ...(train.current ? [{ points: lossPoints(train.current), color: TRAIN_COLOR }, { points: train.current.heldOut, color: HELD_COLOR, dash: [4, 3], dots: true }] : []),
      ],
      { yMin: Math.max(0, yMin - 0.05 * (yMax - yMin)), yMax, xMax, labels: true },
    );
  }

  function drawCensus() {
    const r = train.current;
    const last = r && r.census[r.census.length - 1];
    if (!last) return censusBox.replaceChildren(el('p', { class: 'small muted' }, 'Appears once training starts.'));
    const xMax = Math.max(1, ...[...train.previous, r].map((x) => x.losses.length));
    const cell = Math.max(140, Math.min(160, Math.floor(width() / 2 / Math.max(1, Math.max(...last.heads.map((h) => h.head))) - 12)));
    const cells = last.heads.map((h) => {
      const canvas = el('canvas', { role: 'img', 'aria-label': `layer ${h.layer}, head ${h.head}: previous-token ${h.previous_token.toFixed(2)}, induction ${h.induction.toFixed(2)}` });
      /** @param {RunRecord} run @param {'previous_token' | 'induction'} key */
      const series = (run, key) =>
        /** @type {[number, number][]} */ (run.census.map((c) => [c.step, (c.heads.find((x) => x.layer === h.layer && x.head === h.head) || { [key]: 0 })[key]]));
      plot(
        canvas,
        cell,
        56,
        [
          ...train.previous.map((p) => ({ points: series(p, 'induction'), color: PREV_COLOR, dash: [3, 2] })),
          { points: series(r, 'previous_token'), color: PREV_TOKEN_COLOR },
          { points: series(r, 'induction'), color: INDUCTION_COLOR },
        ],
        { yMin: 0, yMax: 1, xMax, labels: false },
      );
      const best = r.best && r.best.layer === h.layer && r.best.head === h.head;
      return el(
        'figure',
        { class: 'train-head' + (best ? ' best' : ''), style: { width: `${cell + 6}px` } },
        canvas,
        el('figcaption', { class: 'small' }, `layer ${h.layer}, head ${h.head}`, el('br'), `prev ${h.previous_token.toFixed(2)} · ind ${h.induction.toFixed(2)}`),
      );
    });
    const prev = train.previous.map((p) =>
      el('li', {}, `seed ${p.seed}: best induction ${p.best ? `${p.best.induction.toFixed(2)} (layer ${p.best.layer}, head ${p.best.head})` : '—'}, last loss ${(p.losses[p.losses.length - 1] ?? NaN).toFixed(2)} after ${p.losses.length} steps`),
    );
    if (train.current) prev.push(el('li', {}, `seed ${r.seed} (this run): best induction ${r.best ? `${r.best.induction.toFixed(2)} (layer ${r.best.layer}, head ${r.best.head})` : '—'}, last loss ${(r.losses[r.losses.length - 1] ?? NaN).toFixed(2)}`));
    censusBox.replaceChildren(el('div', { class: 'train-grid' }, cells));
    if (train.previous.length) censusBox.append(el('ul', { class: 'small' }, prev));
  }

  function drawPictures() {
    const p = train.measured;
    if (!p) return pictureBox.replaceChildren();
    const w = Math.min(width(), 1100);
    pictureBox.replaceChildren(
      ...p.pictures.map((pic) => {
        const canvas = el('canvas', { class: 'train-matrix', role: 'img', 'aria-label': `${pic.title}: ${pic.rows} × ${pic.cols}` });
        const max = paintMatrix(canvas, pic.rows, pic.cols, pic.data, 'diverging', Math.min(pic.cols * 3, w - 20, 360));
        return el(
          'figure',
          { class: 'train-picture' },
          el('figcaption', { class: 'small' }, pic.title),
          canvas,
          el('p', { class: 'small muted' }, `±${max.toPrecision(2)} at the ends · last update ‖Δ‖ ${pic.update.toExponential(2)} (${((100 * pic.update) / (pic.norm || 1)).toFixed(2)}% of ‖${pic.tensor}‖)`),
        );
      }),
    );
    const t = p.probe_ids.length;
    const size = Math.max(72, Math.min(150, Math.floor(w / Math.max(1, p.probe[0] ? p.probe[0].length : 1)) - 12));
    probeBox.replaceChildren(
      ...p.probe.map((layer, l) =>
        el(
          'div',
          { class: 'train-probe-layer' },
          el('p', { class: 'small' }, `Layer ${l + 1}`),
          el(
            'div',
            { class: 'train-grid' },
            layer.map((map, h) => {
              const canvas = el('canvas', { class: 'train-matrix', role: 'img', 'aria-label': `attention of layer ${l + 1}, head ${h + 1} on the ${t}-token probe` });
              paintMatrix(canvas, t, t, map, 'sequential', size);
              return el('figure', { class: 'train-head' }, canvas, el('figcaption', { class: 'small' }, `head ${h + 1}`));
            }),
          ),
        ),
      ),
    );
  }

  const draw = () => {
    drawForm();
    drawLoss();
    drawCensus();
    drawPictures();
  };
  draw();
  return { train: draw };
}
