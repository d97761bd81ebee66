// Stage "Logit lens": the residual stream after the embeddings and after every block, put
// through the final norm and the unembedding as if the model ended there (nostalgebraist
// 2020; src/instruments.rs). A layer × position grid of each depth's top token, and one
// token's probability and rank per layer at one position.
//
// Also the pieces the attribution view shares: which position and which target token the
// instruments follow (state.focus, state.target) and the target picker.
import { el, viewHeader, pct, loadingNote, errorNote } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { LineChart } from '../chart.js';
import { tokenLabel, shortLabel } from '../tokens.js';
import { state, visibleTokens, position } from '../store.js';
import { actions } from '../controller.js';
import { downloadCsv } from '../export.js';

/** How many top tokens the lens asks for at every layer and position. */
export const K = 10;
/** Narrowest grid column that still shows its top token. */
const MIN_COL = 60;

// A control whose change redraws the page asks to be focused again afterwards (the redraw
// replaces it), so keyboard users keep their place.
let refocus = null;

/** Focus the element with this id (and the heatmap cursor {i, j}) after the next redraw. */
export function focusAfterRender(id, cursor = null) {
  refocus = { id, cursor };
}

/** Called at the end of a view's render: focuses what asked for it. */
export function restoreFocus(heatmaps = []) {
  if (!refocus) return;
  const { id, cursor } = refocus;
  refocus = null;
  const e = document.getElementById(id);
  if (!e) return;
  const hm = heatmaps.find((h) => h && h.canvas === e);
  if (hm && cursor && hm.spec && cursor.i < hm.spec.rows && cursor.j < hm.spec.cols) {
    hm.cursor = cursor;
    hm.draw();
  }
  e.focus({ preventScroll: false });
}

/** The learner's target token, if it belongs to this model's vocabulary (else null). */
export function chosenTarget() {
  const t = state.target;
  return t != null && t >= 0 && t < state.info.config.vocab_size ? t : null;
}

/** The model's own next-token distribution at the last visible position (top K). */
export function lastTop() {
  return actions.data(`instr:top:${state.at}`, 'distribution', { at: state.at, temperature: 1, topK: 0, topP: 1, limit: K });
}

/** A lens result of this run already fetched (any target: their grids are the same), with its key. */
export function cachedLens() {
  for (const [key, v] of state.data) if (key.startsWith(`lens:${K}:`) && v && !v.error) return { key, lens: v };
  return null;
}

/** Bytes of token ids, as a Map id → bytes once fetched (undefined while fetching). */
export function tokenBytes(ids) {
  const infos = actions.data('infos', 'tokenInfos', { ids });
  if (!infos || infos.error) return infos;
  return new Map(infos.map((t) => [t.id, t.bytes]));
}

/** A token typed by the learner: ␣, ↵ and ⇥ stand for a space, a newline and a tab. */
export function typedText(s) {
  return s.replaceAll('␣', ' ').replaceAll('↵', '\n').replaceAll('⇥', '\t');
}

/** Looks a typed token up in the vocabulary: its id, or null when it is not one token. */
export function resolveToken(s) {
  return actions.request('tokenId', { text: typedText(s) });
}

/**
 * The target picker the lens and the attribution share (it sets state.target):
 * options [{id, label, p}] (the final top tokens at the position), the current target
 * {id, label} and whether it is the default (the model's top token).
 */
export function targetPicker({ options, current, isDefault, where, id }) {
  const select = el(
    'select',
    {
      id,
      onchange: (e) => {
        focusAfterRender(id);
        actions.setTarget(e.target.value === '' ? null : Number(e.target.value));
      },
    },
    el('option', { value: '', selected: isDefault }, `the model’s top token${current && isDefault ? ` (${current.label})` : ''}`),
    options.map((o) => el('option', { value: String(o.id), selected: !isDefault && o.id === current.id }, `${o.label} · ${pct(o.p)}`)),
    !isDefault && current && !options.some((o) => o.id === current.id) ? el('option', { value: String(current.id), selected: true }, `${current.label} (typed)`) : null,
  );
  const msg = el('span', { class: 'small warn', role: 'status' });
  const input = el('input', { type: 'text', class: 'target-text', spellcheck: 'false', autocomplete: 'off', placeholder: '␣Paris', 'aria-label': 'Type a token to follow' });
  const follow = async () => {
    msg.textContent = '';
    if (!input.value) return;
    try {
      const tid = await resolveToken(input.value);
      if (tid == null) msg.textContent = `“${input.value}” is not one token of this model’s vocabulary (a word in the middle of a sentence usually starts with a space: type ␣ or a space).`;
      else {
        focusAfterRender(id);
        actions.setTarget(tid);
      }
    } catch (e) {
      msg.textContent = e.message;
    }
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      follow();
    }
  });
  return el(
    'div',
    { class: 'controls target-picker' },
    el('label', { class: 'control', for: id }, el('span', {}, 'Target token'), select, el('span', { class: 'muted small' }, `final top tokens ${where}`)),
    el(
      'div',
      { class: 'control' },
      el('span', {}, 'or type one'),
      el('span', { class: 'row' }, input, el('button', { type: 'button', class: 'small-btn', onclick: follow }, 'Follow')),
      el('span', { class: 'muted small' }, '␣ or a space for a leading space'),
    ),
    msg,
  );
}

/** The lens chart: the target's probability per layer, with its rank in the tooltip and CSV. */
class LensChart extends LineChart {
  describe(k) {
    const r = this.rows[k];
    return `${r.after}: p(${r.target}) = ${r.p.toFixed(4)}, rank ${r.rank} of ${r.vocab}; top token ${r.top} ${r.topP.toFixed(4)}`;
  }
  csv() {
    return [['after', 'target', 'target_probability', 'target_rank', 'top_token', 'top_probability'], ...this.rows.map((r) => [r.after, r.target, r.p, r.rank, r.top, r.topP])];
  }
}

// Which positions the grid shows (a window that fits the width), kept across redraws.
let win = { run: -1, start: 0, pos: -1 };

export function render(root) {
  const toks = visibleTokens();
  const n = toks.length;
  const cfg = state.info.config;
  const L = cfg.n_layer;
  root.append(
    viewHeader(
      'Logit lens',
      'activation',
      'What the residual stream would predict if the model ended early: after the embeddings and after every layer, the stream goes through the final norm and the unembedding, and softmax gives a next-token distribution. The last row is the model’s real output.',
    ),
  );
  const pos = position();
  const explain = el(
    'p',
    { class: 'muted small instrument-note' },
    'Each cell shows the most probable next token at that depth (the token after that column’s token), coloured by its probability. This is what the stream would predict if the model stopped there; it does not claim the model uses that prediction: earlier layers were never trained to be read through the final norm and unembedding, so their rows are often noise, and a token that appears early may still be built up for other reasons.',
  );
  root.append(explain);
  const fail = (what, d) => (root.append(errorNote(what, d)), {});
  let target = chosenTarget();
  if (target == null) {
    const d = lastTop();
    if (!d) return root.append(loadingNote('the model’s top next token')), {};
    if (d.error) return fail('the model’s top next token', d);
    target = d.ids[0];
  }
  const key = `lens:${K}:${target}`;
  const mine = actions.data(key, 'lens', { k: K, target });
  if (mine && mine.error) return fail('the logit lens', mine);
  // While the lens for a new target is on its way, the grid of an earlier one (the same for
  // every target) stays on screen.
  const shown = mine ? { key, lens: mine } : cachedLens();
  if (!shown) return root.append(loadingNote(`the logit lens (${L + 1} × ${n} next-token distributions)`)), {};
  const lens = shown.lens;
  const ids = new Set();
  for (const row of lens) for (let p = 0; p < n; p++) for (const t of row.top[p]) ids.add(t.id);
  const bytes = tokenBytes([...ids]);
  const targetBytes = tokenBytes([target]);
  if (!bytes || !targetBytes) return root.append(loadingNote('the tokens’ text')), {};
  if (bytes.error || targetBytes.error) return fail('the tokens’ text', bytes.error ? bytes : targetBytes);
  const of = (id) => bytes.get(id) || targetBytes.get(id) || [];
  const label = (id) => tokenLabel(of(id));
  const short = (id, m) => shortLabel(of(id), m);
  const rowNames = lens.map((r) => r.after);
  const destroyers = [];

  // Target picker: the final layer's top tokens at the chosen position.
  const finalTop = lens[L].top[pos];
  const isDefault = chosenTarget() == null;
  root.append(
    targetPicker({
      options: finalTop.map((t) => ({ id: t.id, label: label(t.id), p: t.p })),
      current: { id: target, label: label(target) },
      isDefault,
      where: `at position ${pos} (after “${tokenLabel(toks[pos].bytes)}”)`,
      id: 'lens-target',
    }),
  );

  // The grid: a window of positions that fits the width, with pager buttons.
  const gridBox = el('section', { class: 'subview' });
  root.append(gridBox);
  const width = Math.max(280, (root.clientWidth || 900) - 24);
  const size = Math.max(3, Math.min(n, Math.floor((width - 90) / MIN_COL)));
  const same = win.run === state.runSeq && win.size === size && win.n === n;
  if (!same || (win.pos !== pos && !(pos >= win.start && pos < win.start + size))) {
    // Show the chosen position, as far right as it can be (the last positions by default).
    win = { run: state.runSeq, size, n, start: Math.max(0, Math.min(n - size, pos - size + 1)) };
  }
  win.pos = pos;
  const top3 = (i, p) =>
    lens[i].top[p]
      .slice(0, 3)
      .map((t, k) => `${k + 1}. ${label(t.id)}  p ${t.p.toFixed(4)}  (id ${t.id})`)
      .join('\n');
  const tip = (i, p) => {
    const tg = lens[i].target ? lens[i].target[p] : null;
    const where = i === L ? `model output (after layer ${L})` : i === 0 ? 'after the embeddings' : `after ${lens[i].after}`;
    return `${where}, position ${p} (next after “${tokenLabel(toks[p].bytes)}”):\n${top3(i, p)}${tg && shown.key === key ? `\ntarget ${label(target)}: p ${tg[0].toFixed(4)}, rank ${tg[1]}` : ''}`;
  };
  // Every stage × position × rank, with the target's probability and rank when known.
  const tokensCsv = () => {
    const withTarget = shown.key === key;
    const out = [['after', 'position', 'context_token', 'rank', 'id', 'token', 'probability', ...(withTarget ? ['target', 'target_probability', 'target_rank'] : [])]];
    lens.forEach((r, i) => {
      for (let p = 0; p < n; p++) {
        r.top[p].forEach((t, k) => {
          const tg = withTarget && r.target ? [label(target), r.target[p][0], r.target[p][1]] : [];
          out.push([rowNames[i], p, tokenLabel(toks[p].bytes), k + 1, t.id, label(t.id), t.p, ...tg]);
        });
      }
    });
    return out;
  };
  let hm = null;
  let start = 0;
  let cols = 0;
  const colOf = (i) => (i != null && i >= start && i < start + cols ? i - start : null);
  const drawGrid = (focusAfter) => {
    if (hm) hm.destroy();
    start = Math.max(0, Math.min(n - size, win.start));
    cols = Math.min(size, n - start);
    const page = (d) => {
      win.start = Math.max(0, Math.min(n - size, start + d));
      drawGrid(Math.sign(d));
    };
    const prev = el('button', { type: 'button', class: 'small-btn', disabled: start === 0, onclick: () => page(-size) }, '◂ earlier positions');
    const next = el('button', { type: 'button', class: 'small-btn', disabled: start + cols >= n, onclick: () => page(size) }, 'later positions ▸');
    gridBox.replaceChildren(el('h3', {}, 'Top token after each layer, at every position'));
    if (n > size) gridBox.append(el('div', { class: 'row lens-pager' }, prev, el('span', { class: 'muted small', 'aria-live': 'polite' }, `positions ${start}–${start + cols - 1} of 0–${n - 1}`), next));
    const rh = L > 12 ? 18 : 26;
    hm = new Heatmap(gridBox, {
      scale: 'sequential',
      rowHeight: rh,
      maxHeight: (L + 1) * rh + 100,
      rowTitle: 'the residual stream after the embeddings and after each layer (the last row is the model’s output)',
      colTitle: 'positions (each cell predicts the token after this one); click a column, or press Enter, to follow it',
      valueName: 'probability of the top token',
      title: `Logit lens: top token after each layer, positions ${start}–${start + cols - 1}`,
      exportName: `logit-lens-positions-${start}-${start + cols - 1}`,
      cellText: (i, j) => short(lens[i].top[start + j][0].id, 8),
      tooltip: (i, j) => tip(i, start + j),
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
      highlightCol: colOf(pos),
      label: `logit lens, top token after each of ${L + 1} stages at positions ${start} to ${start + cols - 1}`,
    });
    hm.canvas.id = 'lens-grid';
    gridBox.append(
      el(
        'div',
        { class: 'export-row' },
        el('button', { type: 'button', class: 'small-btn', onclick: () => downloadCsv(tokensCsv(), 'logit-lens-top-tokens.csv') }, `Download the top ${K} tokens at every layer and position (CSV)`),
      ),
    );
    if (focusAfter) {
      const same = focusAfter < 0 ? prev : next;
      (same.disabled ? (same === prev ? next : prev) : same).focus();
    }
  };
  drawGrid(0);

  // The target's probability and rank per layer at the chosen position.
  const chartBox = el('section', { class: 'subview' });
  root.append(chartBox);
  chartBox.append(el('h3', {}, `${label(target)}: probability after each layer at position ${pos} (next after “${tokenLabel(toks[pos].bytes)}”)`));
  if (!mine) chartBox.append(loadingNote(`the lens for ${label(target)}`));
  else {
    const rows = mine.map((r) => ({
      after: r.after,
      target: label(target),
      p: r.target[pos][0],
      rank: r.target[pos][1],
      vocab: cfg.vocab_size,
      top: label(r.top[pos][0].id),
      topP: r.top[pos][0].p,
    }));
    const maxP = Math.max(...rows.map((r) => Math.max(r.p, r.topP)));
    const chart = new LensChart(chartBox, {
      title: `Logit lens: p(${label(target)}) after each layer at position ${pos}`,
      xName: 'after the embeddings (emb) and after each layer',
      yMax: maxP > 0.5 ? 1 : maxP > 0.2 ? 0.5 : maxP > 0.1 ? 0.2 : 0.1,
      exportName: `logit-lens-target-${target}-position-${pos}`,
      caption: `Blue: the target token’s probability; grey: the probability of that layer’s top token. Arrow keys read each layer (with the target’s rank among ${cfg.vocab_size} tokens).`,
    });
    chart.rows = rows;
    chart.set(
      rows.map((r, i) => (i === 0 ? 'emb' : String(i))),
      [
        { name: `p(${label(target)})`, values: rows.map((r) => r.p), color: '#2563eb' },
        { name: 'top token p', values: rows.map((r) => r.topP), color: '#a1a1aa' },
      ],
    );
    destroyers.push(chart);
    const first = rows.findIndex((r, i) => rows.slice(i).every((q) => q.rank === 1));
    const final = rows[rows.length - 1];
    chartBox.append(
      el(
        'p',
        { class: 'small lens-summary' },
        `Rank of ${label(target)} (1 = top): ${rows.map((r) => `${r.after === 'embeddings' ? 'emb' : r.after.replace('layer ', 'L')} ${r.rank}`).join(' · ')}. `,
        first >= 0
          ? `It is the top token from ${first === 0 ? 'the embeddings' : rows[first].after} on.`
          : `In the model’s output it has probability ${pct(final.p)}, rank ${final.rank}.`,
      ),
    );
  }
  if (refocus && refocus.cursor && refocus.cursor.p != null) refocus.cursor = { i: refocus.cursor.i, j: refocus.cursor.p - start };
  restoreFocus([hm]);
  return {
    highlight: (i) => hm && hm.highlight(null, colOf(i) ?? colOf(pos)),
    destroy: () => {
      if (hm) hm.destroy();
      destroyers.forEach((d) => d.destroy());
    },
  };
}
