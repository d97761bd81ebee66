// @ts-check
// The Train stage's state and actions: the learner's settings and their learned-parameter
// count, the runs (the current one and those of earlier seeds, kept to compare), and the
// requests that start, pause, reset, open and download a run in the worker. Only this module
// changes `train`; views/train.js draws it and calls these actions. Each progress message
// emits the store's `train` event, which redraws the stage's pictures in place.

import { state, emit } from './store.js';
import { actions, engine, onTrainEvent } from './controller.js';
import { downloadBlob } from './export.js';
import { zip } from './zip.js';

/**
 * @typedef {import('./protocol.js').TrainSettings} TrainSettings
 * @typedef {import('./protocol.js').TrainPlan} TrainPlan
 * @typedef {import('./protocol.js').TrainProgress} TrainProgress
 * @typedef {import('./protocol.js').TrainHead} TrainHead
 *
 * One run: its seed and task, each step's loss, the held-out losses, and the census after
 * each progress message (the phase change shows in it beside the loss curve).
 * @typedef {object} RunRecord
 * @property {number} seed
 * @property {string} task
 * @property {number[]} losses the loss of step k + 1
 * @property {[number, number][]} heldOut [step, loss]
 * @property {{step: number, heads: TrainHead[]}[]} census
 * @property {TrainHead | null} best
 * @property {number} startedAt performance.now() when Start was pressed
 * @property {number | null} inductionAt seconds from Start until induction first reached 0.5 in layer ≥ 2
 *
 * @typedef {'idle' | 'starting' | 'running' | 'paused' | 'failed'} TrainStatus
 */

export const train = {
  /** @type {TrainSettings | null} the settings in the form (null until the recipe arrives) */
  settings: null,
  vocab: 0,
  /** @type {TrainPlan | null} */
  plan: null,
  /** @type {string | null} why the settings cannot be counted (a bad width, …) */
  planError: null,
  /** @type {TrainStatus} */
  status: /** @type {TrainStatus} */ ('idle'),
  /** @type {string | null} the last error, in words */
  message: null,
  /** the worker's number of the run on screen */
  run: 0,
  /** @type {RunRecord | null} */
  current: null,
  /** @type {RunRecord[]} earlier seeds' runs, oldest first */
  previous: [],
  /** @type {TrainProgress | null} the last progress message (its losses and speed) */
  last: null,
  /** @type {TrainProgress | null} the last measured one (census, pictures, status line) */
  measured: null,
  /** progress messages drawn (the stage's data-progress, which tests wait on) */
  received: 0,
  /** the settings changed since the run on screen started: Start begins a fresh run */
  edited: false,
  /** counts the learned-parameter counts made (the stage's data-plans, which tests wait on) */
  plans: 0,
  /** the settings' run is being opened in the views */
  opening: false,
};

/** The default model's tokenizer.json: every trained model shares its vocabulary. */
function tokenizerUrl() {
  const def = state.models.find((m) => !m.file);
  if (!def) throw new Error('www/models/index.json lists no Hugging Face folder whose tokenizer.json the Train stage could use');
  return new URL('tokenizer.json', def.url).href;
}

const changed = () => emit('train');
/** @type {Promise<void> | null} the request for the recipe's settings, once */
let initializing = null;

onTrainEvent((m) => {
  if (m.run !== train.run) return;
  if (m.error) {
    train.status = 'failed';
    train.message = `Training stopped: ${m.error}`;
  } else if (m.paused) {
    if (train.status === 'running') train.status = 'paused';
  } else if (m.progress && train.current) {
    const p = m.progress;
    const r = train.current;
    for (const { step, loss } of p.losses) r.losses[step - 1] = loss;
    if (p.measured) {
      if (p.held_out != null) r.heldOut.push([p.step, p.held_out]);
      r.census.push({ step: p.step, heads: p.census });
      r.best = p.best;
      if (r.inductionAt == null && p.best && p.best.induction >= 0.5) r.inductionAt = (performance.now() - r.startedAt) / 1e3;
      train.measured = p;
    }
    train.last = p;
    train.received++;
  }
  changed();
});

export const trainActions = {
  /** Asks the worker for the recipe's settings (once). */
  init() {
    if (!initializing) initializing = trainActions.fetchDefaults();
    return initializing;
  },

  async fetchDefaults() {
    try {
      const d = await engine().request({ type: 'trainDefaults', tokenizer: tokenizerUrl() });
      train.settings = d.settings;
      train.vocab = d.vocab;
      await trainActions.replan();
    } catch (e) {
      train.message = `The Train stage could not start: ${e.message}`;
      train.status = 'failed';
    }
    changed();
  },

  /**
   * Changes settings (a field the learner typed) and recounts the learned parameters.
   * @param {Partial<TrainSettings>} patch
   */
  async set(patch) {
    Object.assign(train.settings, patch);
    if (train.current) train.edited = true;
    await trainActions.replan();
    changed();
  },

  async replan() {
    try {
      train.plan = await engine().request({ type: 'trainPlan', settings: train.settings, vocab: train.vocab });
      train.planError = null;
    } catch (e) {
      train.plan = null;
      train.planError = e.message;
    }
    train.plans++;
  },

  /** Starts a fresh run (or resumes a paused one with `fresh` false). */
  async start(fresh = train.status !== 'paused' || train.edited) {
    if (train.plan && train.plan.refusal) {
      train.message = train.plan.refusal;
      return changed();
    }
    train.status = 'starting';
    train.message = null;
    changed();
    try {
      const { run } = await engine().request({ type: 'trainStart', settings: train.settings, tokenizer: tokenizerUrl(), fresh });
      if (fresh || !train.current) {
        train.current = { seed: train.settings.seed, task: train.settings.task, losses: [], heldOut: [], census: [], best: null, startedAt: performance.now(), inductionAt: null };
        train.last = train.measured = null;
      }
      train.run = run;
      train.edited = false;
      train.status = 'running';
    } catch (e) {
      train.status = train.current ? 'paused' : 'idle';
      train.message = e.message;
    }
    changed();
  },

  async pause() {
    if (train.status !== 'running') return;
    train.status = 'paused';
    changed();
    await engine().request({ type: 'trainPause' });
  },

  /** Drops the run and every earlier one. */
  async reset() {
    await engine().request({ type: 'trainReset' });
    Object.assign(train, { status: 'idle', message: null, current: null, previous: [], last: null, measured: null });
    changed();
  },

  /** Keeps this run's curves and census beside the next, and starts again from the next seed. */
  async again() {
    if (train.current) train.previous.push(train.current);
    train.current = null;
    train.settings.seed += 1;
    await trainActions.start(true);
  },

  /** Loads the trained model as it is now into every other stage; its heads get the
   * census's names. */
  async open() {
    if (!train.current) return;
    if (train.status === 'running') await trainActions.pause();
    const step = train.last ? train.last.step : 0;
    train.opening = true;
    changed();
    await actions.loadModel({ kind: 'trained', label: `trained in this tab: ${train.settings.task}, seed ${train.current.seed}, step ${step}` });
    if (state.info && state.source && state.source.kind === 'trained') {
      actions.navigate({ stage: 'overview' }, { push: true });
      actions.startCensus();
    }
    train.opening = false;
  },

  /** Saves the Hugging Face folder (config.json, model.safetensors, tokenizer.json) as one zip. */
  async download() {
    try {
      const files = await engine().request({ type: 'trainFiles' });
      const folder = `llm-xray-trained-${train.settings.task}-seed${train.current ? train.current.seed : train.settings.seed}-step${train.last ? train.last.step : 0}`;
      downloadBlob(zip(files.map((f) => ({ name: `${folder}/${f.name}`, bytes: f.bytes }))), `${folder}.zip`);
    } catch (e) {
      train.message = `Could not download the model: ${e.message}`;
      changed();
    }
  },
};

/**
 * The status line: `step 420 · loss 2.31 · induction 0.72 (layer 2, head 1)`, all of one
 * measured step (the loss is that step's batch loss).
 * @returns {string}
 */
export function statusLine() {
  const p = train.measured;
  if (!p) return train.status === 'starting' ? 'starting…' : train.status === 'failed' ? 'stopped before its first progress (the message below says why)' : 'not started: press Start';
  const loss = p.losses[p.losses.length - 1].loss;
  const head = p.best ? ` · induction ${p.best.induction.toFixed(2)} (layer ${p.best.layer}, head ${p.best.head})` : ' · induction: no head in layer 2 or later';
  return `step ${p.step} · loss ${loss.toFixed(2)}${head}`;
}
