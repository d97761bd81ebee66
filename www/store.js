// The page's state and a tiny event bus. Views read `state` and redraw on 'render';
// 'hover' only moves the highlighted token.

export const state = {
  models: [], // entries of www/models/index.json
  folder: null, // URL of the loaded model folder
  info: null, // {config, parameters, total_parameters}
  heads: null, // heads.json of the model folder, if any
  backend: null, // {choice, kind, name, adapter, why}
  backendChoice: 'auto',
  run: null, // last RunInfo: {tokens, prompt_len, computed, elapsed_ms, backend, notice}
  tensors: null, // {token_embeddings, position_embeddings, residual_norms, attentions[], mlp_activation[]}
  at: 0, // tokens shown (≤ run.tokens.length): the history step on screen
  stage: 0, // index into stages()
  sub: 'attention', // within a layer: attention | mlp | residual
  head: 0,
  focus: null, // chosen token index (MLP top neurons), null = last
  hover: null, // hovered token index
  sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 },
  lastRunMs: null,
  busy: false,
  runsDone: 0, // prompt runs finished (ok or not), for tests and status
};

const listeners = new Map();

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

export function emit(event, arg) {
  for (const fn of listeners.get(event) || []) fn(arg);
}

/** The pipeline's stages in the model's order. */
export function stages() {
  const n = state.info ? state.info.config.n_layer : 0;
  const out = [
    { id: 'prompt', label: 'Prompt' },
    { id: 'tokens', label: 'Tokens' },
    { id: 'embeddings', label: 'Embeddings' },
  ];
  for (let l = 0; l < n; l++) out.push({ id: 'layer', layer: l, label: `Layer ${l + 1}` });
  out.push({ id: 'logits', label: 'Logits' }, { id: 'next', label: 'Next token' });
  return out;
}

/** The tokens on screen (the first `at` of the context). */
export function visibleTokens() {
  return state.run ? state.run.tokens.slice(0, state.at) : [];
}

export function setHover(i) {
  if (state.hover === i) return;
  state.hover = i;
  emit('hover', i);
}
