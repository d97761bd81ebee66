// @ts-check
// The one module that changes the page's state (with data.js, which caches what views
// fetch): every action a view or a key can take is here, and each ends by asking for a
// redraw. It talks to the worker (client.js) and keeps the URL in step (url.js).

import { EngineClient } from './client.js';
import { state, emit, modelText } from './store.js';
import { stageDef, stageList, stageIndex, layerParts } from './stages.js';
import { connect } from './data.js';
import { readUrl, writeUrl } from './url.js';
import { setPalette } from './colors.js';

/**
 * @typedef {import('./protocol.js').RunInfo} RunInfo
 * @typedef {import('./protocol.js').ModelSource} ModelSource
 * @typedef {import('./protocol.js').BackendChoice} BackendChoice
 * @typedef {import('./protocol.js').AblationMode} AblationMode
 * @typedef {import('./protocol.js').TokenInfo} TokenInfo
 * @typedef {import('./protocol.js').Probabilities} Probabilities
 * @typedef {import('./store.js').ModelEntry} ModelEntry
 * @typedef {import('./store.js').SamplingSettings} SamplingSettings
 * @typedef {{stage?: string, layer?: number, sub?: string, head?: number}} ViewPatch
 */

const pageHasWebGPU = 'gpu' in navigator;
/** @type {EngineClient} */
let client = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let debounce;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let compareDebounce;
// The compare panel's second prompt: typed and waiting for its pause, runs in flight.
let compareTyped = false;
let compareRuns = 0;
let inFlight = false;
let again = false;
/** @type {((e: import('./protocol.js').TrainEvent) => void)[]} the Train stage's listeners (training.js) */
const trainListeners = [];

/** The worker's client, for the Train stage's requests (training.js). */
export const engine = () => client;

/**
 * Calls `fn` with each training event the worker posts.
 * @param {(e: import('./protocol.js').TrainEvent) => void} fn
 */
export function onTrainEvent(fn) {
  trainListeners.push(fn);
}

const render = () => emit('render');

/** Writes the state into the URL; `push` makes a new history entry (a stage change). */
function syncUrl(push = false) {
  const href = writeUrl(location.href, state);
  if (href === location.href) return;
  if (push) history.pushState({ view: true }, '', href);
  else history.replaceState(history.state, '', href);
}

/**
 * Shows the error panel.
 * @param {string} title
 * @param {{message: string, kind?: import('./protocol.js').ErrorKind}} err
 * @param {string} hint
 * @param {(() => void) | null} retry
 * @param {ModelSource | null} [back]
 */
function fail(title, err, hint, retry, back = null) {
  state.loading = null;
  state.error = { title, message: err.message || String(err), kind: err.kind || 'internal', hint: hint || '', retry, back };
  render();
}

/**
 * Takes a finished run, the engine's run number `run`: new tokens, and the data cache of
 * the old run dropped.
 * @param {RunInfo | null} r
 * @param {number | null} run
 */
function applyRun(r, run) {
  if (!r) return;
  state.run = r;
  state.runSeq++;
  state.engineRun = run ?? 0;
  state.data = new Map();
  state.bytesMoved = 0;
  state.at = r.tokens.length;
  state.backend = r.backend;
  if (state.focus != null && state.focus >= r.tokens.length) state.focus = null;
  state.notice = r.notice || null;
  const n = r.tokens.length;
  const what = r.computed === 0 ? 'nothing changed' : r.reused > 0 ? `${r.computed} new token${r.computed === 1 ? '' : 's'} (${r.reused} reused from the cache)` : `${r.computed} token${r.computed === 1 ? '' : 's'}`;
  const where = r.backend.kind === 'gpu' ? 'WebGPU' : 'the CPU';
  state.status = { text: `${n} token${n === 1 ? '' : 's'} of at most ${state.info.max_tokens} · last run: ${what} in ${r.elapsed_ms.toFixed(1)} ms on ${where}`, warn: false };
}

export const actions = {
  /** Starts the page: the model list, then the model and view the URL names. */
  async init() {
    client = new EngineClient({
      onEvent: (m) => {
        if (m.type === 'progress' && state.loading) {
          state.loading.files[m.file] = { loaded: m.loaded, total: m.total, phase: m.phase };
          emit('progress');
        } else if (m.type === 'train') {
          for (const fn of trainListeners) fn(m);
        } else if (m.type === 'census') {
          if (m.heads || m.error) {
            if (m.heads) state.heads = m.heads;
            if (m.error) state.notice = `The head census failed: ${m.error}`;
            state.census = null;
            return render();
          }
          // Progress only changes its line: a redraw would take the reader's place in the view.
          state.census = { done: m.done, total: m.total };
          emit('census');
        } else if (m.type === 'memory') {
          state.memory = m.bytes;
          emit('memory');
        }
      },
      onCrash: (msg) =>
        fail('The engine stopped', { message: msg, kind: 'internal' }, 'The model runs in a Web Worker, which stopped. “Reload the model” starts it again.', () => {
          client.restart();
          actions.loadModel(state.source);
        }),
    });
    connect(client);
    /** @type {HTMLMetaElement} */
    const hubMeta = document.querySelector('meta[name="llm-xray-hub"]');
    if (hubMeta) state.hub = hubMeta.content;
    state.palette = setPalette(localStorage.getItem('llm-xray-palette') || 'classic');
    try {
      const r = await fetch(new URL('models/index.json', import.meta.url));
      const base = new URL('models/', import.meta.url);
      if (r.ok) state.models = ((await r.json()).models || []).map((m) => ({ ...m, url: new URL(m.file ? m.folder + m.file : m.folder, base).href }));
    } catch {
      state.models = [];
    }
    const u = readUrl(location.href);
    if (u.prompt != null) state.prompt = u.prompt;
    if (u.view) Object.assign(state, u.view);
    if (u.ablation) state.ablation = { ...state.ablation, ...u.ablation };
    state.sampling = u.sampling;
    state.chat = u.chat;
    if (u.contrast) Object.assign(state.contrast, u.contrast);
    // A link to a tour step with no stage opens the step's view once the model is loaded.
    if (u.tour) state.tour = { open: true, step: u.tour, pendingView: !u.view };
    addEventListener('popstate', () => {
      const back = readUrl(location.href);
      state.tour = back.tour ? { open: true, step: back.tour, pendingView: false } : { ...state.tour, open: false };
      if (back.view) actions.navigate(back.view, { fromHistory: true });
      else render();
    });
    /** @type {ModelSource | null} */
    let source = null;
    if (u.model && u.model.kind === 'hub') source = { ...u.model, label: u.model.repo };
    else if (u.model && (u.model.kind === 'folder' || u.model.kind === 'gguf')) {
      const url = new URL(u.model.url, location.href).href;
      source = { kind: u.model.kind, url, label: state.models.find((m) => m.url === url)?.name || u.model.url };
    } else if (u.model && u.model.kind === 'local') {
      state.notice = 'This link was made with a model loaded from local files, which a link cannot carry: the default model is shown. Pick the files again to see them.';
    }
    actions.refreshCached();
    if (!source && state.models[0]) source = entrySource(state.models[0], true);
    if (!source) return fail('No model', { message: 'www/models/index.json lists no model and the URL names none.' }, 'Add a model folder to www/models/ and list it in index.json.', () => location.reload());
    await actions.loadModel(source);
  },

  /**
   * Loads a model.
   * @param {ModelSource} source
   */
  async loadModel(source) {
    // The worker frees the old model first (a tab cannot hold two big ones), so a failed
    // load offers the way back to the model that was working, with the prompt kept.
    const previous = state.info && state.source !== source ? state.source : state.error?.back || null;
    state.source = source;
    state.info = null;
    state.run = null;
    state.heads = null;
    state.census = null;
    state.error = null;
    state.data = new Map();
    state.compare.run = null;
    state.loading = { files: {}, label: source.label || ('repo' in source && source.repo) || 'model' };
    render();
    try {
      const out = await client.request({ type: 'load', source, backend: state.backendChoice, pageHasWebGPU, hub: state.hub });
      state.info = out.info;
      state.memory = out.memory;
      state.heads = out.heads;
      state.backend = out.backend;
      state.loading = null;
      state.layer = Math.min(state.layer, out.info.config.n_layer - 1);
      state.head = Math.min(state.head, out.info.config.n_head - 1);
      state.ablation.heads = state.ablation.heads.filter(([l, h]) => l <= out.info.config.n_layer && h <= out.info.config.n_head);
      syncUrl();
      render();
      // A Hub model's files are in the browser's cache now.
      if (source.kind === 'hub') actions.refreshCached();
      if (state.ablation.heads.length) await client.request({ type: 'ablate', heads: state.ablation.heads, mode: state.ablation.mode });
      await actions.runPrompt();
    } catch (e) {
      if (e.fatal) return;
      const hint =
        source.kind === 'hub'
          ? `From the Hugging Face Hub (${state.hub}/${source.repo}). A repository holds config.json, model.safetensors and tokenizer.json of a GPT-2- or Llama-family model, or a GGUF file (add &file=NAME.gguf).`
          : source.kind === 'files'
            ? 'Pick one .gguf file, or the three files of a Hugging Face folder.'
            : source.kind === 'trained'
              ? 'The model trained in the Train stage: train it again there, or load another model.'
              : source.fetch
              ? `This model is fetched by a command: run \`${source.fetch}\` in the repository, then reload the page.`
              : `From ${source.url}. A model folder holds config.json, model.safetensors and tokenizer.json of a GPT-2- or Llama-family checkpoint.`;
      fail('The model could not be loaded', e, hint, () => actions.loadModel(source), previous);
    }
  },

  /**
   * Loads an entry of www/models/index.json.
   * @param {ModelEntry} entry
   */
  loadEntry(entry) {
    syncUrl();
    return actions.loadModel(entrySource(entry, entry === state.models[0]));
  },

  /**
   * The prompt as typed: it runs after a pause in typing, or at once with `now` (Enter).
   * @param {string} text
   */
  setPrompt(text, { now = false } = {}) {
    state.prompt = text;
    clearTimeout(debounce);
    if (now) return actions.runPrompt();
    debounce = setTimeout(() => actions.runPrompt(), 250);
  },

  /** Runs the prompt. While a run is in flight, further calls coalesce into one more run
   * of the latest text, so fast typing never queues a backlog of stale runs. */
  async runPrompt() {
    clearTimeout(debounce);
    if (!state.info) return;
    if (inFlight) {
      again = true;
      return;
    }
    if (!state.prompt) {
      state.status = { text: 'Type at least one character.', warn: true };
      return render();
    }
    inFlight = true;
    state.running = true;
    state.status = { text: 'running…', warn: false };
    emit('status');
    try {
      // A run answered while a newer text waits is not shown: the worker's context moves on
      // to that text at once, and data.js drops any answer computed from this run.
      const r = await client.send({ type: 'run', text: modelText() });
      if (!again) {
        applyRun(r.result, r.run);
        syncUrl();
        render();
      }
    } catch (e) {
      if (!e.fatal && !again) {
        const tooLong = /do not fit/.test(e.message);
        state.status = { text: tooLong ? `Too long: ${e.message}. Shorten the prompt; the views show the last prompt that fit.` : e.message, warn: true };
        render();
      }
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        actions.runPrompt();
      } else {
        state.running = false;
        emit('status');
      }
    }
  },

  /**
   * Runs a prompt given as token ids (the induction demo), shown as `label`.
   * @param {number[]} ids
   * @param {string} label
   */
  async runIds(ids, label) {
    state.prompt = label;
    const r = await client.send({ type: 'runIds', ids });
    applyRun(r.result, r.run);
    syncUrl();
    render();
  },

  async generate() {
    if (state.busy || inFlight || !state.run) return;
    const s = state.sampling;
    state.busy = true;
    render();
    try {
      const r = await client.send({ type: 'generate', at: state.at, temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed });
      applyRun(r.result, r.run);
    } catch (e) {
      if (!e.fatal) state.notice = e.message;
    } finally {
      state.busy = false;
      render();
    }
  },

  /**
   * Shows the history step of `n` tokens.
   * @param {number} n
   */
  setAt(n) {
    state.at = n;
    render();
  },

  /** @param {BackendChoice} choice */
  async setBackend(choice) {
    state.backendChoice = choice;
    state.busy = true;
    render();
    try {
      const { run, result: out } = await client.send({ type: 'setBackend', backend: choice, pageHasWebGPU });
      state.backend = out.backend;
      if (out.run) applyRun(out.run, run);
      // Asked for WebGPU but got the CPU: say so where it is seen, not only in the panel.
      if (choice === 'webgpu' && out.backend.kind !== 'gpu') state.notice = `WebGPU is not available, so the CPU runs the model: ${out.backend.why}`;
    } catch (e) {
      if (!e.fatal) state.notice = e.message;
    } finally {
      state.busy = false;
      render();
    }
  },

  /**
   * Opens a stage (and layer, part, head). Stage changes enter the browser history, so
   * Back and Forward walk the stages; `push` says whether this change does, whatever it is.
   * @param {ViewPatch} patch
   * @param {{fromHistory?: boolean, push?: boolean | null}} [opts]
   */
  navigate(patch, { fromHistory = false, push = null } = {}) {
    const before = `${state.stage}/${state.layer}/${state.sub}`;
    Object.assign(state, patch);
    if (!stageDef(state.stage)) state.stage = 'overview';
    if (!layerParts().some((p) => p.id === state.sub)) state.sub = layerParts()[0].id;
    if (state.info) {
      state.layer = Math.max(0, Math.min(state.info.config.n_layer - 1, state.layer));
      state.head = Math.max(0, Math.min(state.info.config.n_head - 1, state.head));
    }
    if (!fromHistory) syncUrl(push ?? before !== `${state.stage}/${state.layer}/${state.sub}`);
    render();
  },

  /**
   * Opens the tour at `step` (counted from 1), or moves it there, with the step's `view`
   * (null: the view stays). A new step is a new history entry, so the browser's Back walks
   * the steps; `replace` rewrites the current one instead (a link opening its step).
   * @param {number} step
   * @param {ViewPatch | null} view
   * @param {{replace?: boolean}} [opts]
   */
  tourGo(step, view, { replace = false } = {}) {
    const moved = !state.tour.open || state.tour.step !== step;
    state.tour = { open: true, step, pendingView: false };
    actions.navigate(view || {}, { push: moved && !replace });
  },

  /** Closes the tour; the view it showed stays. A finished tour starts again from its first
   * step when it is opened again; one closed midway resumes where it was. */
  closeTour({ finished = false } = {}) {
    state.tour = { open: false, step: finished ? 1 : state.tour.step, pendingView: false };
    syncUrl();
    render();
  },

  /**
   * Changes "The same word in two sentences": its sentences, word, chosen tokens or depth.
   * New sentences or a new word drop the chosen tokens.
   * @param {Partial<import('./store.js').ContrastState>} patch
   */
  setContrast(patch) {
    const c = state.contrast;
    if (('a' in patch && patch.a !== c.a) || ('b' in patch && patch.b !== c.b) || ('word' in patch && patch.word !== c.word)) c.positions = [null, null];
    Object.assign(c, patch);
    syncUrl();
    render();
  },

  /**
   * Opens place `k` of the strip (stages.js stageList).
   * @param {number} k
   */
  go(k) {
    const list = strip();
    const s = list[Math.max(0, Math.min(list.length - 1, k))];
    actions.navigate(s.layer != null ? { stage: s.id, layer: s.layer } : { stage: s.id });
  },

  /** Next stage, or the next part of the current layer. */
  step() {
    const parts = layerParts().map((p) => p.id);
    const here = stageDef(state.stage);
    if (here && here.perLayer && parts.indexOf(state.sub) < parts.length - 1) return actions.navigate({ sub: parts[parts.indexOf(state.sub) + 1] });
    const list = strip();
    const next = list[(stageIndex(list, state.stage, state.layer) + 1) % list.length];
    actions.navigate(next.layer != null ? { stage: next.id, layer: next.layer, sub: parts[0] } : { stage: next.id });
  },

  /** The previous stage, or the previous part of the current layer. */
  stepBack() {
    const parts = layerParts().map((p) => p.id);
    const here = stageDef(state.stage);
    if (here && here.perLayer && parts.indexOf(state.sub) > 0) return actions.navigate({ sub: parts[parts.indexOf(state.sub) - 1] });
    const list = strip();
    const prev = list[Math.max(0, stageIndex(list, state.stage, state.layer) - 1)];
    actions.navigate(prev.layer != null ? { stage: prev.id, layer: prev.layer, sub: parts[parts.length - 1] } : { stage: prev.id });
  },

  /** @param {number | null} i */
  setHover(i) {
    if (state.hover === i) return;
    state.hover = i;
    emit('hover', i);
  },

  /** @param {number | null} i */
  setFocus(i) {
    state.focus = i;
    render();
  },

  /**
   * Changes the sampling settings; `url: false` leaves the URL for a later call (a slider
   * being dragged writes it when let go).
   * @param {Partial<SamplingSettings>} patch
   */
  setSampling(patch, { redraw = false, url = true } = {}) {
    Object.assign(state.sampling, patch);
    if (url) syncUrl();
    if (redraw) render();
  },

  /** @param {boolean} on */
  setChat(on) {
    state.chat = on;
    syncUrl();
    actions.runPrompt();
  },

  /** @param {number | null} id */
  setTarget(id) {
    state.target = id;
    render();
  },

  /**
   * Opens or closes the model panel's "Other models" section.
   * @param {boolean} open
   */
  setMoreModels(open) {
    state.moreModels = open;
  },

  /** @param {string} name */
  setPalette(name) {
    state.palette = setPalette(name);
    localStorage.setItem('llm-xray-palette', state.palette);
    render();
  },

  /**
   * Ablation editing: clicking heads in the grid switches them off and on.
   * @param {boolean} on
   */
  setAblationEditing(on) {
    state.ablation.editing = on;
    render();
  },

  /**
   * Ablates head `head` of layer `layer` (0-based), or restores it.
   * @param {number} layer
   * @param {number} head
   */
  toggleHead(layer, head) {
    const hs = state.ablation.heads;
    const i = hs.findIndex(([l, h]) => l === layer + 1 && h === head + 1);
    if (i >= 0) hs.splice(i, 1);
    else hs.push([layer + 1, head + 1]);
    return applyAblation();
  },

  /** @param {AblationMode} mode */
  setAblationMode(mode) {
    state.ablation.mode = mode;
    return applyAblation();
  },

  clearAblation() {
    state.ablation.heads = [];
    return applyAblation();
  },

  /** Computes the head census in the worker (for a model without heads.json), once, when
   * a view first needs head names: it takes a few runs of the model, which would otherwise
   * hold up the first screen. Called while that view is drawn, so it does not redraw: the
   * view shows its progress line from state.census. */
  startCensus() {
    if (state.heads || state.census || !state.info) return;
    state.census = { done: 0, total: 1 };
    client.request({ type: 'census' }).catch((e) => {
      state.census = null;
      if (!e.fatal) state.notice = `The head census failed: ${e.message}`;
      render();
    });
  },

  /** Redraws the current view (after a view-local choice that changes no shared state). */
  redraw() {
    render();
  },

  /**
   * The census's repeated random sequence as the prompt, with head `head` of layer `layer`
   * (0-based) open.
   * @param {number} layer
   * @param {number} head
   */
  async inductionDemo(layer, head) {
    const half = Math.min(32, Math.floor(state.info.max_tokens / 2));
    const ids = await client.request({ type: 'inductionDemo', half });
    state.stage = 'layer';
    state.layer = layer;
    state.head = head;
    state.sub = 'attention';
    await actions.runIds(ids, '(a random token sequence, repeated)');
  },

  /**
   * A token written as text (␣ etc. already replaced), looked up in the vocabulary: its id
   * and bytes, or null when it is not one token.
   * @param {string} text
   * @returns {Promise<TokenInfo | null>}
   */
  async lookUpToken(text) {
    const id = await client.request({ type: 'tokenId', text });
    if (id == null) return null;
    const [info] = await client.request({ type: 'tokenInfos', ids: [id] });
    return info;
  },

  /**
   * The probabilities of tokens `ids` after the tokens on screen under the sampling
   * settings (for the sliders, which ask again as they move).
   * @param {number[]} ids
   * @returns {Promise<Probabilities>}
   */
  probabilities(ids) {
    const s = state.sampling;
    return client.request({ type: 'probabilities', at: state.at, temperature: s.temperature, topK: s.topK, topP: s.topP, ids });
  },

  /**
   * Opens or closes the compare panel (a second prompt on the same model, in its own
   * context), or changes its prompt, and runs it.
   * @param {{open?: boolean, prompt?: string}} patch
   */
  async setCompare(patch) {
    Object.assign(state.compare, patch);
    const c = state.compare;
    if (!c.open || !c.prompt || !state.info) {
      c.run = null;
      c.pending = compareTyped || compareRuns > 0;
      return render();
    }
    compareRuns++;
    c.pending = true;
    emit('status');
    try {
      const r = await client.send({ type: 'run', text: c.prompt }, 'compare');
      c.run = r.result;
      c.engineRun = r.run ?? 0;
      c.error = null;
    } catch (e) {
      c.run = null;
      c.error = e.message;
    }
    compareRuns--;
    c.pending = compareTyped || compareRuns > 0;
    render();
  },

  /**
   * The second prompt as typed: it runs after a pause in typing.
   * @param {string} text
   */
  typeComparePrompt(text) {
    clearTimeout(compareDebounce);
    compareTyped = true;
    state.compare.pending = true;
    emit('status');
    compareDebounce = setTimeout(() => {
      compareTyped = false;
      actions.setCompare({ prompt: text });
    }, 300);
  },

  /** The whole run as JSON in the CLI's trace format, downloaded. */
  async exportRun() {
    const text = await client.request({ type: 'exportRun' });
    return new Blob([text], { type: 'application/json' });
  },

  link() {
    return writeUrl(location.href, state);
  },

  /** Reads which Hub models the browser's cache holds (at start, after a Hub model loads
   * and after a delete): not after every run, so the model panel does not ask each time. */
  async refreshCached() {
    try {
      state.cached = await client.request({ type: 'cached' });
    } catch {
      state.cached = [];
    }
    render();
  },

  /** @param {string} repo */
  async uncache(repo) {
    try {
      await client.request({ type: 'uncache', repo });
    } catch (e) {
      if (!e.fatal) state.notice = `Could not delete ${repo} from the cache: ${e.message}`;
    }
    await actions.refreshCached();
  },
};

/** The places of the strip for the model loaded. */
function strip() {
  return stageList(state.info ? state.info.config.n_layer : 0);
}

/**
 * @param {ModelEntry} entry
 * @param {boolean} isDefault
 * @returns {ModelSource}
 */
function entrySource(entry, isDefault) {
  return { kind: entry.file ? 'gguf' : 'folder', url: entry.url, label: entry.name, fetch: entry.fetch, isDefault };
}

async function applyAblation() {
  state.busy = true;
  syncUrl();
  render();
  try {
    const r = await client.send({ type: 'ablate', heads: state.ablation.heads, mode: state.ablation.mode });
    if (r.result) applyRun(r.result, r.run);
    const n = state.ablation.heads.length;
    state.notice = n ? `${n} head${n === 1 ? '' : 's'} ablated (${state.ablation.mode === 'mean' ? 'replaced by their mean over the prompt' : 'set to zero'}): ${state.ablation.heads.map(([l, h]) => `layer ${l} head ${h}`).join(', ')}` : null;
  } catch (e) {
    if (!e.fatal) state.notice = e.message;
  } finally {
    state.busy = false;
    render();
  }
}
