// The one module that changes the page's state: every action a view or a key can take is
// here, and each ends by asking for a redraw. It talks to the worker (client.js), keeps the
// URL in step (url.js), and fetches only the data the current view asks for.

import { EngineClient } from './client.js';
import { state, emit, stages, stageIndex, modelText } from './store.js';
import { readUrl, writeUrl } from './url.js';
import { setPalette } from './colors.js';

const pageHasWebGPU = 'gpu' in navigator;
let client = null;
let debounce = null;
let inFlight = false;
let again = false;
const pending = new Set();

const render = () => emit('render');

function syncUrl(push = false) {
  const href = writeUrl(location.href, state);
  if (href === location.href) return;
  if (push) history.pushState({ view: true }, '', href);
  else history.replaceState(history.state, '', href);
}

function fail(title, err, hint, retry, back = null) {
  state.loading = null;
  state.error = { title, message: err.message || String(err), kind: err.kind || 'internal', hint: hint || '', retry, back };
  render();
}

/** Takes a finished run: new tokens, and the data cache of the old run dropped. */
function applyRun(r) {
  if (!r) return;
  state.run = r;
  state.runSeq++;
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
        } else if (m.type === 'census') {
          if (m.heads) state.heads = m.heads;
          if (m.error) state.notice = `The head census failed: ${m.error}`;
          state.census = m.heads || m.error ? null : { done: m.done, total: m.total };
          render();
        }
      },
      onCrash: (msg) =>
        fail('The engine stopped', { message: msg, kind: 'internal' }, 'The model runs in a Web Worker, which stopped. “Reload the model” starts it again.', () => {
          client.restart();
          actions.loadModel(state.source);
        }),
    });
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
    addEventListener('popstate', () => {
      const v = readUrl(location.href).view;
      if (v) actions.navigate(v, { fromHistory: true });
    });
    let source = null;
    if (u.model && u.model.kind === 'hub') source = { ...u.model, label: u.model.repo };
    else if (u.model && u.model.url) {
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

  /** Loads a model: {kind: 'folder' | 'gguf', url} | {kind: 'hub', repo, revision, file} | {kind: 'files', files}. */
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
    state.loading = { files: {}, label: source.label || source.repo || 'model' };
    render();
    try {
      const out = await client.request('load', { source, backend: state.backendChoice, pageHasWebGPU, hub: state.hub });
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
      if (state.ablation.heads.length) await client.request('ablate', { heads: state.ablation.heads, mode: state.ablation.mode });
      await actions.runPrompt();
    } catch (e) {
      if (e.fatal) return;
      const hint =
        source.kind === 'hub'
          ? `From the Hugging Face Hub (${state.hub}/${source.repo}). A repository holds config.json, model.safetensors and tokenizer.json of a GPT-2- or Llama-family model, or a GGUF file (add &file=NAME.gguf).`
          : source.kind === 'files'
            ? 'Pick one .gguf file, or the three files of a Hugging Face folder.'
            : source.fetch
              ? `This model is fetched by a command: run \`${source.fetch}\` in the repository, then reload the page.`
              : `From ${source.url}. A model folder holds config.json, model.safetensors and tokenizer.json of a GPT-2- or Llama-family checkpoint.`;
      fail('The model could not be loaded', e, hint, () => actions.loadModel(source), previous);
    }
  },

  /** Loads an entry of www/models/index.json. */
  loadEntry(entry) {
    syncUrl();
    return actions.loadModel(entrySource(entry, entry === state.models[0]));
  },

  /** The prompt as typed: it runs after a pause in typing, or at once with `now` (Enter). */
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
      const r = await client.request('run', { text: modelText() });
      if (!again) {
        applyRun(r);
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

  /** Runs a prompt given as token ids (the induction demo). */
  async runIds(ids, label) {
    state.prompt = label;
    applyRun(await client.request('run', { ids }));
    syncUrl();
    render();
  },

  async generate() {
    if (state.busy || inFlight || !state.run) return;
    const s = state.sampling;
    state.busy = true;
    render();
    try {
      applyRun(await client.request('generate', { at: state.at, temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed }));
    } catch (e) {
      if (!e.fatal) state.notice = e.message;
    } finally {
      state.busy = false;
      render();
    }
  },

  setAt(n) {
    state.at = n;
    render();
  },

  async setBackend(choice) {
    state.backendChoice = choice;
    state.busy = true;
    render();
    try {
      const out = await client.request('setBackend', { backend: choice, pageHasWebGPU });
      state.backend = out.backend;
      if (out.run) applyRun(out.run);
      // Asked for WebGPU but got the CPU: say so where it is seen, not only in the panel.
      if (choice === 'webgpu' && out.backend.kind !== 'gpu') state.notice = `WebGPU is not available, so the CPU runs the model: ${out.backend.why}`;
    } catch (e) {
      if (!e.fatal) state.notice = e.message;
    } finally {
      state.busy = false;
      render();
    }
  },

  /** Opens a stage (and layer, part, head). Stage changes enter the browser history, so
   * Back and Forward walk the stages. */
  navigate(patch, { fromHistory = false } = {}) {
    const before = `${state.stage}/${state.layer}/${state.sub}`;
    Object.assign(state, patch);
    if (state.info) {
      state.layer = Math.max(0, Math.min(state.info.config.n_layer - 1, state.layer));
      state.head = Math.max(0, Math.min(state.info.config.n_head - 1, state.head));
    }
    if (!fromHistory) syncUrl(before !== `${state.stage}/${state.layer}/${state.sub}`);
    render();
  },

  go(k) {
    const list = stages();
    const s = list[Math.max(0, Math.min(list.length - 1, k))];
    actions.navigate(s.id === 'layer' ? { stage: 'layer', layer: s.layer } : { stage: s.id });
  },

  /** Next stage, or the next part of the current layer. */
  step() {
    const subs = ['attention', 'mlp', 'residual'];
    if (state.stage === 'layer' && state.sub !== 'residual') return actions.navigate({ sub: subs[subs.indexOf(state.sub) + 1] });
    const list = stages();
    const next = list[(stageIndex() + 1) % list.length];
    actions.navigate(next.id === 'layer' ? { stage: 'layer', layer: next.layer, sub: 'attention' } : { stage: next.id });
  },

  stepBack() {
    const subs = ['attention', 'mlp', 'residual'];
    if (state.stage === 'layer' && state.sub !== 'attention') return actions.navigate({ sub: subs[subs.indexOf(state.sub) - 1] });
    const prev = stages()[Math.max(0, stageIndex() - 1)];
    actions.navigate(prev.id === 'layer' ? { stage: 'layer', layer: prev.layer, sub: 'residual' } : { stage: prev.id });
  },

  setHover(i) {
    if (state.hover === i) return;
    state.hover = i;
    emit('hover', i);
  },

  setFocus(i) {
    state.focus = i;
    render();
  },

  /** Changes the sampling settings; `url: false` leaves the URL for a later call (a slider
   * being dragged writes it when let go). */
  setSampling(patch, { redraw = false, url = true } = {}) {
    Object.assign(state.sampling, patch);
    if (url) syncUrl();
    if (redraw) render();
  },

  setChat(on) {
    state.chat = on;
    syncUrl();
    actions.runPrompt();
  },

  setTarget(id) {
    state.target = id;
    render();
  },

  /** Opens or closes the model panel's "Other models" section. */
  setMoreModels(open) {
    state.moreModels = open;
  },

  setPalette(name) {
    state.palette = setPalette(name);
    localStorage.setItem('llm-xray-palette', state.palette);
    render();
  },

  /** Ablation editing: clicking heads in the grid switches them off and on. */
  setAblationEditing(on) {
    state.ablation.editing = on;
    render();
  },

  toggleHead(layer, head) {
    const hs = state.ablation.heads;
    const i = hs.findIndex(([l, h]) => l === layer + 1 && h === head + 1);
    if (i >= 0) hs.splice(i, 1);
    else hs.push([layer + 1, head + 1]);
    return applyAblation();
  },

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
   * hold up the first screen. */
  async runCensus() {
    if (state.heads || state.census) return;
    state.census = { done: 0, total: 1 };
    render();
    try {
      await client.request('census');
    } catch (e) {
      state.census = null;
      if (!e.fatal) state.notice = `The head census failed: ${e.message}`;
      render();
    }
  },

  /** Redraws the current view (after a view-local choice that changes no shared state). */
  redraw() {
    render();
  },

  /** The census's repeated random sequence as the prompt, with head L.H open. */
  async inductionDemo(layer, head) {
    const half = Math.min(32, Math.floor(state.info.max_tokens / 2));
    const ids = await client.request('inductionDemo', { half });
    state.stage = 'layer';
    state.layer = layer;
    state.head = head;
    state.sub = 'attention';
    await actions.runIds(ids, '(a random token sequence, repeated)');
  },

  /** Data for the current view: returns it when fetched, else starts the fetch and returns
   * undefined (the view shows a placeholder; the arrival redraws the stage). The cache key is `key`
   * with the request itself, so two views asking differently never share an answer. */
  data(key, type, args) {
    const id = `${key}|${type}|${JSON.stringify(args)}`;
    if (state.data.has(id)) return state.data.get(id);
    // In flight is per run: a request made before a run finished answers for the old run
    // (and is dropped), so the view's next render asks again for the new one.
    const seq = state.runSeq;
    const flight = `${seq}|${id}`;
    if (!pending.has(flight)) {
      pending.add(flight);
      state.fetching = pending.size;
      client
        .request(type, args)
        .then(
          (v) => {
            state.bytesMoved += sizeOf(v);
            return v;
          },
          (e) => ({ error: e.message, kind: e.kind }),
        )
        .then((v) => {
          pending.delete(flight);
          state.fetching = pending.size;
          if (seq !== state.runSeq) return emit('status');
          state.data.set(id, v);
          emit('data');
        });
    }
    return undefined;
  },

  /** A stored part (of a layer; with `head`, only that head's rows). */
  tensor(name, layer = 0, head = null) {
    return actions.data('tensor', 'tensor', head == null ? { name, layer } : { name, layer, head });
  },

  request(type, args) {
    return client.request(type, args);
  },

  /** The compare panel: a second prompt on the same model, in its own context. */
  async setCompare(patch) {
    Object.assign(state.compare, patch);
    const c = state.compare;
    if (!c.open || !c.prompt || !state.info) {
      c.run = null;
      return render();
    }
    state.busy = true;
    emit('status');
    try {
      c.run = await client.request('run', { text: c.prompt, ctx: 'compare' });
      c.error = null;
    } catch (e) {
      c.run = null;
      c.error = e.message;
    }
    c.seq = (c.seq || 0) + 1;
    state.busy = false;
    render();
  },

  /** Data of the compare panel's context, as `data` is for the main one. */
  compareData(type, args) {
    return actions.data(`cmp:${state.compare.seq}`, type, { ...args, ctx: 'compare' });
  },

  /** The whole run as JSON in the CLI's trace format, downloaded. */
  async exportRun() {
    const text = await client.request('exportRun');
    return new Blob([text], { type: 'application/json' });
  },

  link() {
    return writeUrl(location.href, state);
  },

  /** Reads which Hub models the browser's cache holds (at start, after a Hub model loads
   * and after a delete): not after every run, so the model panel does not ask each time. */
  async refreshCached() {
    try {
      state.cached = await client.request('cached');
    } catch {
      state.cached = [];
    }
    render();
  },

  async uncache(repo) {
    try {
      await client.request('uncache', { repo });
    } catch (e) {
      if (!e.fatal) state.notice = `Could not delete ${repo} from the cache: ${e.message}`;
    }
    await actions.refreshCached();
  },
};

/** Bytes a worker answer moved to the page: its typed arrays, and 4 per plain number (the
 * f32 values that serde sends as numbers). */
function sizeOf(v) {
  if (v == null) return 0;
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (typeof v === 'number') return 4;
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) return v.reduce((a, x) => a + sizeOf(x), 0);
  if (typeof v === 'object') return Object.values(v).reduce((a, x) => a + sizeOf(x), 0);
  return 0;
}

function entrySource(entry, isDefault) {
  return { kind: entry.file ? 'gguf' : 'folder', url: entry.url, label: entry.name, fetch: entry.fetch, isDefault };
}

async function applyAblation() {
  state.busy = true;
  syncUrl();
  render();
  try {
    const r = await client.request('ablate', { heads: state.ablation.heads, mode: state.ablation.mode });
    if (r) applyRun(r);
    const n = state.ablation.heads.length;
    state.notice = n ? `${n} head${n === 1 ? '' : 's'} ablated (${state.ablation.mode === 'mean' ? 'replaced by their mean over the prompt' : 'set to zero'}): ${state.ablation.heads.map(([l, h]) => `layer ${l} head ${h}`).join(', ')}` : null;
  } catch (e) {
    if (!e.fatal) state.notice = e.message;
  } finally {
    state.busy = false;
    render();
  }
}
