// @ts-check
// The guided tour's steps, in the order of the story: how a language model turns a prompt
// into its next token, told on the learner's own prompt and whatever model is loaded.
// Each step names the view that shows it (a stage of stages.js, opened by the tour), what
// to highlight there, its text (a function of the live state: the numbers in it are the
// model's, computed for this prompt), and one-click actions where it suggests a prompt, a
// model or a setting. views/tour.js draws the panel; the controller moves between steps.
import { state, emit } from './store.js';
import { stageDef } from './stages.js';
import { actions } from './controller.js';
import { data, failed } from './data.js';
import { quotedLabel } from './tokens.js';
import { el, fmtCount, pct } from './dom.js';

/**
 * A one-click action a step offers.
 * @typedef {{label: string, run: () => void, id?: string}} TourAction
 *
 * @typedef {object} TourStep
 * @property {string} title
 * @property {() => import('./controller.js').ViewPatch} view the view the step opens
 * @property {string[]} highlight selectors of what the step points at
 * @property {() => string[]} text its paragraphs
 * @property {() => TourAction[]} [actions]
 * @property {() => HTMLElement} [figure] a small picture in the panel itself
 */

/** The stage the Train stage has in stages.js (another part of the page adds it). */
export const TRAIN_STAGE = 'train';

/** Published learned-parameter counts of two small open models, for scale. */
const SMOLLM2_PARAMS = 134_515_008;
const GPT2_PARAMS = 124_439_808;

const cfg = () => state.info.config;

/** "1.3 million", "134.5 million", "7 billion". @param {number} n */
export function roughCount(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)} billion`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} million`;
  return fmtCount(n);
}

/** The model's most probable next token after the tokens on screen, once fetched. */
function topNext() {
  const d = data.distribution(state.at, 12);
  if (!d || failed(d) || !d.tokens.length) return null;
  return { label: quotedLabel(d.tokens[0].bytes), p: d.probs[0] };
}

/**
 * The census's clearest head of a kind: the previous-token head with the highest score (if
 * it reaches `min`), or the head it names induction with the highest score.
 * @param {'previous-token' | 'induction'} kind
 */
export function namedHead(kind) {
  const heads = state.heads;
  if (!heads || !heads.length) return null;
  if (kind === 'induction') {
    const named = heads.filter((h) => h.label === 'induction');
    return named.length ? named.reduce((a, b) => (b.score > a.score ? b : a)) : null;
  }
  const best = heads.reduce((a, b) => (b.previous_token > a.previous_token ? b : a));
  return best.previous_token >= 0.5 ? best : null;
}

/** Whether each model file beside the page is there (its URL answers a HEAD request). */
/** @type {Map<string, boolean | null>} */
const present = new Map();

/** The entry of www/models/index.json for SmolLM2, if the page lists it and its file is
 * there (it is fetched by `npm run models`, not shipped); null until that is known. */
export function smolEntry() {
  const entry = state.models.find((m) => /smollm2/i.test(m.folder));
  return entry && smolPresent(entry) ? entry : null;
}

/** Whether SmolLM2's file is beside the page: true, false, or null while that is asked.
 * @param {import('./store.js').ModelEntry} entry */
function smolPresent(entry) {
  if (!present.has(entry.url)) {
    present.set(entry.url, null);
    fetch(entry.url, { method: 'HEAD' })
      .then((r) => r.ok, () => false)
      .then((ok) => {
        present.set(entry.url, ok);
        if (state.tour.open) emit('render');
      });
  }
  return present.get(entry.url);
}

/** What step 11 says when the page lists SmolLM2 but this server does not have its file. */
function smolMissing() {
  const entry = state.models.find((m) => /smollm2/i.test(m.folder));
  return entry && smolPresent(entry) === false ? ` SmolLM2 is listed in the Checkpoint menu but its file is not on this server (${entry.fetch || 'npm run models'} fetches it), so it cannot be opened from here.` : '';
}

/** @type {TourStep[]} */
export const STEPS = [
  {
    title: 'Autocomplete, again and again',
    view: () => ({ stage: 'next' }),
    highlight: ['#stage', '#generate'],
    text: () => {
      const top = topNext();
      return [
        `A language model does one thing. Given the text so far, it assigns a probability to each of the ${fmtCount(cfg().vocab_size)} tokens it knows, saying how likely each is to come next. ` +
          (top ? `After your prompt, its favourite is ${top.label} at ${pct(top.p)}. ` : 'Its favourite next token after your prompt is being computed. ') +
          'One token is chosen (here the most probable), glued onto the end, and the model runs again on the longer text. Writing a paragraph is that loop, one token per turn.',
      ];
    },
    actions: () => [{ label: 'Generate one token', id: 'tour-generate', run: () => actions.generate() }],
  },
  {
    title: 'The parts of the machine',
    view: () => ({ stage: 'overview' }),
    highlight: ['#stage', '#pipeline'],
    text: () => [
      `The whole model on one screen, fed your prompt. A tokenizer cuts the text into tokens, and an embedding table turns each token into a vector of ${cfg().n_embd} numbers. ` +
        `Then ${cfg().n_layer} layers each do two things: self-attention lets every vector gather information from the vectors before it, and an MLP, a small neural network, reworks each vector by itself. ` +
        'Last, the final vector is scored against the whole vocabulary, giving the next-token probabilities. Every picture here is computed from your prompt.',
    ],
  },
  {
    title: 'Text becomes tokens',
    view: () => ({ stage: 'tokens' }),
    highlight: ['#stage', '#chips'],
    text: () => {
      const n = state.at;
      return [
        `Your prompt is ${n} token${n === 1 ? '' : 's'}. The tokenizer owns a fixed list of ${fmtCount(cfg().vocab_size)} pieces (common words with their leading space, parts of rarer words, single bytes) and rewrites any text as a sequence of their ids. ` +
          'From here on the model never sees letters, only these numbers. Type an unusual word into the prompt and watch it split into several pieces.',
      ];
    },
  },
  {
    title: 'Every token is a vector',
    view: () => ({ stage: 'embeddings' }),
    highlight: ['#stage'],
    text: () => [
      `Each id selects one row of the token-embedding table: a vector of ${cfg().n_embd} numbers, the same for that token in any prompt. ` +
        (cfg().rope_theta == null
          ? 'This model also adds a row of a second table for the token’s position. '
          : 'This model has no position table: it rotates queries and keys by position inside attention instead (RoPE). ') +
        'Everything after this point is arithmetic on vectors like these. In the heatmap each row of colour is one token of your prompt, each column one of the numbers.',
    ],
  },
  {
    title: 'One word, many meanings',
    view: () => ({ stage: 'contrast' }),
    highlight: ['#stage', '#contrast-chart'],
    text: () => {
      const c = data.contrast(state.contrast);
      const L = cfg().n_layer;
      const live =
        c && !failed(c)
          ? `In this model the cosine is ${c.cosine[0].toFixed(2)} at the embedding, ${c.cosine[1].toFixed(2)} after layer 1 and ${c.cosine[L].toFixed(2)} after layer ${L}; centred, it ends at ${c.centred[L].toFixed(2)}. `
          : 'The comparison is being computed. ';
      return [
        'A word can be a pet in one sentence and a verb in the next (“they dog his every step”), yet it enters the model as one embedding row. Each layer then moves the two copies according to their contexts. ' +
          live +
          'The centred line subtracts what all tokens share at that depth. No single number in a vector means “pet-ness”: that is only an analogy for patterns spread over many dimensions.',
      ];
    },
    actions: () => [
      { label: 'Use my prompt as sentence A', run: () => actions.setContrast({ a: state.prompt }) },
      { label: 'Nearest tokens (Embedding space)', run: () => actions.navigate({ stage: 'neighbours' }) },
    ],
  },
  {
    title: 'Attention: looking back',
    view: () => {
      const h = namedHead('previous-token');
      return { stage: 'layer', sub: 'attention', layer: h ? h.layer - 1 : 0, head: h ? h.head - 1 : 0 };
    },
    highlight: ['#stage', '#attention-heatmap'],
    text: () => {
      const prev = namedHead('previous-token');
      const ind = namedHead('induction');
      const census = !state.heads
        ? 'The head census is still naming this model’s heads. '
        : (prev
            ? `The head census calls layer ${prev.layer}, head ${prev.head} a previous-token head (${prev.previous_token.toFixed(2)}): nearly every token attends to the one just before it. `
            : 'The head census finds no clear previous-token head in this model. ') +
          (ind
            ? `Layer ${ind.layer}, head ${ind.head} is an induction head (${ind.score.toFixed(2)}): when a token repeats, it attends to whatever followed the earlier copy, so the model can continue the pattern. `
            : 'The census names no induction head in this model, so that pattern cannot be shown here. ');
      return [
        'Self-attention is where the vectors exchange information. In each head, every token scores all earlier tokens and takes a weighted blend of their values; each row of the map is one token’s weights, summing to 1. ' + census,
      ];
    },
    actions: () => {
      const out = [];
      const prev = namedHead('previous-token');
      if (prev) out.push({ label: `Open the previous-token head ${prev.layer}.${prev.head}`, run: () => actions.navigate({ stage: 'layer', sub: 'attention', layer: prev.layer - 1, head: prev.head - 1 }) });
      const ind = namedHead('induction');
      if (ind) out.push({ label: `Show induction head ${ind.layer}.${ind.head} on a repeated sequence`, id: 'tour-induction', run: () => actions.inductionDemo(ind.layer - 1, ind.head - 1) });
      return out;
    },
  },
  {
    title: 'The MLP and the residual stream',
    view: () => ({ stage: 'layer', sub: 'mlp', layer: state.layer }),
    highlight: ['#stage'],
    text: () => [
      `After attention, each token’s vector goes through an MLP by itself: widened to ${fmtCount(cfg().n_inner)} hidden neurons, passed through a nonlinearity (${cfg().gated_mlp ? 'SiLU of a gate times an up projection' : 'GELU'}), and projected back down to ${cfg().n_embd} numbers. ` +
        'Attention and the MLP never replace the vector; what they compute is added to it. That running sum is the residual stream, and its tab shows how much each block added for each token.',
    ],
    actions: () => [{ label: 'Open the residual stream', run: () => actions.navigate({ stage: 'layer', sub: 'residual' }) }],
  },
  {
    title: 'Scores become probabilities',
    view: () => ({ stage: 'logits' }),
    highlight: ['#stage', '.sampling'],
    text: () => [
      'After the last layer, the final vector is compared with every token’s row of the unembedding, which gives one score per token: the logits. Softmax turns the scores into probabilities that add up to 1. ' +
        'Temperature sharpens or flattens them, and top-k and top-p drop the unlikely tail before a token is drawn. Moving a slider only changes the choosing; the model does not run again.',
    ],
    actions: () => [{ label: 'Try the prompt “To be, or not to”', run: () => actions.setPrompt('To be, or not to', { now: true }) }],
  },
  {
    title: 'Three kinds of numbers',
    view: () => ({ stage: 'matrix' }),
    highlight: ['#stage', '#stage .kind', '#model-panel'],
    text: () => {
      const c = cfg();
      const T = state.at;
      const resid = T * c.n_embd * (c.n_layer + 1);
      return [
        'Each view wears badges saying which kind of number it shows. ' +
          `Hyperparameters were chosen by people before training: here ${c.n_layer} layers, ${c.n_head} heads, vectors of ${c.n_embd}. ` +
          `Learned parameters are the weights training settled on, ${fmtCount(state.info.total_parameters)} in this model, fixed while you use it. ` +
          `Activations are computed afresh from your prompt: the residual stream alone holds ${T} × ${c.n_embd} × ${c.n_layer + 1} = ${fmtCount(resid)} of them right now.`,
      ];
    },
  },
  {
    title: 'Vectors become matrices',
    view: () => ({ stage: 'matrix' }),
    highlight: ['#stage', '#matrix-timing', '#backend-status'],
    text: () => {
      const c = cfg();
      const r = state.run;
      const where = r.backend.kind === 'gpu' ? 'the GPU, through WebGPU' : 'the CPU, in WebAssembly';
      return [
        `The story speaks of one vector per token, but nobody computes it that way. Stack the ${state.at} token vectors into a ${state.at} × ${c.n_embd} matrix, multiply it by one head’s ${c.n_embd} × ${c.head_dim} query weights, and a single product yields every query at once. ` +
          `A GPU is built for exactly this: thousands of multiply-adds side by side. Your last run took ${r.elapsed_ms.toFixed(1)} ms on ${where}.`,
      ];
    },
    actions: () => {
      const gpu = state.backend && state.backend.kind === 'gpu';
      return [{ label: gpu ? 'Run on the CPU instead' : 'Try WebGPU', run: () => actions.setBackend(gpu ? 'cpu' : 'webgpu') }];
    },
  },
  {
    title: 'How big is big?',
    view: () => ({ stage: 'overview' }),
    highlight: ['#stage', '#model-panel', '#tour-scale'],
    text: () => [
      `This model has ${roughCount(state.info.total_parameters)} learned parameters (${fmtCount(state.info.total_parameters)}). ` +
        `SmolLM2-135M, a small real assistant, has ${roughCount(SMOLLM2_PARAMS)}; GPT-2 from 2019, ${roughCount(GPT2_PARAMS)}. ` +
        'Frontier LLMs reach hundreds of billions, far beyond what a browser tab could hold. The recipe barely changes with size: more layers, wider vectors, more heads, and vastly more text to learn from.' +
        smolMissing(),
    ],
    figure: scaleFigure,
    actions: () => {
      const smol = smolEntry();
      const onSmol = smol && state.source && 'url' in state.source && state.source.url === smol.url;
      if (onSmol && state.models[0]) return [{ label: `Back to ${state.models[0].name}`, run: () => actions.loadEntry(state.models[0]) }];
      return smol ? [{ label: 'Switch to SmolLM2-135M', id: 'tour-smollm2', run: () => actions.loadEntry(smol) }] : [];
    },
  },
  {
    title: 'Training versus inference',
    view: () => ({ stage: TRAIN_STAGE }),
    highlight: ['#stage'],
    text: () => [
      'Everything so far was inference: the weights stayed fixed while your prompt flowed through them. Training is how they got their values. ' +
        'The Train stage starts a small model from random noise and nudges every weight, step after step, so that the next token of real text becomes more probable. Watch an induction head appear along the way, then train again with another seed: other heads take the job, and the ability comes back.' +
        (stageDef(TRAIN_STAGE) ? '' : ' (This build of the page has no Train stage yet, so the overview stays on screen.)'),
    ],
  },
  {
    title: 'Asking why',
    view: () => ({ stage: 'lens' }),
    highlight: ['#stage'],
    text: () => [
      'Trained weights come with no labels, so researchers probe them from outside. The logit lens reads the residual stream after each layer as though it were the last. ' +
        'Attribution splits the final score of a token into what each head and MLP wrote. Ablation switches a head off and measures what changes. Tools like these are how people check what training actually built.',
    ],
    actions: () => [
      { label: 'Open attribution', run: () => actions.navigate({ stage: 'attribution' }) },
      {
        label: 'Switch heads off (ablation)',
        run: () => {
          actions.navigate({ stage: 'layer', sub: 'attention' });
          actions.setAblationEditing(true);
        },
      },
    ],
  },
];

/**
 * Learned-parameter counts on a logarithmic scale (each step of the axis is ×10): this
 * model's, SmolLM2's and GPT-2's, and the span "hundreds of billions" where frontier models
 * sit (their makers rarely publish exact counts, so it is drawn as a span, not a bar).
 */
function scaleFigure() {
  const [lo, hi] = [4, 13];
  const at = (/** @type {number} */ n) => `${((Math.log10(n) - lo) / (hi - lo)) * 100}%`;
  /** @type {(name: string, n: number, cls: string) => HTMLElement} */
  const bar = (name, n, cls) =>
    el('li', {}, el('span', { class: 'scale-name' }, name), el('span', { class: 'scale-track' }, el('span', { class: `scale-bar ${cls}`, style: { width: at(n) } })), el('span', { class: 'scale-num' }, roughCount(n)));
  return el(
    'figure',
    { class: 'tour-scale', id: 'tour-scale' },
    el(
      'ul',
      { 'aria-label': 'Learned parameters, logarithmic scale' },
      bar('this model', state.info.total_parameters, 'this'),
      bar('GPT-2', GPT2_PARAMS, ''),
      bar('SmolLM2-135M', SMOLLM2_PARAMS, ''),
      el(
        'li',
        {},
        el('span', { class: 'scale-name' }, 'frontier LLMs'),
        el('span', { class: 'scale-track' }, el('span', { class: 'scale-span', style: { left: at(1e11), width: `calc(${at(1e12)} - ${at(1e11)})` } })),
        el('span', { class: 'scale-num' }, 'hundreds of billions'),
      ),
    ),
    el('figcaption', { class: 'muted small' }, 'Logarithmic scale: each tick is ten times the one before, from 10 thousand to 10 trillion.'),
  );
}
