// The page: draws the panels from the state and wires the prompt, keys and drops to the
// controller's actions. Views live in views/; none of them changes the state itself.
import { state, on, stages } from './store.js';
import { actions } from './controller.js';
import { el } from './dom.js';
import { PALETTE_NAMES, paletteLabel } from './colors.js';
import { downloadBlob } from './export.js';
import { renderChips, highlightChips } from './views/chips.js';
import { renderPipeline } from './views/pipeline.js';
import { renderModelPanel, bytesMovedText } from './views/model.js';
import { renderCompare } from './views/compare.js';
import * as overview from './views/overview.js';
import * as promptView from './views/prompt.js';
import * as tokensView from './views/tokens.js';
import * as embeddingsView from './views/embeddings.js';
import * as layerView from './views/layer.js';
import * as logitsView from './views/logits.js';
import * as lensView from './views/lens.js';
import * as attributionView from './views/attribution.js';
import * as neighboursView from './views/neighbours.js';

const $ = (id) => document.getElementById(id);
const VIEWS = {
  overview: overview.render,
  prompt: promptView.render,
  tokens: tokensView.render,
  embeddings: embeddingsView.render,
  layer: layerView.render,
  logits: (root) => logitsView.render(root, 'logits'),
  next: (root) => logitsView.render(root, 'next'),
  lens: lensView.render,
  attribution: attributionView.render,
  neighbours: neighboursView.render,
};

let current = null;

function renderLoading() {
  const box = $('loading');
  const l = state.loading;
  box.hidden = !l;
  if (!l) return box.replaceChildren();
  const kb = (n) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MB` : `${(n / 1024).toFixed(0)} KB`);
  const rows = Object.entries(l.files).map(([file, p]) =>
    el(
      'div',
      { class: 'progress-row' },
      el('span', { class: 'mono' }, file),
      el('progress', { max: '1', value: p.total ? String(p.loaded / p.total) : null, 'aria-label': `${p.phase === 'convert' ? 'Converting' : 'Downloading'} ${file}` }),
      el('span', { class: 'small muted' }, p.phase === 'convert' ? `converting to f32: layer ${p.loaded} of ${p.total}` : `${kb(p.loaded)}${p.total ? ` of ${kb(p.total)}` : ''}`),
    ),
  );
  box.replaceChildren(el('p', {}, `Loading ${l.label}…`), ...rows);
}

function renderError() {
  const box = $('error');
  const e = state.error;
  box.hidden = !e;
  if (!e) return box.replaceChildren();
  const def = state.models[0];
  box.replaceChildren(
    el('h2', {}, e.title),
    el('p', { class: 'error-message' }, e.message),
    e.hint ? el('p', { class: 'muted' }, e.hint) : null,
    el(
      'div',
      { class: 'row' },
      e.retry ? el('button', { type: 'button', onclick: e.retry }, e.title === 'The engine stopped' ? 'Reload the model' : 'Try again') : null,
      e.back ? el('button', { type: 'button', onclick: () => actions.loadModel(e.back) }, `Back to ${e.back.label || e.back.repo || 'the previous model'}`) : null,
      !e.back && def && state.source && state.source.url !== def.url ? el('button', { type: 'button', onclick: () => actions.loadEntry(def) }, 'Load the default model') : null,
    ),
  );
}

function render() {
  busy();
  renderLoading();
  renderError();
  $('notice').hidden = !state.notice;
  $('notice').textContent = state.notice || '';
  const status = $('prompt-status');
  status.textContent = state.status.text;
  status.className = 'prompt-status' + (state.status.warn ? ' warn' : '');
  $('chat-toggle').hidden = !(state.info && state.info.chat);
  $('chat').checked = state.chat;
  if (document.activeElement !== $('prompt')) $('prompt').value = state.prompt;
  renderChips($('chips'));
  renderPipeline($('pipeline'));
  renderModelPanel($('model-panel'));
  renderStage();
  renderCompare($('compare'));
}

/** The stage's view alone: what a data arrival changes (the panels around it keep their
 * focus and what is typed in them). */
function renderStage() {
  if (current && current.destroy) current.destroy();
  current = null;
  const root = $('stage');
  root.replaceChildren();
  if (!state.run) {
    const msg = state.info ? 'Type a prompt to see the model run.' : state.error ? 'No model is loaded (see the message above).' : 'The model is loading…';
    root.append(el('p', { class: 'muted' }, msg));
    return;
  }
  const s = stages()[Math.min(stages().length - 1, Math.max(0, stages().findIndex((x) => x.id === state.stage)))];
  current = VIEWS[s.id](root) || {};
  if (state.hover != null && current.highlight) current.highlight(state.hover);
}

on('render', render);
on('data', () => {
  busy();
  const moved = $('bytes-moved');
  if (moved) moved.textContent = bytesMovedText();
  renderStage();
});
on('progress', renderLoading);
function busy() {
  $('stage').setAttribute('aria-busy', String(state.running || state.busy || state.fetching > 0));
}
on('status', () => {
  $('prompt-status').textContent = state.status.text;
  busy();
});
on('hover', (i) => {
  highlightChips($('chips'), i);
  if (current && current.highlight) current.highlight(i);
});

function onKey(e) {
  const t = e.target;
  if (t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'CANVAS')) return;
  if (!state.run || e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.key === 'ArrowRight') actions.step();
  else if (e.key === 'ArrowLeft') actions.stepBack();
  else if (current && current.key && current.key(e)) {
    /* handled by the view */
  } else return;
  e.preventDefault();
}

function main() {
  const prompt = $('prompt');
  prompt.addEventListener('input', () => actions.setPrompt(prompt.value));
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      actions.setPrompt(prompt.value, { now: true });
    }
  });
  $('chat').addEventListener('change', (e) => actions.setChat(e.target.checked));
  $('export-run').addEventListener('click', async () => downloadBlob(await actions.exportRun(), 'llm-xray-run.json'));
  $('copy-link').addEventListener('click', async () => {
    const link = actions.link();
    try {
      await navigator.clipboard.writeText(link);
      $('copy-link').textContent = 'Link copied';
    } catch {
      $('copy-link').textContent = 'Copy failed: the link is in the address bar';
    }
    setTimeout(() => ($('copy-link').textContent = 'Copy link'), 2500);
  });
  const palette = $('palette');
  palette.append(...PALETTE_NAMES.map((n) => el('option', { value: n }, paletteLabel(n))));
  palette.addEventListener('change', () => actions.setPalette(palette.value));
  on('render', () => (palette.value = state.palette));
  document.addEventListener('keydown', onKey);
  // Model files dropped anywhere on the page are read here, never uploaded.
  document.addEventListener('dragover', (e) => {
    if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    if (!files.length) return;
    e.preventDefault();
    actions.loadModel({ kind: 'files', files, label: files.map((f) => f.name).join(', ') });
  });
  actions.init();
}

main();
