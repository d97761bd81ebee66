// @ts-check
// Attention of one layer: the chosen head as a large T×T map (rows: the token that looks,
// columns: the token it looks at), and every layer × head as a clickable thumbnail, grouped
// by the key/value head they share (grouped-query attention), with their census names.
// Heads can be switched off (ablated) here; the next-token view then shows what changed.
import { el, viewHeader, fmt, loadingNote, errorNote } from '../dom.js';
import { Heatmap, paintThumbnail } from '../heatmap.js';
import { sequential } from '../colors.js';
import { shortLabel, axisLabels } from '../tokens.js';
import { state, visibleTokens, isAblated } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';
import { compareAttention } from './compare.js';

/** How many layers of thumbnails the grid shows at once (it pages through the rest). */
const PAGE = 6;

/**
 * The census entry of a head (0-based layer and head), from heads.json or the worker.
 * @param {number} layer
 * @param {number} head
 */
function census(layer, head) {
  return state.heads ? state.heads.find((x) => x.layer === layer + 1 && x.head === head + 1) : null;
}

/**
 * "induction 0.87", or null without a census.
 * @param {number} layer
 * @param {number} head
 */
export function headLabel(layer, head) {
  const e = census(layer, head);
  return e && e.label ? `${e.label} ${Number(e.score).toFixed(2)}` : null;
}

function bestInduction() {
  const list = state.heads;
  if (!list || !list.length) return null;
  return list.reduce((a, b) => ((b.induction_random ?? 0) > (a.induction_random ?? 0) ? b : a));
}

/** The census's progress, while the worker computes it. */
function censusText() {
  return state.census ? `Naming heads: head census ${state.census.done} of ${state.census.total} runs…` : '';
}

/**
 * @param {HTMLElement} root
 * @param {number} layer
 * @returns {import('../stages.js').ViewHandle}
 */
export function render(root, layer) {
  const toks = visibleTokens();
  const n = toks.length;
  const cfg = state.info.config;
  const H = cfg.n_head;
  const group = H / cfg.n_kv_head;
  const head = Math.min(state.head, H - 1);
  const kv = Math.floor(head / group);
  const shared = group > 1 ? ` It shares its keys and values with heads ${kv * group + 1}–${(kv + 1) * group} (key/value head ${kv + 1} of ${cfg.n_kv_head}: grouped-query attention).` : '';
  root.append(
    viewHeader(
      `Attention · layer ${layer + 1}, head ${head + 1}${isAblated(layer, head) ? ' (ablated)' : ''}`,
      'activation',
      `How much each token (row) takes from each earlier token (column) in this head: softmax(q·k/√d) for this prompt. Rows sum to 1; a token cannot look ahead (hatched).${shared}`,
    ),
  );
  /** @type {(l: number, h: number) => void} */
  const open = (l, h) => actions.navigate({ stage: 'layer', layer: l, head: h, sub: 'attention' });
  const best = bestInduction();
  const controls = el(
    'div',
    { class: 'controls' },
    el('label', {}, 'Layer ', el('select', { 'aria-label': 'Layer', onchange: (e) => open(Number(e.target.value), head) }, Array.from({ length: cfg.n_layer }, (_, l) => el('option', { value: l, selected: l === layer }, `${l + 1}`)))),
    el(
      'label',
      {},
      'Head ',
      el('select', { 'aria-label': 'Head', onchange: (e) => open(layer, Number(e.target.value)) }, Array.from({ length: H }, (_, h) => el('option', { value: h, selected: h === head }, `${h + 1}${headLabel(layer, h) ? ' · ' + headLabel(layer, h) : ''}${isAblated(layer, h) ? ' · ablated' : ''}`))),
    ),
    el('span', { class: 'muted small' }, '↑/↓ switch head'),
    best && best.induction_random >= 0.3
      ? el('button', { type: 'button', class: 'small-btn', onclick: () => actions.inductionDemo(best.layer - 1, best.head - 1) }, `Watch induction head ${best.layer}.${best.head}: repeat a random sequence`)
      : null,
  );
  root.append(controls);
  const att = data.tensor('attentions', layer, head);
  const big = el('section', { class: 'subview attention-big' });
  const side = el('section', { class: 'subview attention-side' });
  root.append(el('div', { class: 'attention-layout' }, big, side));
  // Head names come from the census; a model without heads.json computes it now.
  actions.startCensus();
  /** @type {Heatmap | null} */
  let hm = null;
  if (!att) big.append(loadingNote(`layer ${layer + 1}'s attention`));
  else if (failed(att)) big.append(errorNote(`layer ${layer + 1}'s attention`, att));
  else {
    const T = att.shape[0];
    const labels = axisLabels(toks);
    const plain = toks.map((t) => shortLabel(t.bytes, 16));
    hm = new Heatmap(big, {
      scale: 'sequential',
      square: true,
      maxHeight: 420,
      rowTitle: 'query token (the one looking)',
      colTitle: 'key token (looked at)',
      valueName: 'attention weight',
      title: `Attention of layer ${layer + 1}, head ${head + 1}`,
      exportName: `attention-layer${layer + 1}-head${head + 1}`,
      tooltip: (i, j, v) => (v == null ? `${plain[i]} → ${plain[j]}: masked (a token cannot attend to later tokens)` : `${plain[i]} → ${plain[j]}: ${fmt(v)}`),
      onHoverRow: actions.setHover,
    });
    hm.set({ rows: n, cols: n, get: (i, j) => att.data[i * T + j], max: 1, masked: (i, j) => j > i, rowLabels: labels, colLabels: labels, label: `attention of layer ${layer + 1} head ${head + 1}, ${n} × ${n}` });
    hm.canvas.id = 'attention-heatmap';
  }
  side.append(headGrid(layer, head, n, group));
  const extra = compareAttention(root, layer, head, att && !failed(att) ? att : null);
  return {
    census: () => {
      const line = side.querySelector('#census-status');
      if (line) line.textContent = censusText();
    },
    highlight: (i) => hm && hm.highlight(i, i),
    destroy: () => [hm, ...extra].forEach((m) => m && m.destroy()),
    key(e) {
      if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return false;
      let idx = layer * H + head + (e.key === 'ArrowDown' ? 1 : -1);
      idx = (idx + cfg.n_layer * H) % (cfg.n_layer * H);
      open(Math.floor(idx / H), idx % H);
      return true;
    },
  };
}

/**
 * Every layer × head as thumbnails, a page of layers at a time, grouped by key/value head;
 * with ablation editing on, a click switches a head off or on.
 * @param {number} layer
 * @param {number} head
 * @param {number} n tokens on screen
 * @param {number} group query heads per key/value head
 */
function headGrid(layer, head, n, group) {
  const cfg = state.info.config;
  const H = cfg.n_head;
  const L = cfg.n_layer;
  const first = Math.floor(layer / PAGE) * PAGE;
  const last = Math.min(L, first + PAGE);
  const thumb = Math.max(20, Math.min(52, Math.floor(270 / H) - 8));
  const editing = state.ablation.editing;
  const grid = el('div', { class: 'head-grid', style: { gridTemplateColumns: `auto repeat(${H}, ${thumb + 8}px)` } });
  grid.append(el('span', {}), ...Array.from({ length: H }, (_, h) => el('span', { class: 'muted small' + (group > 1 && h % group === 0 ? ' kv-start' : '') }, H > 6 ? `${h + 1}` : `head ${h + 1}`)));
  if (group > 1) {
    grid.append(el('span', { class: 'muted small' }, 'k/v'), ...Array.from({ length: H }, (_, h) => el('span', { class: 'muted small kv-label' + (h % group === 0 ? ' kv-start' : '') }, h % group === 0 ? `${h / group + 1}` : '')));
  }
  const layers = Array.from({ length: last - first }, (_, k) => first + k);
  const thumbs = data.headThumbnails(layers, n, 32);
  for (let l = first; l < last; l++) {
    grid.append(el('span', { class: 'muted small' }, `layer ${l + 1}`));
    for (let h = 0; h < H; h++) {
      const c = el('canvas', { 'aria-hidden': 'true' });
      if (thumbs && !failed(thumbs)) paintThumbnail(c, thumbs[l - first][h], thumb, thumb, (v) => sequential(v, 1), n);
      const lab = headLabel(l, h);
      const off = isAblated(l, h);
      grid.append(
        el(
          'button',
          {
            type: 'button',
            class: 'thumb' + (l === layer && h === head ? ' selected' : '') + (off ? ' ablated' : '') + (group > 1 && h % group === 0 ? ' kv-start' : ''),
            title: `layer ${l + 1}, head ${h + 1}${lab ? ': ' + lab : ''}${off ? ' (ablated)' : ''}`,
            'aria-label': editing ? `${off ? 'restore' : 'ablate'} layer ${l + 1} head ${h + 1}` : `open layer ${l + 1} head ${h + 1}${lab ? ', ' + lab : ''}`,
            'aria-pressed': editing ? String(off) : null,
            disabled: state.busy,
            onclick: () => (editing ? actions.toggleHead(l, h) : actions.navigate({ stage: 'layer', layer: l, head: h, sub: 'attention' })),
          },
          c,
          lab ? el('span', { class: 'small' }, lab) : null,
          off ? el('span', { class: 'small off' }, 'off') : null,
        ),
      );
    }
  }
  /** @param {number} k */
  const page = (k) => actions.navigate({ stage: 'layer', layer: Math.max(0, Math.min(L - 1, k)), head: state.head, sub: 'attention' });
  const pager =
    L > PAGE
      ? el(
          'div',
          { class: 'row' },
          el('button', { type: 'button', class: 'small-btn', disabled: first === 0, onclick: () => page(first - PAGE) }, first === 0 ? '◂ earlier layers' : `◂ layers ${Math.max(1, first - PAGE + 1)}–${first}`),
          el('span', { class: 'muted small' }, `layers ${first + 1}–${last} of ${L}`),
          el('button', { type: 'button', class: 'small-btn', disabled: last >= L, onclick: () => page(last) }, last >= L ? 'later layers ▸' : `layers ${last + 1}–${Math.min(L, last + PAGE)} ▸`),
        )
      : null;
  const ab = state.ablation;
  const ablation = el(
    'div',
    { class: 'ablation' },
    el('label', { class: 'check' }, el('input', { type: 'checkbox', checked: editing, onchange: (e) => actions.setAblationEditing(e.target.checked) }), ' Ablate heads: clicking a head switches it off or on'),
    el(
      'label',
      {},
      'Replace an ablated head’s output by ',
      el(
        'select',
        { 'aria-label': 'Ablation mode', disabled: state.busy, onchange: (e) => actions.setAblationMode(e.target.value) },
        el('option', { value: 'zero', selected: ab.mode === 'zero' }, 'zeros'),
        el('option', { value: 'mean', selected: ab.mode === 'mean' }, 'its mean over the prompt'),
      ),
    ),
    ab.heads.length ? el('button', { type: 'button', class: 'small-btn', disabled: state.busy, onclick: () => actions.clearAblation() }, `Restore all ${ab.heads.length} ablated`) : null,
    el(
      'p',
      { class: 'muted small' },
      'An ablated head’s output (its slice of the heads’ outputs, before the output projection) is replaced and the model re-runs; “Next token” then shows the distribution before and after. It shows what the model does without the head, not everything the head does.',
    ),
  );
  const census = state.census
    ? el('p', { class: 'muted small', role: 'status', id: 'census-status' }, censusText())
    : state.heads
      ? el('p', { class: 'muted small' }, 'Names from the head census (llm-xray heads): previous-token, induction (on a repeated random sequence), first-token or self, by where each head looks; a head that does induction is named so even if it also rests on the first token.')
      : null;
  return el('div', {}, el('h3', {}, 'All heads'), el('p', { class: 'muted' }, 'Every layer × head for this prompt; click one to open it.'), pager, el('div', { class: 'scroll' }, grid), census, ablation);
}
