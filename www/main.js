// The page: wires the prompt, the worker, the pipeline strip and the views together.
import { EngineClient } from './client.js';
import { state, on, emit, stages } from './store.js';
import { actions } from './actions.js';
import { renderChips, highlightChips } from './views/chips.js';
import { renderPipeline, step, stepBack } from './views/pipeline.js';
import { renderModelPanel } from './views/model.js';
import * as promptView from './views/prompt.js';
import * as tokensView from './views/tokens.js';
import * as embeddingsView from './views/embeddings.js';
import * as layerView from './views/layer.js';
import * as logitsView from './views/logits.js';
import { el } from './dom.js';

const $ = (id) => document.getElementById(id);
const VIEWS = {
  prompt: (root) => promptView.render(root),
  tokens: (root) => tokensView.render(root),
  embeddings: (root) => embeddingsView.render(root),
  layer: (root, s) => layerView.render(root, s.layer),
  logits: (root) => logitsView.render(root, 'logits'),
  next: (root) => logitsView.render(root, 'next'),
};

const pageHasWebGPU = 'gpu' in navigator;
let current = null;
let runSeq = 0;
let debounce = null;

const client = new EngineClient({
  onProgress: ({ file, loaded, total }) => {
    const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
    $('loading-text').textContent = `Downloading ${file}: ${kb(loaded)}${total ? ` of ${kb(total)}` : ''}`;
    if (total) $('progress').value = loaded / total;
    else $('progress').removeAttribute('value');
  },
  onCrash: (msg) =>
    showError('The engine stopped', msg, 'The model runs in a Web Worker, which crashed. “Reload the model” starts it again.', () => {
      client.restart();
      loadModel(state.folder);
    }),
});

function showError(title, message, hint, retry) {
  $('loading').hidden = true;
  $('error').hidden = false;
  $('error-title').textContent = title;
  $('error-message').textContent = message;
  $('error-hint').textContent = hint || '';
  $('error-retry').textContent = title === 'The engine stopped' ? 'Reload the model' : 'Try again';
  $('error-retry').onclick = () => {
    $('error').hidden = true;
    retry();
  };
  const def = state.models[0] && state.models[0].url;
  $('error-default').hidden = !def || def === state.folder || title === 'The engine stopped';
  $('error-default').onclick = () => {
    $('error').hidden = true;
    actions.loadModel(def);
  };
}

function notice(text) {
  $('notice').hidden = !text;
  $('notice').textContent = text || '';
}

function render() {
  renderChips($('chips'));
  renderPipeline($('pipeline'));
  renderModelPanel($('model-panel'));
  if (current && current.destroy) current.destroy();
  current = null;
  const root = $('stage');
  root.replaceChildren();
  if (!state.run || !state.tensors) {
    const msg = state.info ? 'Type a prompt to see the model run.' : $('error').hidden ? 'The model is loading…' : 'No model is loaded (see the error above).';
    root.append(el('p', { class: 'muted' }, msg));
    return;
  }
  const s = stages()[Math.min(state.stage, stages().length - 1)];
  current = VIEWS[s.id](root, s) || {};
  if (state.hover != null && current.highlight) current.highlight(state.hover);
}

on('render', render);
on('hover', (i) => {
  highlightChips($('chips'), i);
  if (current && current.highlight) current.highlight(i);
});

function applyRun(out) {
  if (out.backend) state.backend = out.backend;
  const r = out.run;
  if (!r) return;
  state.run = r;
  state.tensors = out.tensors;
  state.at = r.tokens.length;
  state.lastRunMs = r.elapsed_ms;
  state.backend = r.backend;
  if (state.focus != null && state.focus >= r.tokens.length) state.focus = null;
  notice(r.notice);
  const n = r.tokens.length;
  const status = $('prompt-status');
  status.className = 'prompt-status';
  status.textContent = `${n} token${n === 1 ? '' : 's'} of at most ${state.info.config.n_positions} · last run: ${r.computed} token${r.computed === 1 ? '' : 's'} in ${r.elapsed_ms.toFixed(1)} ms on ${r.backend.kind === 'webgpu' ? 'WebGPU' : 'the CPU'}`;
}

function describeTooLong(msg) {
  // The engine says e.g. "input: 30 tokens do not fit: this model's context (n_positions) holds at most 24 tokens".
  return msg.replace(/^input: /, '');
}

let inFlight = false;
let again = false;

/** Runs the prompt in the textbox. While a run is in flight, further calls coalesce into
 * one more run of the latest text, so fast typing never queues a backlog of stale runs. */
async function runPrompt() {
  clearTimeout(debounce);
  if (!state.info) return;
  if (inFlight) {
    again = true;
    return;
  }
  const text = $('prompt').value;
  const seq = ++runSeq;
  const status = $('prompt-status');
  if (!text) {
    status.textContent = 'Type at least one character.';
    status.className = 'prompt-status warn';
    return;
  }
  status.textContent = 'running…';
  status.className = 'prompt-status';
  inFlight = true;
  try {
    const r = await client.request('run', { text });
    if (!again) {
      applyRun(r);
      render();
    }
  } catch (e) {
    if (e.fatal || again) return;
    let msg = describeTooLong(e.message);
    if (/do not fit/.test(msg)) {
      msg = `Too long: ${msg}. Shorten the prompt; the views show the last prompt that fit.`;
    }
    status.textContent = msg;
    status.className = 'prompt-status warn';
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      runPrompt();
    } else if (seq === runSeq) state.runsDone++;
  }
}

actions.distribution = async (limit) => {
  if (!state.run) return null;
  const s = state.sampling;
  const model = await client.request('distribution', { at: state.at, temperature: 1, topK: 0, topP: 1, limit });
  const only = Array.from(model.ids);
  const shaped = await client.request('distribution', { at: state.at, temperature: s.temperature, topK: s.topK, topP: s.topP, only });
  return { model, shaped };
};

actions.generate = async () => {
  if (state.busy || inFlight) return;
  const s = state.sampling;
  state.busy = true;
  const seq = runSeq;
  try {
    const out = await client.request('generate', { at: state.at, temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed });
    // A prompt run requested meanwhile supersedes this result.
    if (seq === runSeq) applyRun(out);
  } catch (e) {
    if (!e.fatal) notice(e.message);
  } finally {
    state.busy = false;
    render();
  }
};

actions.setBackend = async (choice) => {
  state.backendChoice = choice;
  state.busy = true;
  renderModelPanel($('model-panel'));
  const seq = runSeq;
  try {
    const out = await client.request('setBackend', { backend: choice, pageHasWebGPU });
    if (seq === runSeq) applyRun(out);
    else state.backend = out.backend;
    // Asked for WebGPU but got the CPU: say so where it is seen, not only in the panel.
    if (choice === 'webgpu' && out.backend.kind !== 'webgpu') notice(`WebGPU is not available, so the CPU runs the model: ${out.backend.why}`);
  } catch (e) {
    if (!e.fatal) notice(e.message);
  } finally {
    state.busy = false;
    render();
  }
};

async function loadModel(folder) {
  state.folder = folder;
  state.info = null;
  state.run = null;
  state.tensors = null;
  state.backend = null;
  $('error').hidden = true;
  $('loading').hidden = false;
  $('loading-text').textContent = `Loading the model from ${folder}`;
  $('progress').value = 0;
  render();
  try {
    const out = await client.request('load', { folder, backend: state.backendChoice, pageHasWebGPU });
    state.info = out.info;
    state.heads = out.heads;
    state.backend = out.backend;
    $('loading').hidden = true;
    state.stage = Math.min(state.stage, stages().length - 1);
    render();
    await runPrompt();
  } catch (e) {
    if (e.fatal) return;
    showError(
      'The model could not be loaded',
      e.message,
      `From ${folder}. A model folder holds config.json, model.safetensors and tokenizer.json of a Hugging Face GPT-2-family checkpoint.`,
      () => loadModel(folder),
    );
    render();
  }
}
actions.loadModel = (folder) => {
  const url = new URL(location.href);
  url.searchParams.set('model', folder);
  history.replaceState(null, '', url);
  return loadModel(folder);
};

function onKey(e) {
  const t = e.target;
  if (t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.tagName === 'SELECT')) return;
  if (!state.run) return;
  if (e.key === 'ArrowRight') step();
  else if (e.key === 'ArrowLeft') stepBack();
  else if (current && current.key && current.key(e)) {
    /* handled by the view */
  } else return;
  e.preventDefault();
}

async function main() {
  const prompt = $('prompt');
  prompt.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(runPrompt, 250);
  });
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      runPrompt();
    }
  });
  document.addEventListener('keydown', onKey);
  window.xray = { state, request: (cmd, args) => client.request(cmd, args), render };
  try {
    const r = await fetch(new URL('models/index.json', import.meta.url));
    if (r.ok) {
      const base = new URL('models/', import.meta.url);
      state.models = ((await r.json()).models || []).map((m) => ({ ...m, url: new URL(m.folder, base).href }));
    }
  } catch {
    state.models = [];
  }
  const param = new URL(location.href).searchParams.get('model');
  const folder = param ? new URL(param.endsWith('/') ? param : param + '/', location.href).href : state.models[0] ? state.models[0].url : null;
  if (!folder) {
    showError('No model', 'www/models/index.json lists no model and no ?model= was given.', 'Add a model folder to www/models/ and list it in index.json.', () => location.reload());
    return;
  }
  loadModel(folder);
}

main();
