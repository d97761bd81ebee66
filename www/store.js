// The page's state. Only the controller (controller.js) changes it; views read it and call
// the controller's actions. `render` redraws everything; `data` (an answer to a view's data
// request arrived) only the stage; `hover` only moves the highlighted token.

export const state = {
  models: [], // entries of www/models/index.json, with `url` resolved
  cached: null, // Hub models in the browser's cache [{repo, files, bytes}] (null: not known yet)
  source: null, // what is loaded: {kind, url | repo, revision, file | files, label}
  hub: 'https://huggingface.co', // the Hugging Face Hub's origin (index.html's meta tag)
  loading: null, // {files: {name: {loaded, total, phase}}} while a model loads
  error: null, // {title, message, hint, retry, back: the source to go back to}
  notice: null, // a line for people (GPU fallback, ablation, …)
  info: null, // {config, storage, parameters, total_parameters, max_tokens, chat}
  memory: null, // wasm memory after loading, bytes
  heads: null, // head census [{layer, head, …, label, score}] (counted from 1)
  census: null, // {done, total} while the worker computes it
  backendChoice: 'auto',
  backend: null, // {choice, kind, name, adapter, why}
  prompt: 'The cat sat on the mat. The cat',
  chat: false, // wrap the prompt as a ChatML user turn
  status: { text: '', warn: false },
  run: null, // the last RunInfo: {tokens, prompt_len, computed, reused, elapsed_ms, backend, notice, ended, ablated}
  runSeq: 0, // counts runs; data fetched for an older run is dropped
  at: 0, // tokens shown (≤ run.tokens.length): the history step on screen
  stage: 'overview', // overview | prompt | tokens | embeddings | layer | logits | next | lens | attribution | neighbours
  layer: 0,
  sub: 'attention', // within a layer: attention | mlp | residual
  head: 0,
  focus: null, // chosen token index, null = last
  hover: null, // hovered token index
  sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 },
  ablation: { heads: [], mode: 'zero', editing: false }, // heads [[layer, head]] counted from 1
  target: null, // token id the lens and attribution follow (null: the model's top token)
  palette: 'classic',
  moreModels: null, // the model panel's "Other models" section open (null: open for Hub and local models)
  compare: { open: false, prompt: 'The doctor said that she', run: null },
  data: new Map(), // tensors and instrument results of the current run, by key
  busy: false, // a generate/backend/ablation request is in flight
  running: false, // a prompt run is in flight
  fetching: 0, // data requests of the current view in flight
  bytesMoved: 0, // bytes of the data answers (tensors, instruments) moved from the worker since the last run
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
    { id: 'overview', label: 'Overview' },
    { id: 'prompt', label: 'Prompt' },
    { id: 'tokens', label: 'Tokens' },
    { id: 'embeddings', label: 'Embeddings' },
  ];
  for (let l = 0; l < n; l++) out.push({ id: 'layer', layer: l, label: `Layer ${l + 1}` });
  out.push(
    { id: 'logits', label: 'Logits' },
    { id: 'next', label: 'Next token' },
    { id: 'lens', label: 'Logit lens', group: 'why' },
    { id: 'attribution', label: 'Attribution', group: 'why' },
    { id: 'neighbours', label: 'Embedding space', group: 'why' },
  );
  return out;
}

/** Index of the current stage in stages(). */
export function stageIndex() {
  const list = stages();
  const i = list.findIndex((s) => s.id === state.stage && (s.id !== 'layer' || s.layer === state.layer));
  return Math.max(0, i);
}

/** The tokens on screen (the first `at` of the context). */
export function visibleTokens() {
  return state.run ? state.run.tokens.slice(0, state.at) : [];
}

/** Whether head `head` of layer `layer` (0-based) is ablated. */
export function isAblated(layer, head) {
  return state.ablation.heads.some(([l, h]) => l === layer + 1 && h === head + 1);
}

/** Whether a token is chosen (by its chip) among those on screen. */
export function focused() {
  return state.focus != null && state.focus < state.at;
}

/** The position the instruments look at: the chosen token, else the last one on screen. */
export function position() {
  return focused() ? state.focus : state.at - 1;
}

/** The text the model receives: the prompt, or it wrapped as a ChatML user turn for a chat
 * model with the chat format on. */
export function modelText() {
  return state.chat && state.info && state.info.chat ? `<|im_start|>user\n${state.prompt}<|im_end|>\n<|im_start|>assistant\n` : state.prompt;
}
