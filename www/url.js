// @ts-check
// The page's state in its URL, so a link reopens the same view: the prompt, the model (a
// folder beside the page, a Hugging Face repo, or "local" for files from disk), the stage,
// layer, head and layer part, the ablated heads, the sampling settings, the tour's step and
// the two sentences of "The same word in two sentences".
import { stageDef, layerParts } from './stages.js';
import { CONTRAST_DEFAULT } from './store.js';

/**
 * @typedef {{kind: 'folder' | 'gguf', url: string} | {kind: 'hub', repo: string, revision: string, file: string | null} | {kind: 'local'}} UrlModel
 * @typedef {object} UrlState what a URL asks for
 * @property {string | null} prompt
 * @property {UrlModel | null} model
 * @property {{stage: string, layer: number, sub: string, head: number} | null} view
 * @property {{heads: [number, number][], mode: import('./protocol.js').AblationMode} | null} ablation
 * @property {import('./store.js').SamplingSettings} sampling
 * @property {boolean} chat
 * @property {number | null} tour the tour's step (counted from 1), null: no tour
 * @property {{a: string, b: string, word: string} | null} contrast the two sentences and the word, if named
 */

/**
 * What the URL asks for.
 * @param {string} href
 * @returns {UrlState}
 */
export function readUrl(href) {
  const q = new URL(href).searchParams;
  /** @type {(k: string, d: number, min?: number) => number} */
  const int = (k, d, min = 0) => {
    const v = Number(q.get(k));
    return q.has(k) && Number.isInteger(v) && v >= min ? v : d;
  };
  /** @type {(k: string, d: number) => number} */
  const num = (k, d) => (q.has(k) && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : d);
  /** @type {UrlModel | null} */
  let model = null;
  if (q.get('hf')) {
    const [repo, revision] = q.get('hf').split('@');
    model = { kind: 'hub', repo, revision: revision || 'main', file: q.get('file') || null };
  } else if (q.get('model') === 'local') {
    model = { kind: 'local' };
  } else if (q.get('model')) {
    model = { kind: /\.gguf$/i.test(q.get('model')) ? 'gguf' : 'folder', url: q.get('model') };
  }
  const stage = stageDef(q.get('stage')) ? q.get('stage') : null;
  const def = stageDef(stage);
  const parts = layerParts().map((p) => p.id);
  const heads = /** @type {[number, number][]} */ (
    (q.get('ablate') || '')
      .split(',')
      .map((s) => s.split('.').map(Number))
      .filter((p) => p.length === 2 && p.every((n) => Number.isInteger(n) && n >= 1))
  );
  return {
    prompt: q.has('prompt') ? q.get('prompt') : null,
    model,
    view: stage ? { stage, layer: int('layer', 1, 1) - 1, sub: parts.includes(q.get('sub')) ? q.get('sub') : parts[0], head: int('head', 1, 1) - 1 } : null,
    tour: q.has('tour') ? int('tour', 1, 1) : null,
    contrast: def && def.id === 'contrast' && (q.has('ca') || q.has('cb') || q.has('cw')) ? { a: q.get('ca') ?? CONTRAST_DEFAULT.a, b: q.get('cb') ?? CONTRAST_DEFAULT.b, word: q.get('cw') ?? CONTRAST_DEFAULT.word } : null,
    ablation: heads.length ? { heads, mode: q.get('mode') === 'mean' ? 'mean' : 'zero' } : null,
    sampling: { temperature: Math.max(0, num('t', 0)), topK: int('k', 0), topP: Math.min(1, Math.max(0.05, num('p', 1))), seed: int('seed', 0) },
    chat: q.get('chat') === '1',
  };
}

/**
 * The URL of the page's state `s`, relative to `href`.
 * @param {string} href
 * @param {import('./store.js').State} s
 */
export function writeUrl(href, s) {
  const url = new URL(href);
  const q = new URLSearchParams();
  q.set('prompt', s.prompt);
  const src = s.source;
  if (src && src.kind === 'hub') {
    q.set('hf', src.revision && src.revision !== 'main' ? `${src.repo}@${src.revision}` : src.repo);
    if (src.file) q.set('file', src.file);
  } else if (src && src.kind === 'files') {
    q.set('model', 'local');
  } else if (src && (src.kind === 'folder' || src.kind === 'gguf') && !src.isDefault) {
    q.set('model', src.url);
  }
  q.set('stage', s.stage);
  const def = stageDef(s.stage);
  if (def?.perLayer) {
    q.set('layer', String(s.layer + 1));
    q.set('sub', s.sub);
    q.set('head', String(s.head + 1));
  } else if (def?.layerHead) {
    q.set('layer', String(s.layer + 1));
    q.set('head', String(s.head + 1));
  }
  if (s.stage === 'contrast') {
    const c = s.contrast;
    if (c.a !== CONTRAST_DEFAULT.a) q.set('ca', c.a);
    if (c.b !== CONTRAST_DEFAULT.b) q.set('cb', c.b);
    if (c.word !== CONTRAST_DEFAULT.word) q.set('cw', c.word);
  }
  if (s.ablation.heads.length) {
    q.set('ablate', s.ablation.heads.map(([l, h]) => `${l}.${h}`).join(','));
    q.set('mode', s.ablation.mode);
  }
  const sm = s.sampling;
  if (sm.temperature) q.set('t', String(sm.temperature));
  if (sm.topK) q.set('k', String(sm.topK));
  if (sm.topP < 1) q.set('p', String(sm.topP));
  if (sm.seed) q.set('seed', String(sm.seed));
  if (s.chat) q.set('chat', '1');
  if (s.tour.open) q.set('tour', String(s.tour.step));
  url.search = q.toString();
  url.hash = '';
  return url.href;
}
