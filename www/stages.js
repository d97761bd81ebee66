// @ts-check
// The page's stages, in the order the strip shows them and Step walks them: the model's
// own stages, then the instruments that ask why. The strip (views/pipeline.js), the URL
// (url.js), Step and the keys (controller.js) and the stage view (main.js) all read this
// list: adding a stage is one entry here and its view module in views/.
//
// Views are loaded by `view()` (a dynamic import) so that this list, which the controller
// reads, does not import the views, which import the controller.

/**
 * What a view's render returns: how to highlight a token in it, what to free when it is
 * replaced, keys it handles itself (return true when handled), and how it shows the head
 * census's progress without being redrawn.
 * @typedef {object} ViewHandle
 * @property {(i: number | null) => void} [highlight]
 * @property {() => void} [destroy]
 * @property {(e: KeyboardEvent) => boolean} [key]
 * @property {() => void} [census]
 */

/**
 * A view module: draws one stage from the state into `root`.
 * @typedef {{render: (root: HTMLElement, stage: Stage) => ViewHandle | void}} ViewModule
 */

/**
 * @typedef {'model' | 'why' | 'look'} StageGroup
 * @typedef {object} StageDef
 * @property {string} id its name in the URL (?stage=)
 * @property {string} label its button in the strip
 * @property {StageGroup} group
 * @property {true} [perLayer] one stage per layer, labelled "Layer 1", "Layer 2", …
 * @property {readonly {id: string, label: string}[]} [parts] a per-layer stage's parts, in
 *   the order Step walks them (?sub=)
 * @property {true} [layerHead] the view shows one layer and head (kept in the URL, as a
 *   per-layer stage keeps them)
 * @property {() => Promise<ViewModule>} view its view module
 */

/** What the strip writes before the first stage of a group (null: nothing). */
export const GROUP_LABELS = /** @type {const} */ ({ model: null, why: 'Why?', look: 'Closer look' });

/** @type {readonly StageDef[]} */
export const STAGES = [
    { id: 'overview', label: 'Overview', group: 'model', view: () => import('./views/overview.js') },
    { id: 'prompt', label: 'Prompt', group: 'model', view: () => import('./views/prompt.js') },
    { id: 'tokens', label: 'Tokens', group: 'model', view: () => import('./views/tokens.js') },
    { id: 'embeddings', label: 'Embeddings', group: 'model', view: () => import('./views/embeddings.js') },
    {
      id: 'layer',
      label: 'Layer',
      group: 'model',
      perLayer: true,
      parts: [
        { id: 'attention', label: 'Attention' },
        { id: 'mlp', label: 'MLP' },
        { id: 'residual', label: 'Residual stream' },
      ],
      view: () => import('./views/layer.js'),
    },
    { id: 'logits', label: 'Logits', group: 'model', view: () => import('./views/logits.js') },
    { id: 'next', label: 'Next token', group: 'model', view: () => import('./views/logits.js') },
    { id: 'lens', label: 'Logit lens', group: 'why', view: () => import('./views/lens.js') },
    { id: 'attribution', label: 'Attribution', group: 'why', view: () => import('./views/attribution.js') },
    { id: 'neighbours', label: 'Embedding space', group: 'why', view: () => import('./views/neighbours.js') },
    { id: 'contrast', label: 'Same word, two sentences', group: 'look', view: () => import('./views/contrast.js') },
    { id: 'matrix', label: 'Batched matrix', group: 'look', layerHead: true, view: () => import('./views/matrix.js') },
];

/**
 * One place in the strip: a stage, and its layer (0-based) for a per-layer stage.
 * @typedef {object} Stage
 * @property {StageDef} def
 * @property {string} id
 * @property {string} label
 * @property {StageGroup} group
 * @property {number | null} layer
 */

/**
 * The stage named `id`, or undefined.
 * @param {string | null} id
 */
export function stageDef(id) {
  return STAGES.find((s) => s.id === id);
}

/**
 * The parts of the per-layer stage (attention, MLP, residual stream).
 * @returns {readonly {id: string, label: string}[]}
 */
export function layerParts() {
  return STAGES.find((s) => s.perLayer)?.parts ?? [];
}

/**
 * Every place in the strip for a model of `nLayer` layers, in order.
 * @param {number} nLayer
 * @returns {Stage[]}
 */
export function stageList(nLayer) {
  /** @type {Stage[]} */
  const out = [];
  for (const def of STAGES) {
    if (!def.perLayer) out.push({ def, id: def.id, label: def.label, group: def.group, layer: null });
    else for (let l = 0; l < nLayer; l++) out.push({ def, id: def.id, label: `${def.label} ${l + 1}`, group: def.group, layer: l });
  }
  return out;
}

/**
 * Where stage `id` (at `layer`, for a per-layer stage) is in `list`: 0 if it is not there.
 * @param {Stage[]} list
 * @param {string} id
 * @param {number} layer
 */
export function stageIndex(list, id, layer) {
  const i = list.findIndex((s) => s.id === id && (s.layer == null || s.layer === layer));
  return Math.max(0, i);
}
