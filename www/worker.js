// The Web Worker that owns the model: it downloads the model folder (reporting progress),
// builds the wasm Engine and answers the page's requests one at a time, so typing on the
// page never waits for a forward pass.

import init, { Engine } from './pkg/llm_xray.js';

let engine = null;
let nLayer = 0;
const wasmReady = init();
let queue = Promise.resolve();

const post = (msg, transfer = []) => self.postMessage(msg, transfer);

async function fetchBytes(url, file) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`${file}: could not be downloaded from ${url} (${e.message})`);
  }
  if (!res.ok) {
    throw new Error(
      `${file}: ${res.status === 404 ? 'not found' : `HTTP ${res.status}`} at ${url}; a model folder holds config.json, model.safetensors and tokenizer.json`,
    );
  }
  const total = Number(res.headers.get('content-length')) || 0;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    post({ type: 'progress', file, loaded, total });
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  post({ type: 'progress', file, loaded, total: total || loaded });
  return out;
}

// Every tensor the views draw, with their buffers listed for transfer.
function bundle() {
  const t = {
    token_embeddings: engine.tensor('token_embeddings', 0),
    position_embeddings: engine.tensor('position_embeddings', 0),
    residual_norms: engine.tensor('residual_norms', 0),
    attentions: [],
    mlp_activation: [],
  };
  for (let l = 0; l < nLayer; l++) {
    t.attentions.push(engine.tensor('attentions', l));
    t.mlp_activation.push(engine.tensor('mlp_activation', l));
  }
  const transfer = [t.token_embeddings, t.position_embeddings, t.residual_norms, ...t.attentions, ...t.mlp_activation].map(
    (x) => x.data.buffer,
  );
  return [t, transfer];
}

function withTensors(run) {
  if (!run) return [{ run: null }, []];
  const [tensors, transfer] = bundle();
  return [{ run, tensors }, transfer];
}

const handlers = {
  async load({ folder, backend, pageHasWebGPU }) {
    await wasmReady;
    engine = null;
    const base = new URL(folder, self.location.href);
    const url = (f) => new URL(f, base).href;
    const [config, tokenizer] = await Promise.all([
      fetchBytes(url('config.json'), 'config.json'),
      fetchBytes(url('tokenizer.json'), 'tokenizer.json'),
    ]);
    const weights = await fetchBytes(url('model.safetensors'), 'model.safetensors');
    engine = new Engine(config, weights, tokenizer);
    const info = engine.info();
    nLayer = info.config.n_layer;
    let heads = null;
    try {
      const r = await fetch(url('heads.json'));
      if (r.ok) heads = await r.json();
    } catch {
      heads = null;
    }
    const webgpu = pageHasWebGPU && 'gpu' in self.navigator;
    const chosen = await engine.setBackend(backend, webgpu);
    return [{ info, heads, backend: chosen.backend }, []];
  },
  async setBackend({ backend, pageHasWebGPU }) {
    const webgpu = pageHasWebGPU && 'gpu' in self.navigator;
    const out = await engine.setBackend(backend, webgpu);
    const [r, transfer] = withTensors(out.run);
    return [{ backend: out.backend, ...r }, transfer];
  },
  async tokenize({ text }) {
    return [engine.tokenize(text), []];
  },
  async run({ text }) {
    return withTensors(await engine.runPrompt(text));
  },
  async generate({ at, temperature, topK, topP, seed }) {
    return withTensors(await engine.generateNext(at, temperature, topK, topP, seed));
  },
  // The `limit` most probable tokens with their text; or, given `only` (token ids), just
  // those tokens' probabilities (0 if sampling cannot pick them) and the kept count.
  async distribution({ at, temperature, topK, topP, limit, only }) {
    if (only) {
      const d = engine.distribution(at, temperature, topK, topP, 1 << 30);
      const p = new Map();
      d.ids.forEach((id, k) => p.set(id, d.probs[k]));
      return [{ kept: d.kept, probs: only.map((id) => p.get(id) || 0) }, []];
    }
    const d = engine.distribution(at, temperature, topK, topP, limit);
    const tokens = engine.tokenInfos(d.ids);
    return [{ ...d, tokens }, [d.ids.buffer, d.probs.buffer]];
  },
  async tensor({ name, layer }) {
    const t = engine.tensor(name, layer);
    return [t, [t.data.buffer]];
  },
};

self.onmessage = (e) => {
  const { id, cmd, args } = e.data;
  queue = queue.then(async () => {
    try {
      if (cmd !== 'load' && !engine) throw new Error('no model is loaded');
      const [result, transfer] = await handlers[cmd](args || {});
      post({ id, ok: true, result }, transfer);
    } catch (err) {
      const message = err && err.message ? err.message : String(err);
      // A wasm trap (a bug, or out of memory) leaves the engine unusable.
      const fatal = err instanceof WebAssembly.RuntimeError;
      if (fatal) engine = null;
      post({ id, ok: false, error: message, fatal });
    }
  });
};
