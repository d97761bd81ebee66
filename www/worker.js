// @ts-check
// The Web Worker that owns the model: it fetches the model's files (a folder beside the
// page, a Hugging Face Hub repository, or files the user picked) straight into wasm memory
// with progress, refuses a model too big for the tab before downloading its weights, and
// answers the page's requests one at a time (protocol.js), so typing never waits on a run.
// Requests about a context go to the engine as they are (src/wasm.rs `Request`); the
// worker answers the others itself.

import init, { Xray, FileBytes, Training, footprintOfConfig, footprintOfGguf, trainDefaults, trainPlan } from './pkg/llm_xray.js';
import { ERROR_KINDS, REQUESTS } from './protocol.js';

/**
 * @typedef {import('./protocol.js').Requests} Requests
 * @typedef {import('./protocol.js').RequestMessage} RequestMessage
 * @typedef {import('./protocol.js').Response} Response
 * @typedef {import('./protocol.js').EngineEvent} EngineEvent
 * @typedef {import('./protocol.js').Footprint} Footprint
 * @typedef {import('./protocol.js').ModelSource} ModelSource
 * @typedef {import('./protocol.js').Ctx} Ctx
 */

/** @type {Xray | null} */
let xray = null;
/** A second context on the same model, for the compare panel (made on first use). @type {Xray | null} */
let compare = null;
/** @type {{memory: WebAssembly.Memory} | null} */
let wasm = null;
const wasmReady = init().then((w) => (wasm = w));
/** @type {Promise<unknown>} */
let queue = Promise.resolve();
const CACHE = 'llm-xray-models';
// A tab's WebAssembly memory (wasm32) holds at most 4 GiB.
const WASM_LIMIT = 4 * 2 ** 30;
/** The WebAssembly memory last reported to the page (it only grows). */
let reportedMemory = 0;
// What the page keeps of a context's activations (src/session/mod.rs STORE_BUDGET) plus room.
const ACTIVATIONS = 448e6;

/**
 * @param {Response | EngineEvent} msg
 * @param {Transferable[]} [transfer]
 */
const post = (msg, transfer = []) => self.postMessage(msg, transfer);

class Refusal extends Error {
  /**
   * @param {import('./protocol.js').ErrorKind} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}
/** @param {string} message */
const modelError = (message) => new Refusal('model', message);
/** @param {number} n */
const gb = (n) => `${(n / 2 ** 30).toFixed(2)} GB`;

/**
 * Refuses, before the weights download, a model whose weights cannot fit in the tab: the
 * weights as the engine will hold them (quantized blocks stay in the file's bytes), what
 * loading takes beside them, and room for activations.
 * @param {string} what
 * @param {Footprint} footprint
 */
function checkFits(what, footprint) {
  const need = footprint.load_bytes + ACTIVATIONS;
  if (need > WASM_LIMIT) {
    const loading = footprint.load_bytes > footprint.held_bytes ? ` (${gb(footprint.load_bytes)} while it loads)` : '';
    throw modelError(
      `${what} needs about ${gb(need)} in this tab: its ${(footprint.parameters / 1e9).toFixed(2)}B learned parameters, held as ${footprint.held}, take ${gb(footprint.held_bytes)}${loading}, ` +
        `and activations take up to ${gb(ACTIVATIONS)}; a tab's WebAssembly memory holds at most ${gb(WASM_LIMIT)}. Pick a smaller model.`,
    );
  }
}

/**
 * @param {string} url
 * @param {string} file
 * @param {RequestInit} [init]
 */
async function open(url, file, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw modelError(`${file}: could not be downloaded from ${url} (${e.message})`);
  }
  if (!res.ok && res.status !== 206) {
    throw modelError(`${file}: ${res.status === 404 ? 'not found' : `HTTP ${res.status}`} at ${url}`);
  }
  return res;
}

/**
 * A response's body streamed into wasm memory, reporting download progress.
 * @param {globalThis.Response} res
 * @param {string} file
 * @param {number} total
 */
async function intoWasm(res, file, total) {
  const out = new FileBytes(total || 0);
  const reader = res.body.getReader();
  let loaded = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.push(value);
    loaded += value.length;
    if (Date.now() - last > 50) {
      last = Date.now();
      post({ type: 'progress', phase: 'download', file, loaded, total });
    }
  }
  post({ type: 'progress', phase: 'download', file, loaded, total: total || loaded });
  return out;
}

/**
 * Fetches a file, from the Cache API when `cached` (Hub downloads) and into it otherwise.
 * @param {string} url
 * @param {string} file
 */
async function download(url, file, { cached = false, expected = 0 } = {}) {
  const cache = cached && self.caches ? await caches.open(CACHE) : null;
  const hit = cache && (await cache.match(url));
  if (hit) return intoWasm(hit, file, Number(hit.headers.get('content-length')) || expected);
  const res = await open(url, file);
  const total = Number(res.headers.get('content-length')) || expected;
  if (!cache) return intoWasm(res, file, total);
  const [mine, stored] = res.body.tee();
  const put = cache.put(url, new Response(stored, { headers: { 'content-length': String(total) } })).catch(() => {});
  const bytes = await intoWasm(new Response(mine), file, total);
  await put;
  return bytes;
}

/**
 * Size of a remote file without downloading it.
 * @param {string} url
 * @param {string} file
 */
async function remoteSize(url, file) {
  const res = await open(url, file, { method: 'HEAD' });
  return Number(res.headers.get('content-length')) || 0;
}

/**
 * The first bytes of a GGUF file: enough for its metadata and tensor infos.
 * @param {(n: number) => Promise<Uint8Array>} readRange
 * @param {number} size
 * @param {string} what
 * @returns {Promise<Footprint>}
 */
async function ggufHead(readRange, size, what) {
  for (const n of [4 << 20, 32 << 20]) {
    const prefix = await readRange(Math.min(n, size));
    try {
      return footprintOfGguf(prefix, size, what);
    } catch (e) {
      if (n >= size || !/truncated/.test(e.message)) throw refusal(e);
    }
  }
  throw modelError(`${what}: its GGUF header is larger than 32 MB`);
}

/**
 * The first `n` bytes of a remote file.
 * @param {string} url
 * @param {string} file
 * @param {number} n
 */
async function rangeOf(url, file, n) {
  const res = await open(url, file, { headers: { Range: `bytes=0-${n - 1}` } });
  const reader = res.body.getReader();
  const parts = [];
  let got = 0;
  while (got < n) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
  }
  reader.cancel().catch(() => {});
  const out = new Uint8Array(Math.min(got, n));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - at);
    out.set(p.subarray(0, take), at);
    at += take;
  }
  return out;
}

/** @param {string} file */
const convert = (file) => (/** @type {number} */ done, /** @type {number} */ total) => post({ type: 'progress', phase: 'convert', file, loaded: done, total });

/**
 * Loads a GGUF file from a URL (beside the page, or on the Hub).
 * @param {string} url
 * @param {string} name
 * @param {boolean} cached
 */
async function loadGgufUrl(url, name, cached) {
  const [size] = await Promise.all([remoteSize(url, name), wasmReady]);
  checkFits(name, await ggufHead((n) => rangeOf(url, name, n), size, name));
  const bytes = await download(url, name, { cached, expected: size });
  return Xray.fromGguf(bytes, name, convert(name));
}

/**
 * A wasm error ({kind, message}) as a Refusal.
 * @param {any} e
 */
function refusal(e) {
  return new Refusal(e.kind || 'model', e.message || String(e));
}

/**
 * Loads a Hugging Face folder's three files from `url(file)`.
 * @param {(file: string) => string} url
 * @param {string} what
 * @param {boolean} cached
 */
async function loadFolder(url, what, cached) {
  // The small requests go out together while the engine compiles; the weights only once
  // config.json says the model fits.
  const [configJson, size] = await Promise.all([fetchSmall(url('config.json'), 'config.json', cached), remoteSize(url('model.safetensors'), 'model.safetensors'), wasmReady]);
  /** @type {Footprint} */
  let footprint;
  try {
    footprint = footprintOfConfig(configJson, size);
  } catch (e) {
    throw refusal(e);
  }
  checkFits(what, footprint);
  const config = new FileBytes(configJson.length);
  config.push(configJson);
  const [tokenizer, weights] = await Promise.all([
    download(url('tokenizer.json'), 'tokenizer.json', { cached }),
    download(url('model.safetensors'), 'model.safetensors', { cached, expected: size }),
  ]);
  return Xray.fromFolder(config, weights, tokenizer, convert('model.safetensors'));
}

/**
 * A small file's bytes as JS (config.json), through the Cache API for Hub downloads.
 * @param {string} url
 * @param {string} file
 * @param {boolean} cached
 */
async function fetchSmall(url, file, cached) {
  const cache = cached && self.caches ? await caches.open(CACHE) : null;
  const hit = cache && (await cache.match(url));
  const res = hit || (await open(url, file));
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (cache && !hit) await cache.put(url, new Response(bytes, { headers: { 'content-length': String(bytes.length) } })).catch(() => {});
  return bytes;
}

/**
 * Loads files the user picked: one .gguf, or config.json, model.safetensors and tokenizer.json.
 * @param {File[]} files
 */
async function loadFiles(files) {
  await wasmReady;
  const byName = new Map(files.map((f) => [f.name, f]));
  /** @param {File} f */
  const fromFile = async (f) => intoWasm(new Response(f.stream()), f.name, f.size);
  const gguf = files.find((f) => /\.gguf$/i.test(f.name));
  if (gguf) {
    checkFits(gguf.name, await ggufHead(async (n) => new Uint8Array(await gguf.slice(0, n).arrayBuffer()), gguf.size, gguf.name));
    return Xray.fromGguf(await fromFile(gguf), gguf.name, convert(gguf.name));
  }
  const missing = ['config.json', 'model.safetensors', 'tokenizer.json'].filter((n) => !byName.has(n));
  if (missing.length) {
    throw modelError(`missing ${missing.join(', ')}: pick one .gguf file, or the three files of a Hugging Face folder (config.json, model.safetensors, tokenizer.json); got ${files.map((f) => f.name).join(', ') || 'nothing'}`);
  }
  const config = byName.get('config.json');
  const weights = byName.get('model.safetensors');
  /** @type {Footprint} */
  let footprint;
  try {
    footprint = footprintOfConfig(new Uint8Array(await config.arrayBuffer()), weights.size);
  } catch (e) {
    throw refusal(e);
  }
  checkFits('these files', footprint);
  return Xray.fromFolder(await fromFile(config), await fromFile(weights), await fromFile(byName.get('tokenizer.json')), convert('model.safetensors'));
}

/**
 * The Hub's file URL layout: {hub}/{owner}/{name}/resolve/{revision}/{file}.
 * @param {string} hub
 * @param {string} repo
 * @param {string} revision
 * @param {string} file
 */
function hubUrl(hub, repo, revision, file) {
  return `${hub.replace(/\/$/, '')}/${repo}/resolve/${encodeURIComponent(revision || 'main')}/${file}`;
}

/**
 * @param {Requests['load']['args']} args
 * @returns {Promise<Requests['load']['result']>}
 */
async function load({ source, backend, pageHasWebGPU, hub }) {
  if (compare) compare.free();
  if (xray) xray.free();
  xray = compare = null;
  let heads = null;
  if (source.kind === 'files') {
    xray = await loadFiles(source.files);
  } else if (source.kind === 'hub') {
    if (!/^[\w.-]+\/[\w.-]+$/.test(source.repo)) throw new Refusal('input', `"${source.repo}" is not a Hugging Face repository id; expected owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct`);
    /** @param {string} f */
    const url = (f) => hubUrl(hub, source.repo, source.revision, f);
    xray = source.file ? await loadGgufUrl(url(source.file), source.file, true) : await loadFolder(url, source.repo, true);
  } else if (source.kind === 'trained') {
    xray = trainedModel();
  } else if (source.kind === 'gguf') {
    xray = await loadGgufUrl(new URL(source.url, self.location.href).href, source.url.split('/').pop(), false);
  } else {
    const base = new URL(source.url, self.location.href);
    // The head census shipped beside the model, if any, fetched alongside it.
    const census = fetch(new URL('heads.json', base))
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
    xray = await loadFolder((f) => new URL(f, base).href, source.url, false);
    heads = await census;
  }
  const info = xray.info();
  const chosen = /** @type {import('./protocol.js').BackendSwitch} */ (await xray.request({ type: 'setBackend', backend, pageHasWebGPU }));
  return { info, heads, backend: chosen.backend, memory: wasm.memory.buffer.byteLength };
}

/**
 * Hub files in the Cache API, grouped by repository.
 * @returns {Promise<import('./protocol.js').CachedModel[]>}
 */
async function cachedModels() {
  if (!self.caches) return [];
  const cache = await caches.open(CACHE);
  /** @type {Map<string, import('./protocol.js').CachedModel>} */
  const repos = new Map();
  for (const req of await cache.keys()) {
    const m = new URL(req.url).pathname.match(/^\/(.+?)\/resolve\/[^/]+\/(.+)$/);
    if (!m) continue;
    const res = await cache.match(req);
    const entry = repos.get(m[1]) || { repo: m[1], files: [], bytes: 0, urls: [] };
    entry.files.push(m[2]);
    entry.urls.push(req.url);
    entry.bytes += Number(res && res.headers.get('content-length')) || 0;
    repos.set(m[1], entry);
  }
  return [...repos.values()];
}

/**
 * The model's context, or (ctx 'compare') the compare panel's second context.
 * @param {Ctx} ctx
 */
const need = (ctx) => {
  if (!xray) throw new Refusal('input', 'no model is loaded');
  if (ctx !== 'compare') return xray;
  if (!compare) compare = xray.fork();
  return compare;
};

/**
 * The requests the worker answers itself (REQUESTS says which).
 * @type {{[K in 'load' | 'census' | 'cached' | 'uncache']: (args: Requests[K]['args']) => Requests[K]['result'] | Promise<Requests[K]['result']>}}
 */
const handlers = {
  load: (args) => load(args),
  // The census runs one model run per queue turn, so requests made meanwhile are answered
  // between its runs; each run reports progress, the last one the scores.
  census() {
    const x = need('main');
    x.censusStart();
    const step = async () => {
      try {
        const p = await x.censusStep();
        post({ type: 'census', ...p });
        if (!p.heads) queue = queue.then(step);
      } catch (e) {
        post({ type: 'census', error: e.message || String(e) });
      }
    };
    queue = queue.then(step);
    return /** @type {true} */ (true);
  },
  cached: () => cachedModels(),
  async uncache({ repo }) {
    const cache = await caches.open(CACHE);
    for (const m of await cachedModels()) if (m.repo === repo) for (const u of m.urls) await cache.delete(u);
    return /** @type {true} */ (true);
  },
};

// ---- The Train stage: a training run advanced in chunks between the page's messages ----

/** @type {Training | null} */
let training = null;
/** Numbers the runs started; a chunk of an older run stops itself. */
let trainRun = 0;
let trainPaused = true;
// Wall-clock milliseconds of steps per chunk: the loss curve moves, and Pause and Reset are
// answered, about three times a second. Measuring the model (census, pictures, held-out
// loss) costs about two forward passes, so it follows a chunk at most once a second.
const CHUNK_MS = 300;
const MEASURE_MS = 900;
let measuredAt = -Infinity;
/** @type {Map<string, Uint8Array>} tokenizer.json by URL */
const tokenizers = new Map();

/** @param {string} url */
async function tokenizerBytes(url) {
  if (!tokenizers.has(url)) {
    const res = await open(url, 'tokenizer.json');
    tokenizers.set(url, new Uint8Array(await res.arrayBuffer()));
  }
  return tokenizers.get(url);
}

/** The shipped Shakespeare sample (www/data/, made by scripts/train_sample.py). */
async function shakespeare() {
  const url = new URL('data/shakespeare-sample.txt', self.location.href).href;
  return (await open(url, 'shakespeare-sample.txt')).text();
}

/** One chunk of steps, then the next from a fresh task, so messages are answered between. */
function trainChunk(/** @type {number} */ run) {
  if (run !== trainRun || trainPaused || !training) return;
  try {
    const measure = performance.now() - measuredAt >= MEASURE_MS;
    if (measure) measuredAt = performance.now();
    const progress = training.advance(CHUNK_MS, 100000, measure);
    post({ type: 'train', run, progress });
  } catch (e) {
    trainPaused = true;
    const fatal = e instanceof WebAssembly.RuntimeError;
    if (fatal) training = null;
    post({ type: 'train', run, error: fatal ? `the engine stopped while training (${e.message}); press Reset` : e.message || String(e) });
    return;
  }
  setTimeout(() => trainChunk(run), 0);
}

/** The trained model as it is now, as a model for every view. */
function trainedModel() {
  if (!training) throw new Refusal('input', 'there is no trained model: start training in the Train stage first');
  /** @type {Record<string, FileBytes>} */
  const f = {};
  for (const { name, bytes } of training.files()) {
    f[name] = new FileBytes(bytes.length);
    f[name].push(bytes);
  }
  return Xray.fromFolder(f['config.json'], f['model.safetensors'], f['tokenizer.json'], convert('model.safetensors'));
}

/**
 * The Train stage's requests.
 * @type {{[K in 'trainDefaults' | 'trainPlan' | 'trainStart' | 'trainPause' | 'trainReset' | 'trainFiles']: (args: Requests[K]['args']) => Requests[K]['result'] | Promise<Requests[K]['result']>}}
 */
const trainHandlers = {
  async trainDefaults({ tokenizer }) {
    const bytes = await tokenizerBytes(tokenizer);
    await wasmReady;
    return trainDefaults(bytes);
  },
  async trainPlan({ settings, vocab }) {
    await wasmReady;
    return trainPlan(settings, vocab);
  },
  async trainStart({ settings, tokenizer, fresh }) {
    if (fresh || !training) {
      const bytes = await tokenizerBytes(tokenizer);
      const text = settings.task === 'shakespeare' ? await shakespeare() : settings.text || '';
      await wasmReady;
      const next = new Training({ ...settings, text }, bytes);
      if (training) training.free();
      training = next;
      trainRun++;
      measuredAt = -Infinity;
    }
    trainPaused = false;
    const run = trainRun;
    setTimeout(() => trainChunk(run), 0);
    return { run };
  },
  trainPause() {
    trainPaused = true;
    post({ type: 'train', run: trainRun, paused: true });
    return /** @type {true} */ (true);
  },
  trainReset() {
    trainPaused = true;
    trainRun++;
    if (training) training.free();
    training = null;
    return /** @type {true} */ (true);
  },
  trainFiles() {
    if (!training) throw new Refusal('input', 'there is no trained model to download: start training first');
    return training.files();
  },
};

/**
 * The buffers of an engine answer's typed arrays, which move to the page instead of being
 * copied: each is a copy the binding made for the page (`Float32Array::from`), never a
 * view of wasm memory.
 * @param {unknown} result
 * @returns {ArrayBuffer[]}
 */
function transferables(result) {
  if (!result || typeof result !== 'object') return [];
  return Object.values(result)
    .filter((v) => ArrayBuffer.isView(v) && v.buffer !== wasm.memory.buffer)
    .map((v) => /** @type {ArrayBuffer} */ (/** @type {ArrayBufferView} */ (v).buffer));
}

/** Tells the page when the WebAssembly memory has grown: before the answer, so that the
 * Model panel shows the high-water mark of what the request just did. */
function reportMemory() {
  const bytes = wasm ? wasm.memory.buffer.byteLength : 0;
  if (bytes > reportedMemory) {
    reportedMemory = bytes;
    post({ type: 'memory', bytes });
  }
}

self.onmessage = (/** @type {MessageEvent<RequestMessage>} */ e) => {
  const { id, ctx, request } = e.data;
  queue = queue.then(async () => {
    /** @type {Xray | null} */
    let engine = null;
    try {
      if (!(request.type in REQUESTS)) throw new Refusal('internal', `unknown request "${request.type}"`);
      if (REQUESTS[request.type] === 'engine') {
        engine = need(ctx);
        const result = await engine.request(request);
        reportMemory();
        post({ id, ok: true, run: engine.run, result }, transferables(result));
      } else {
        const result = await /** @type {any} */ (request.type in trainHandlers ? trainHandlers : handlers)[request.type](request);
        reportMemory();
        post({ id, ok: true, run: null, result });
      }
    } catch (err) {
      // A wasm trap (a bug, or out of memory) leaves the engine unusable.
      const fatal = err instanceof WebAssembly.RuntimeError;
      if (fatal) xray = compare = null;
      const kind = err && ERROR_KINDS.includes(err.kind) ? err.kind : 'internal';
      const message = err && err.message ? err.message : String(err);
      const run = engine && !fatal ? engine.run : null;
      post({ id, ok: false, fatal, run, error: { kind: fatal ? 'internal' : kind, message: fatal ? `the engine stopped (${message}); reload the model` : message } });
    }
  });
};
