// @ts-check
// The data views draw: each view asks for what it needs from the engine about the run on
// screen; the answer is fetched once, kept until the next run, and redraws the stage when
// it arrives. Every answer carries the number of the context's run it was computed from
// (protocol.js RunNumber): one about another run than the one on screen is dropped, so a
// view never shows one context's activations under another's tokens.
import { state, emit } from './store.js';

/**
 * @typedef {import('./protocol.js').Request} Request
 * @typedef {import('./protocol.js').Ctx} Ctx
 * @typedef {import('./protocol.js').ErrorKind} ErrorKind
 * @typedef {import('./protocol.js').LensLayer} LensLayer
 * @typedef {import('./client.js').EngineClient} EngineClient
 */
/**
 * @template {import('./protocol.js').RequestType} K
 * @typedef {import('./protocol.js').ResultOf<K>} ResultOf
 */
/**
 * What a view shows when its request failed.
 * @typedef {{error: string, kind: ErrorKind}} Failed
 */
/**
 * A view's data: the result, {error, kind} when the request failed, or undefined while it
 * is on its way (the view shows a placeholder; the answer redraws the stage).
 * @template T
 * @typedef {T | Failed | undefined} Fetched
 */

/** @type {EngineClient | null} */
let client = null;
/** Requests in flight, by run and request. */
const pending = new Set();

/** The model's own next-token distribution: softmax of the logits, nothing cut. */
const RAW = { temperature: 1, topK: 0, topP: 1 };

/**
 * Where data requests go (the controller's client, once it exists).
 * @param {EngineClient} c
 */
export function connect(c) {
  client = c;
}

/**
 * Whether a fetched value is a failure.
 * @param {unknown} v
 * @returns {v is Failed}
 */
export function failed(v) {
  return v != null && typeof v === 'object' && 'error' in v && 'kind' in v;
}

/** @param {Ctx} ctx */
const runOf = (ctx) => (ctx === 'compare' ? state.compare.engineRun : state.engineRun);

/**
 * The answer to `request` about the run on screen in context `ctx`, or undefined while it
 * is fetched.
 * @template {Request} R
 * @param {R} request
 * @param {Ctx} [ctx]
 * @returns {Fetched<ResultOf<R['type']>>}
 */
function fetched(request, ctx = 'main') {
  const run = runOf(ctx);
  const key = `${ctx}@${run}|${JSON.stringify(request)}`;
  const have = state.data.get(key);
  if (have) return /** @type {Fetched<ResultOf<R['type']>>} */ (have.value);
  const seq = state.runSeq;
  const flight = `${seq}|${key}`;
  if (client && !pending.has(flight)) {
    pending.add(flight);
    state.fetching = pending.size;
    client
      .send(request, ctx)
      .then(
        (reply) => {
          state.bytesMoved += sizeOf(reply.result);
          return reply;
        },
        (e) => ({ run: e.run ?? run, result: /** @type {Failed} */ ({ error: e.message, kind: e.kind }) }),
      )
      .then((reply) => {
        pending.delete(flight);
        state.fetching = pending.size;
        // Computed from another run than the one on screen (the worker ran a newer prompt
        // that the page has not shown yet, or the page moved on): dropped. The view asks
        // again once its run is on screen.
        if (seq !== state.runSeq || run !== runOf(ctx) || reply.run !== run) return emit('status');
        state.data.set(key, { request, ctx, value: reply.result });
        emit('data');
      });
  }
  return undefined;
}

/** Bytes a worker answer moved to the page: its typed arrays, and 4 per plain number (the
 * f32 values that serde sends as numbers).
 * @param {unknown} v
 * @returns {number}
 */
function sizeOf(v) {
  if (v == null) return 0;
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (typeof v === 'number') return 4;
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) return v.reduce((a, x) => a + sizeOf(x), 0);
  if (typeof v === 'object') return Object.values(v).reduce((a, x) => a + sizeOf(x), 0);
  return 0;
}

/** What views ask the engine for, each about the run on screen. */
export const data = {
  /**
   * A stored part (of a layer; with `head`, only that head's rows).
   * @param {string} name
   * @param {number} [layer]
   * @param {number | null} [head]
   * @param {Ctx} [ctx]
   */
  tensor: (name, layer = 0, head = null, ctx = 'main') => fetched(head == null ? { type: 'tensor', name, layer } : { type: 'tensor', name, layer, head }, ctx),
  /**
   * The model's `limit` most probable next tokens after `at` tokens; `baseline`: without the
   * head ablation.
   * @param {number} at
   * @param {number} limit
   * @param {{baseline?: boolean, ctx?: Ctx}} [opts]
   */
  distribution: (at, limit, { baseline = false, ctx = 'main' } = {}) => fetched({ type: 'distribution', at, limit, baseline, ...RAW }, ctx),
  /**
   * The model's probabilities of tokens `ids` after `at` tokens.
   * @param {number} at
   * @param {number[]} ids
   */
  probabilities: (at, ids) => fetched({ type: 'probabilities', at, ids, ...RAW }),
  norms: () => fetched({ type: 'norms' }),
  /** @param {number} at @param {number} size */
  thumbnails: (at, size) => fetched({ type: 'thumbnails', at, size }),
  /** @param {number[]} layers @param {number} at @param {number} size */
  headThumbnails: (layers, at, size) => fetched({ type: 'headThumbnails', layers, at, size }),
  /** @param {number} k @param {number | null} target */
  lens: (k, target) => fetched({ type: 'lens', k, target }),
  /** @param {number} position @param {number} token */
  attribution: (position, token) => fetched({ type: 'attribute', position, token }),
  /** @param {number} id @param {number} k */
  neighbours: (id, k) => fetched({ type: 'neighbours', id, k }),
  /** @param {number[]} ids */
  pca: (ids) => fetched({ type: 'pca', ids }),
  /** @param {number[]} ids */
  cosines: (ids) => fetched({ type: 'cosines', ids }),
  /** @param {string} text */
  tokenId: (text) => fetched({ type: 'tokenId', text }),
  /** @param {number[]} ids */
  tokenInfos: (ids) => fetched({ type: 'tokenInfos', ids }),
  /**
   * `word` (or the tokens at `positions`) in sentences `a` and `b`, depth by depth.
   * @param {{a: string, b: string, word: string, positions: [number | null, number | null]}} c
   */
  contrast: (c) => fetched({ type: 'contrast', a: c.a, b: c.b, word: c.word, positions: c.positions }),
  /** One head's queries as one matrix product over the first `at` tokens.
   * @param {number} layer @param {number} head @param {number} at */
  batchedQuery: (layer, head, at) => fetched({ type: 'batchedQuery', layer, head, at }),

  /**
   * A logit lens of `k` tokens of the run on screen already fetched, for any target (their
   * grids are the same), or null.
   * @param {number} k
   * @returns {LensLayer[] | null}
   */
  anyLens(k) {
    const run = runOf('main');
    for (const [key, e] of state.data) {
      if (e.ctx === 'main' && key.startsWith(`main@${run}|`) && e.request.type === 'lens' && e.request.k === k && !failed(e.value)) return /** @type {LensLayer[]} */ (e.value);
    }
    return null;
  },
};
