// @ts-check
// The Model panel: which model (the shipped ones, any Hugging Face repository, or files
// from disk, read in the tab and never uploaded), its hyperparameters, how its weights are
// stored, its learned-parameter counts, the backend (chosen and in use, and why), and what
// the last run cost.
import { el, fmtCount, kindBadge } from '../dom.js';
import { state, sourceUrl } from '../store.js';
import { actions } from '../controller.js';

const mb = (n) => `${(n / 2 ** 20).toFixed(n < 10 * 2 ** 20 ? 1 : 0)} MB`;

function storageLine(storage) {
  const bits = { Q4_0: '4-bit', Q4_1: '4-bit', Q5_0: '5-bit', Q5_1: '5-bit', Q8_0: '8-bit', Q2_K: '2-bit', Q3_K: '3-bit', Q4_K: '4-bit', Q5_K: '5-bit', Q6_K: '6-bit', F16: '16-bit float', BF16: 'bfloat16', F32: '32-bit float' };
  const main = storage.types[0] ? storage.types[0][0] : '?';
  const list = storage.types.map(([t, n]) => `${t} ×${n}`).join(', ');
  return `${bits[main] || main} ${main} (${list}) in ${storage.format}; held in memory as ${storage.held}, ${mb(storage.held_bytes)}`;
}

/** The tab's WebAssembly memory: its high-water mark (it never shrinks), updated after every request. */
export function memoryText() {
  return mb(state.memory);
}

/**
 * Which layers attend within the sliding window and which globally, counted from 1:
 * "local (last 512): 1–5, 7–11, 13–17; global: 6, 12, 18" (as src/config.rs layer_pattern
 * words it); null where every layer is global.
 * @param {import('../protocol.js').Config} c
 */
export function layerPattern(c) {
  if (!c.layer_types || !c.layer_types.includes('sliding')) return null;
  /** @param {string} kind */
  const list = (kind) => {
    /** @type {[number, number][]} */
    const runs = [];
    for (let l = 1; l <= c.n_layer; l++) {
      if ((c.layer_types[l - 1] || 'global') !== kind) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] + 1 === l) last[1] = l;
      else runs.push([l, l]);
    }
    return runs.length ? runs.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ') : 'none';
  };
  return `local (last ${c.sliding_window}): ${list('sliding')}; global: ${list('global')}`;
}

/** What the page has moved from the worker since the last run (updated as data arrives). */
export function bytesMovedText() {
  return `${(state.bytesMoved / 1024).toFixed(1)} KB of data since the last run`;
}

// What is typed into the Hub fields, kept across redraws (the panel is rebuilt on each).
const typed = { repo: '', file: '' };

export function renderModelPanel(root) {
  // The control that had the focus gets it back in the rebuilt panel.
  const focusedId = root.contains(document.activeElement) ? document.activeElement.id : null;
  root.replaceChildren(el('h2', {}, 'Model'));
  renderPanel(root);
  if (focusedId) document.getElementById(focusedId)?.focus();
}

function renderPanel(root) {
  const add = (...xs) => root.append(...xs.filter(Boolean));
  const src = state.source;
  /** @param {import('../store.js').ModelEntry} m */
  const entryOf = (m) => `entry:${state.models.indexOf(m)}`;
  const entry = src && state.models.find((m) => m.url === sourceUrl(src));
  const current = src && (src.kind === 'hub' ? `hub:${src.repo}` : src.kind === 'files' ? 'files' : src.kind === 'trained' ? 'trained' : entry ? entryOf(entry) : 'other');
  const picker = el(
    'select',
    {
      id: 'model-picker',
      'aria-label': 'Checkpoint',
      disabled: !!state.loading,
      onchange: (e) => {
        const m = state.models[Number(e.target.value.slice(6))];
        if (m) actions.loadEntry(m);
      },
    },
    state.models.map((m) => el('option', { value: entryOf(m), selected: current === entryOf(m) }, m.name)),
    src && src.kind === 'hub' ? el('option', { value: current, selected: true }, `Hub: ${src.repo}${src.file ? ` (${src.file})` : ''}`) : null,
    src && src.kind === 'files' ? el('option', { value: 'files', selected: true }, `Local files: ${src.label}`) : null,
    src && src.kind === 'trained' ? el('option', { value: 'trained', selected: true }, src.label || 'trained in this tab') : null,
    current === 'other' ? el('option', { value: 'other', selected: true }, sourceUrl(src)) : null,
  );
  add(el('label', { class: 'control' }, el('span', {}, 'Checkpoint'), picker), entry && entry.description ? el('p', { class: 'muted small' }, entry.description) : null);

  const hubInput = el('input', { type: 'text', id: 'hub-repo', value: typed.repo, placeholder: 'owner/name[@revision]', 'aria-label': 'Hugging Face model', spellcheck: 'false', oninput: (e) => (typed.repo = e.target.value) });
  const fileInput = el('input', { type: 'text', id: 'hub-file', value: typed.file, placeholder: 'file.gguf (optional)', 'aria-label': 'GGUF file in the repository', spellcheck: 'false', oninput: (e) => (typed.file = e.target.value) });
  const loadHub = () => {
    const [repo, revision] = hubInput.value.trim().split('@');
    if (repo) actions.loadModel({ kind: 'hub', repo, revision: revision || 'main', file: fileInput.value.trim() || null, label: repo });
  };
  hubInput.addEventListener('keydown', (e) => e.key === 'Enter' && loadHub());
  const picked = el('input', {
    type: 'file',
    id: 'model-files',
    multiple: true,
    accept: '.gguf,.json,.safetensors',
    class: 'sr-only',
    onchange: (e) => {
      const files = [...e.target.files];
      if (files.length) actions.loadModel({ kind: 'files', files, label: files.map((f) => f.name).join(', ') });
    },
  });
  add(
    el(
      'details',
      { class: 'more-models', open: state.moreModels ?? (src && src.kind !== 'folder' && src.kind !== 'gguf'), ontoggle: (e) => actions.setMoreModels(e.target.open) },
      el('summary', {}, 'Other models: Hugging Face Hub or files'),
      el('p', { class: 'muted small' }, 'Any GPT-2- or Llama-family repository with config.json, model.safetensors and tokenizer.json, or a GGUF file, e.g. HuggingFaceTB/SmolLM2-135M-Instruct, openai-community/gpt2, Qwen/Qwen2.5-0.5B-Instruct. Downloads are cached in the browser.'),
      el('div', { class: 'hub-row' }, hubInput, fileInput, el('button', { type: 'button', onclick: loadHub }, 'Load from the Hub')),
      el('label', { class: 'file-pick', for: 'model-files' }, 'Open model files… (one .gguf, or config.json + model.safetensors + tokenizer.json; or drop them on the page)'),
      picked,
      renderCached(),
    ),
  );

  const choice = el(
    'select',
    { id: 'backend-choice', 'aria-label': 'Backend', disabled: !state.info || state.busy, onchange: (e) => actions.setBackend(e.target.value) },
    [['auto', 'Auto'], ['webgpu', 'WebGPU'], ['cpu', 'CPU']].map(([v, l]) => el('option', { value: v, selected: state.backendChoice === v }, l)),
  );
  root.append(el('h3', {}, 'Backend'), el('label', { class: 'control' }, el('span', {}, 'Run on'), choice));
  const b = state.backend;
  if (b) {
    const a = b.adapter;
    const adapter = a ? `${a.name}${a.backend ? ` (${a.backend})` : ''}${a.is_software ? ', software' : ''}` : null;
    const r = state.run;
    root.append(
      el(
        'dl',
        { class: 'backend', id: 'backend-status' },
        el('dt', {}, 'In use'),
        el('dd', { id: 'backend-kind' }, b.kind === 'gpu' ? 'WebGPU' : 'CPU'),
        adapter ? el('dt', {}, 'Adapter') : null,
        adapter ? el('dd', { id: 'backend-adapter' }, adapter) : null,
        el('dt', {}, 'Why'),
        el('dd', { id: 'backend-why' }, b.why),
        el('dt', {}, 'Last run'),
        el('dd', { id: 'last-run' }, r ? `${r.elapsed_ms.toFixed(1)} ms (${r.computed} token${r.computed === 1 ? '' : 's'} computed${r.reused ? `, ${r.reused} reused` : ''})` : '—'),
        el('dt', {}, 'Moved to the page'),
        el('dd', { id: 'bytes-moved' }, bytesMovedText()),
        state.memory ? el('dt', {}, 'Tab memory (wasm)') : null,
        state.memory ? el('dd', { id: 'wasm-memory' }, memoryText()) : null,
      ),
    );
  }
  if (!state.info) return;
  const c = state.info.config;
  const llama = c.rope_theta != null;
  const pattern = layerPattern(c);
  const gemma = c.model_type === 'gemma3';
  const mlp = c.gated_mlp ? `gated (${c.activation === 'silu' ? 'SwiGLU' : c.activation === 'gelu_new' ? 'GeGLU' : 'gated'}: ${c.activation})` : c.activation;
  const rmsOrLn = c.norm === 'rms_norm' ? 'RMSNorm' : 'LayerNorm';
  const norm = `${rmsOrLn}${c.post_norms ? ' before and after each block (post-norms)' : ''}${c.qk_norm ? '; QK-norm on each query and key head' : ''}`;
  const position = !llama ? 'learned table' : c.rope_local_theta != null ? `RoPE, base θ = ${c.rope_theta} (global layers), ${c.rope_local_theta} (local layers)` : `RoPE, base θ = ${c.rope_theta}`;
  const defaulted = c.defaulted || [];
  add(
    el('h3', {}, 'Hyperparameters ', kindBadge('hyperparameter')),
    el(
      'table',
      { class: 'kv' },
      el(
        'tbody',
        {},
        [
          ['architecture', { gpt2: 'GPT-2', llama: 'Llama', qwen2: 'Qwen2 (Llama + q/k/v biases)', gemma3: 'Gemma 3' }[c.model_type] || c.model_type],
          ['layers', c.n_layer],
          pattern ? ['layer pattern', pattern] : null,
          ['attention heads', c.n_head],
          llama ? ['key/value heads', c.n_kv_head === c.n_head ? c.n_kv_head : `${c.n_kv_head} (each shared by ${c.n_head / c.n_kv_head} query heads)`] : null,
          ['head width', c.head_dim],
          ['width (d_model)', c.n_embd],
          ['MLP width', c.n_inner],
          ['MLP', mlp],
          ['norm', norm],
          ['position', position],
          c.query_pre_attn_scalar != null ? ['attention scale', `q·k / √${c.query_pre_attn_scalar}`] : null,
          c.embedding_scale != null ? ['embedding scale', `× ${c.embedding_scale.toFixed(3)} (√width)`] : null,
          ['context (tokens)', c.n_positions],
          ['vocabulary', c.vocab_size],
        ]
          .filter(Boolean)
          .map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { class: 'num' }, typeof v === 'number' ? fmtCount(v) : v))),
      ),
    ),
    defaulted.length
      ? el(
          'div',
          { id: 'defaulted' },
          el('p', { class: 'muted small' }, 'Not in the file, so taken from the architecture’s defaults (as transformers takes them):'),
          el(
            'ul',
            { class: 'small' },
            defaulted.map((d) => el('li', {}, el('code', {}, d.name), ` = ${d.value}`)),
          ),
        )
      : null,
    gemma
      ? el(
          'p',
          { class: 'small', id: 'model-terms' },
          'Gemma is provided under and subject to the Gemma Terms of Use: ',
          el('a', { href: 'https://ai.google.dev/gemma/terms', target: '_blank', rel: 'noopener' }, 'ai.google.dev/gemma/terms'),
          '.',
        )
      : null,
    el('h3', {}, 'Learned parameters ', kindBadge('parameter')),
    el('p', { class: 'muted small', id: 'storage' }, `Stored as ${storageLine(state.info.storage)}.`),
    el(
      'table',
      { class: 'kv' },
      el(
        'tbody',
        {},
        state.info.parameters.map((p) => el('tr', {}, el('th', {}, p.component), el('td', { class: 'num' }, fmtCount(p.count)))),
        el('tr', { class: 'total' }, el('th', {}, 'total'), el('td', { class: 'num' }, fmtCount(state.info.total_parameters))),
      ),
    ),
  );
}

/** Hub models in the browser's cache, each with a button that deletes it. */
function renderCached() {
  const list = state.cached;
  if (!list || !list.length) return el('p', { class: 'muted small' }, list ? 'No Hub models cached in this browser yet.' : '');
  return el(
    'div',
    { class: 'cached' },
    el('h4', {}, 'Cached in this browser'),
    el(
      'ul',
      {},
      list.map((m) =>
        el(
          'li',
          {},
          el('button', { type: 'button', class: 'link-btn', onclick: () => actions.loadModel({ kind: 'hub', repo: m.repo, revision: 'main', file: m.files.find((f) => /\.gguf$/i.test(f)) || null, label: m.repo }) }, m.repo),
          el('span', { class: 'muted small' }, ` ${mb(m.bytes)} `),
          el('button', { type: 'button', class: 'small-btn', 'aria-label': `Delete ${m.repo} from the cache`, onclick: () => actions.uncache(m.repo) }, 'Delete'),
        ),
      ),
    ),
  );
}
