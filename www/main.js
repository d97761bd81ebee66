// @ts-check
// The page: draws the panels from the state and wires the prompt, keys and drops to the
// controller's actions. Views live in views/ (the stages' views are listed in stages.js);
// none of them changes the state itself.
import { state, on, emit, stageBusy, sourceUrl } from './store.js';
import { STAGES, stageList, stageIndex } from './stages.js';
import { actions } from './controller.js';
import { el } from './dom.js';
import { PALETTE_NAMES, paletteLabel } from './colors.js';
import { downloadBlob } from './export.js';
import { renderChips, highlightChips } from './views/chips.js';
import { renderPipeline } from './views/pipeline.js';
import { renderModelPanel, bytesMovedText, memoryText } from './views/model.js';
import { renderCompare } from './views/compare.js';
import { renderTour, openTour, wireTourKeys } from './views/tour.js';

/** @typedef {import('./stages.js').ViewModule} ViewModule */
/** @typedef {import('./stages.js').ViewHandle} ViewHandle */

/** @param {string} id */
const $ = (id) => document.getElementById(id);

/** The stages' views by stage id, once loaded (they load while the model does). */
/** @type {Map<string, ViewModule>} */
const views = new Map();
let viewsReady = false;
Promise.all(STAGES.map(async (s) => views.set(s.id, await s.view()))).then(() => {
  viewsReady = true;
  emit('render');
});

/** @type {ViewHandle | null} the view on the stage */
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
      e.back ? el('button', { type: 'button', onclick: () => actions.loadModel(e.back) }, `Back to ${e.back.label || ('repo' in e.back && e.back.repo) || 'the previous model'}`) : null,
      !e.back && def && state.source && sourceUrl(state.source) !== def.url ? el('button', { type: 'button', onclick: () => actions.loadEntry(def) }, 'Load the default model') : null,
    ),
  );
}

function render() {
  renderLoading();
  renderError();
  $('notice').hidden = !state.notice;
  $('notice').textContent = state.notice || '';
  const status = $('prompt-status');
  status.textContent = state.status.text;
  status.className = 'prompt-status' + (state.status.warn ? ' warn' : '');
  const chat = state.info && state.info.chat;
  $('chat-toggle').hidden = !chat;
  $('chat-format').textContent = chat ? chat.name : '';
  /** @type {HTMLInputElement} */ ($('chat')).checked = state.chat;
  const prompt = /** @type {HTMLTextAreaElement} */ ($('prompt'));
  if (document.activeElement !== prompt) prompt.value = state.prompt;
  renderChips($('chips'));
  renderPipeline($('pipeline'));
  renderModelPanel($('model-panel'));
  renderCompare(/** @type {HTMLDetailsElement} */ ($('compare')));
  renderStage();
  renderTour($('tour'));
}

/** The stage's view alone: what a data arrival changes (the panels around it keep their
 * focus and what is typed in them). */
function renderStage() {
  if (current && current.destroy) current.destroy();
  current = null;
  const root = $('stage');
  root.replaceChildren();
  if (!state.run || !viewsReady) {
    const msg = !state.info ? (state.error ? 'No model is loaded (see the message above).' : 'The model is loading…') : state.run ? 'Loading the view…' : 'Type a prompt to see the model run.';
    root.append(el('p', { class: 'muted' }, msg));
    return markStage();
  }
  const list = stageList(state.info.config.n_layer);
  const stage = list[stageIndex(list, state.stage, state.layer)];
  current = views.get(stage.id).render(root, stage) || {};
  if (state.hover != null && current.highlight) current.highlight(state.hover);
  markStage();
}

/** Ties the stage to the run its view was drawn from: data-run is that run's number
 * (state.runSeq), and aria-busy stays "true" while the view may still change without anyone
 * acting (a run, or data it asked for, on its way). Tests wait on these, as assistive
 * technology does. */
function markStage() {
  const root = $('stage');
  root.dataset.run = String(state.runSeq);
  root.setAttribute('aria-busy', String(stageBusy() || !viewsReady));
}

on('render', render);
on('data', () => {
  const moved = $('bytes-moved');
  if (moved) moved.textContent = bytesMovedText();
  renderStage();
  renderTour($('tour'));
});
on('progress', renderLoading);
on('memory', () => {
  const memory = $('wasm-memory');
  if (memory) memory.textContent = memoryText();
});
on('status', () => {
  const status = $('prompt-status');
  status.textContent = state.status.text;
  status.className = 'prompt-status' + (state.status.warn ? ' warn' : '');
  markStage();
});
on('train', () => {
  if (current && current.train) current.train();
});
on('census', () => {
  if (current && current.census) current.census();
  markStage();
});
on('hover', (i) => {
  highlightChips($('chips'), i);
  if (current && current.highlight) current.highlight(i);
});

/** @param {KeyboardEvent} e */
function onKey(e) {
  const t = /** @type {HTMLElement} */ (e.target);
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
  const prompt = /** @type {HTMLTextAreaElement} */ ($('prompt'));
  prompt.addEventListener('input', () => actions.setPrompt(prompt.value));
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      actions.setPrompt(prompt.value, { now: true });
    }
  });
  $('chat').addEventListener('change', (e) => actions.setChat(/** @type {HTMLInputElement} */ (e.target).checked));
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
  const palette = /** @type {HTMLSelectElement} */ ($('palette'));
  palette.append(...PALETTE_NAMES.map((n) => el('option', { value: n }, paletteLabel(n))));
  palette.addEventListener('change', () => actions.setPalette(palette.value));
  on('render', () => (palette.value = state.palette));
  document.addEventListener('keydown', onKey);
  $('tour-open').addEventListener('click', openTour);
  wireTourKeys();
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
