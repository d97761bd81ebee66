// @ts-check
// The page's state. Only the controller (controller.js) and the data cache (data.js) change
// it; views read it and call the controller's actions. Events: `render` redraws everything;
// `data` (an answer to a view's data request arrived) only the stage; `hover` only moves the
// highlighted token; `status` the prompt's status line and the stage's busy mark; `census`
// the head census's progress line; `progress` the loading bars; `train` the Train stage's
// live pictures (training.js).

/**
 * @typedef {import('./protocol.js').RunInfo} RunInfo
 * @typedef {import('./protocol.js').ModelInfo} ModelInfo
 * @typedef {import('./protocol.js').ModelSource} ModelSource
 * @typedef {import('./protocol.js').HeadEntry} HeadEntry
 * @typedef {import('./protocol.js').BackendInfo} BackendInfo
 * @typedef {import('./protocol.js').BackendChoice} BackendChoice
 * @typedef {import('./protocol.js').CachedModel} CachedModel
 * @typedef {import('./protocol.js').AblationMode} AblationMode
 * @typedef {import('./protocol.js').ErrorKind} ErrorKind
 * @typedef {import('./protocol.js').Request} Request
 * @typedef {import('./protocol.js').Ctx} Ctx
 * @typedef {import('./protocol.js').TokenInfo} TokenInfo
 */

/**
 * An entry of www/models/index.json, with `url` resolved.
 * @typedef {{name: string, folder: string, file?: string, description?: string, fetch?: string, url: string}} ModelEntry
 *
 * What the error panel shows.
 * @typedef {object} PageError
 * @property {string} title
 * @property {string} message
 * @property {ErrorKind} kind
 * @property {string} hint
 * @property {(() => void) | null} retry
 * @property {ModelSource | null} back the model to go back to
 *
 * One answer of the data cache (data.js): the request, the context it was about, and the
 * result, or {error, kind} when it failed.
 * @typedef {{request: Request, ctx: Ctx, value: unknown}} DataEntry
 *
 * @typedef {{temperature: number, topK: number, topP: number, seed: number}} SamplingSettings
 *
 * @typedef {object} TourState the guided tour (views/tour.js, tour-steps.js)
 * @property {boolean} open
 * @property {number} step the step on screen, counted from 1
 * @property {boolean} pendingView the step's view is still to be opened (a link named the
 *   step but no stage; the tour opens it once the model is loaded)
 *
 * @typedef {object} ContrastState "The same word in two sentences" (views/contrast.js)
 * @property {string} a sentence A
 * @property {string} b sentence B
 * @property {string} word the word compared (its last token, at its first occurrence)
 * @property {[number | null, number | null]} positions tokens chosen instead of the word
 * @property {number} depth the depth whose two vectors are drawn (0: the token embedding)
 *
 * @typedef {object} CompareState the compare panel: a second prompt on the same model
 * @property {boolean} open
 * @property {string} prompt
 * @property {RunInfo | null} run
 * @property {number} engineRun the engine's number of `run` (protocol.js RunNumber)
 * @property {string | null} error
 * @property {boolean} pending a change of the second prompt is waiting for its run
 */

/**
 * @typedef {object} State
 * @property {ModelEntry[]} models
 * @property {CachedModel[] | null} cached Hub models in the browser's cache (null: not known yet)
 * @property {ModelSource | null} source what is loaded
 * @property {string} hub the Hugging Face Hub's origin (index.html's meta tag)
 * @property {{files: Record<string, {loaded: number, total: number, phase: string}>, label: string} | null} loading
 * @property {PageError | null} error
 * @property {string | null} notice a line for people (GPU fallback, ablation, …)
 * @property {ModelInfo | null} info
 * @property {number | null} memory the tab's wasm memory (its high-water mark), bytes
 * @property {HeadEntry[] | null} heads head census, counted from 1
 * @property {{done: number, total: number} | null} census while the worker computes it
 * @property {BackendChoice} backendChoice
 * @property {BackendInfo | null} backend
 * @property {string} prompt
 * @property {boolean} chat wrap the prompt as a user turn in the model's chat format
 * @property {{text: string, warn: boolean}} status
 * @property {RunInfo | null} run the run on screen
 * @property {number} runSeq counts the runs the page has shown; the stage's data-run
 * @property {number} engineRun the engine's number of `run` (protocol.js RunNumber)
 * @property {number} at tokens shown (≤ run.tokens.length): the history step on screen
 * @property {string} stage a stage id of stages.js
 * @property {number} layer 0-based
 * @property {string} sub the part of a layer: a `parts` id of stages.js
 * @property {number} head 0-based
 * @property {number | null} focus chosen token index, null = last
 * @property {number | null} hover hovered token index
 * @property {SamplingSettings} sampling
 * @property {{heads: [number, number][], mode: AblationMode, editing: boolean}} ablation heads counted from 1
 * @property {number | null} target token id the lens and attribution follow (null: the model's top token)
 * @property {string} palette
 * @property {boolean | null} moreModels the model panel's "Other models" open (null: open for Hub and local models)
 * @property {CompareState} compare
 * @property {TourState} tour
 * @property {ContrastState} contrast
 * @property {Map<string, DataEntry>} data answers for the run on screen (data.js)
 * @property {boolean} busy a generate/backend/ablation/compare request is in flight
 * @property {boolean} running a prompt run is in flight
 * @property {number} fetching data requests in flight
 * @property {number} bytesMoved bytes of data answers moved from the worker since the last run
 */

/** The pair "The same word in two sentences" starts with: one word, two meanings. */
export const CONTRAST_DEFAULT = Object.freeze({ a: 'the dog barked at the mailman', b: 'they dog his every step', word: 'dog' });

/** @type {State} */
export const state = {
  models: [],
  cached: null,
  source: null,
  hub: 'https://huggingface.co',
  loading: null,
  error: null,
  notice: null,
  info: null,
  memory: null,
  heads: null,
  census: null,
  backendChoice: 'auto',
  backend: null,
  prompt: 'The cat sat on the mat. The cat',
  chat: false,
  status: { text: '', warn: false },
  run: null,
  runSeq: 0,
  engineRun: 0,
  at: 0,
  stage: 'overview',
  layer: 0,
  sub: 'attention',
  head: 0,
  focus: null,
  hover: null,
  sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 },
  ablation: { heads: [], mode: 'zero', editing: false },
  target: null,
  palette: 'classic',
  moreModels: null,
  compare: { open: false, prompt: 'The doctor said that she', run: null, engineRun: 0, error: null, pending: false },
  tour: { open: false, step: 1, pendingView: false },
  contrast: { ...CONTRAST_DEFAULT, positions: [null, null], depth: 1 },
  data: new Map(),
  busy: false,
  running: false,
  fetching: 0,
  bytesMoved: 0,
};

/** @typedef {'render' | 'data' | 'hover' | 'status' | 'census' | 'progress' | 'train' | 'memory'} StoreEvent */

/** @type {Map<StoreEvent, ((arg?: any) => void)[]>} */
const listeners = new Map();

/**
 * @param {StoreEvent} event
 * @param {(arg?: any) => void} fn
 */
export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

/**
 * @param {StoreEvent} event
 * @param {unknown} [arg]
 */
export function emit(event, arg) {
  for (const fn of listeners.get(event) || []) fn(arg);
}

/**
 * The URL of a model beside the page (a folder or a GGUF file), else null.
 * @param {ModelSource | null} src
 */
export function sourceUrl(src) {
  return src && (src.kind === 'folder' || src.kind === 'gguf') ? src.url : null;
}

/** The tokens on screen (the first `at` of the context). */
export function visibleTokens() {
  return state.run ? state.run.tokens.slice(0, state.at) : [];
}

/**
 * Whether head `head` of layer `layer` (0-based) is ablated.
 * @param {number} layer
 * @param {number} head
 */
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

/** The text the model receives: the prompt, or it wrapped as a user turn in the model's chat
 * format (src/chat.rs) when the model has one and the switch is on. */
export function modelText() {
  const f = state.info && state.info.chat;
  return state.chat && f ? f.before + state.prompt + f.after : state.prompt;
}

/** Whether the stage on screen may still change without anyone acting: a run, a request or
 * a data answer in flight, the head census under way, or a second prompt waiting for its
 * run. The stage is marked aria-busy then (main.js), and tests wait until it is not. */
export function stageBusy() {
  return state.running || state.busy || state.fetching > 0 || state.census != null || state.compare.pending;
}
