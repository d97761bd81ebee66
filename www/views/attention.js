// Attention of one layer: the chosen head as a large T×T map (rows: the token that looks,
// columns: the token it looks at), and every layer × head as a clickable thumbnail.
import { el, viewHeader, fmt } from '../dom.js';
import { Heatmap } from '../heatmap.js';
import { sequential, css } from '../colors.js';
import { shortLabel } from '../tokens.js';
import { state, visibleTokens, setHover, emit, stages } from '../store.js';

/** The census label of a head from heads.json, if the model folder has one. */
export function headLabel(layer, head) {
  const h = state.heads;
  if (!h) return null;
  const list = Array.isArray(h) ? h : Array.isArray(h.heads) ? h.heads : null;
  if (list) {
    const e = list.find((x) => x.layer === layer && x.head === head);
    if (!e) return null;
    if (typeof e.previous_token === 'number') return censusLabel(e);
    const name = e.label || e.name || e.kind;
    return name ? (typeof e.score === 'number' ? `${name} ${e.score.toFixed(2)}` : name) : null;
  }
  const e = h[`${layer}.${head}`];
  return typeof e === 'string' ? e : e && (e.label || e.name) ? `${e.label || e.name}${typeof e.score === 'number' ? ' ' + e.score.toFixed(2) : ''}` : null;
}

/** `llm-xray heads --json` entry → its strongest named behaviour and score. */
function censusLabel(e) {
  const scores = [
    ['previous-token', e.previous_token],
    ['induction', e.induction_text ?? e.induction_random],
    ['first-token', e.first_token],
    ['self', e.self_attention],
  ].filter(([, v]) => typeof v === 'number');
  const [name, v] = scores.reduce((a, b) => (b[1] > a[1] ? b : a));
  return `${name} ${v.toFixed(2)}`;
}

function drawThumb(canvas, data, h, T, n, size) {
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = canvas.style.height = size + 'px';
  canvas.width = canvas.height = Math.round(size * dpr);
  const ctx = canvas.getContext('2d');
  const c = (canvas.width / n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      ctx.fillStyle = j > i ? '#e4e4e7' : css(sequential(data[(h * T + i) * T + j], 1));
      ctx.fillRect(Math.round(j * c), Math.round(i * c), Math.round((j + 1) * c) - Math.round(j * c), Math.round((i + 1) * c) - Math.round(i * c));
    }
}

export function selectLayerHead(layer, head) {
  state.head = head;
  state.sub = 'attention';
  state.stage = stages().findIndex((s) => s.id === 'layer' && s.layer === layer);
  emit('render');
}

export function render(root, layer) {
  const toks = visibleTokens();
  const n = toks.length;
  const cfg = state.info.config;
  const H = cfg.n_head;
  const head = Math.min(state.head, H - 1);
  const att = state.tensors.attentions[layer];
  const T = att.shape[1];
  const labels = toks.map((t, i) => `${i}:${shortLabel(t.bytes, 10)}`);
  const plain = toks.map((t) => shortLabel(t.bytes, 16));
  root.append(
    viewHeader(
      `Attention · layer ${layer + 1}, head ${head + 1}`,
      'activation',
      'How much each token (row) takes from each earlier token (column) in this head: softmax(q·k/√d) for this prompt. Rows sum to 1; a token cannot look ahead (hatched).',
    ),
  );
  const picker = el(
    'div',
    { class: 'controls' },
    el('label', {}, 'Layer ', el('select', { 'aria-label': 'Layer', onchange: (e) => selectLayerHead(Number(e.target.value), head) },
      Array.from({ length: cfg.n_layer }, (_, l) => el('option', { value: l, selected: l === layer }, `${l + 1}`)))),
    el('label', {}, 'Head ', el('select', { 'aria-label': 'Head', onchange: (e) => selectLayerHead(layer, Number(e.target.value)) },
      Array.from({ length: H }, (_, h) => el('option', { value: h, selected: h === head }, `${h + 1}${headLabel(layer, h) ? ' · ' + headLabel(layer, h) : ''}`)))),
    el('span', { class: 'muted' }, '↑/↓ switch head'),
  );
  const big = el('section', { class: 'subview attention-big' });
  const side = el('section', { class: 'subview attention-side' });
  root.append(picker, el('div', { class: 'attention-layout' }, big, side));
  const hm = new Heatmap(big, {
    scale: 'sequential',
    square: true,
    maxHeight: 420,
    rowTitle: 'query token (the one looking)',
    colTitle: 'key token (looked at)',
    valueName: 'attention weight',
    tooltip: (i, j, v) => (v == null ? `${plain[i]} → ${plain[j]}: masked (a token cannot attend to later tokens)` : `${plain[i]} → ${plain[j]}: ${fmt(v)}`),
    onHoverRow: setHover,
  });
  hm.set({
    rows: n,
    cols: n,
    get: (i, j) => att.data[(head * T + i) * T + j],
    max: 1,
    masked: (i, j) => j > i,
    rowLabels: labels,
    colLabels: labels,
    label: `attention of layer ${layer + 1} head ${head + 1}, ${n} × ${n}`,
  });
  hm.canvas.id = 'attention-heatmap';

  // Overview: every layer × head.
  const thumb = Math.max(22, Math.min(56, Math.floor(300 / H) - 6));
  const grid = el('div', { class: 'head-grid', style: { gridTemplateColumns: `auto repeat(${H}, ${thumb + 8}px)` } });
  grid.append(el('span', {}), ...Array.from({ length: H }, (_, h) => el('span', { class: 'muted small' }, H > 6 ? `${h + 1}` : `head ${h + 1}`)));
  for (let l = 0; l < cfg.n_layer; l++) {
    grid.append(el('span', { class: 'muted small' }, `layer ${l + 1}`));
    const a = state.tensors.attentions[l];
    for (let h = 0; h < H; h++) {
      const c = el('canvas', { 'aria-hidden': 'true' });
      drawThumb(c, a.data, h, a.shape[1], n, thumb);
      const lab = headLabel(l, h);
      grid.append(
        el(
          'button',
          {
            type: 'button',
            class: 'thumb' + (l === layer && h === head ? ' selected' : ''),
            title: `layer ${l + 1}, head ${h + 1}${lab ? ': ' + lab : ''}`,
            'aria-label': `open layer ${l + 1} head ${h + 1}`,
            onclick: () => selectLayerHead(l, h),
          },
          c,
          lab ? el('span', { class: 'small' }, lab) : null,
        ),
      );
    }
  }
  side.append(el('h3', {}, 'All heads'), el('p', { class: 'muted' }, 'Every layer × head for this prompt; click one to open it.'), el('div', { class: 'scroll' }, grid));
  return {
    highlight: (i) => hm.highlight(i, i),
    destroy: () => hm.destroy(),
    key(e) {
      if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return false;
      let idx = layer * H + head + (e.key === 'ArrowDown' ? 1 : -1);
      idx = (idx + cfg.n_layer * H) % (cfg.n_layer * H);
      selectLayerHead(Math.floor(idx / H), idx % H);
      return true;
    },
  };
}
