// The typed messages between the page (client.js) and the engine's Web Worker (worker.js).
//
// Request  {id, type, args}             page → worker, answered once:
// Response {id, ok: true, result}       or {id, ok: false, fatal, error: {kind, message}}
// Event    {type: 'progress' | 'census', ...}   worker → page, any time
//
// Error kinds: 'input' (the prompt, ids or settings), 'model' (a model file: missing,
// malformed, unsupported, too large), 'backend' (WebGPU), 'internal' (a bug; the engine
// may be unusable: `fatal` is set when the worker must be restarted).
//
// Requests and what they resolve to (run, distribution and tensor also take ctx: 'compare',
// the compare panel's second context on the same model):
//   load        {source, backend, pageHasWebGPU, hub}  → {info, heads, backend, memory}
//               source: {kind: 'folder', url} | {kind: 'gguf', url} |
//                       {kind: 'hub', repo, revision, file} | {kind: 'files', files: File[]}
//   setBackend  {backend, pageHasWebGPU}               → {backend, run}
//   run         {text} | {ids}                         → RunInfo
//   generate    {at, temperature, topK, topP, seed}    → RunInfo
//   ablate      {heads: [[layer, head]], mode}         → RunInfo | null   (counted from 1)
//   distribution {at, temperature, topK, topP, limit, baseline}
//                                                      → {ids, probs, kept, tokens}  (the `limit` most probable)
//   distribution {at, temperature, topK, topP, baseline, only: ids}
//                                                      → {kept, probs}   (probs[k] of only[k]; 0 if cut)
//   tensor      {name, layer, head?}                   → {shape, data: Float32Array} (one head's rows with head)
//   norms       {}                                     → {embedding, after_layer, attention, mlp}
//   exportRun   {}                                     → the run as JSON text (the CLI's trace format)
//   thumbnails  {at, size}                             → {tokens, attention: [L] of {rows, cols, data}, mlp, embedding}
//   headThumbnails {layers, at, size}                  → [layer][head] of {rows, cols, data}
//   lens        {k, target}                            → [{after, top, target}]
//   attribute   {position, token}                      → {logit, components, …}
//   neighbours  {id, k}                                → [{id, text, cosine}]
//   pca         {ids}                                  → [[x, y]] (one per id)
//   tokenId     {text}                                 → id | null
//   tokenInfos  {ids}                                  → [{id, text, bytes, …}]
//   census      {}                                     → true: the census starts; its runs are
//               queued one at a time, each reported by a 'census' event
//   cosines     {ids}                                  → [n][n] cosine similarities
//   inductionDemo {half}                               → ids
//   cached      {}                                     → [{repo, files, bytes}]
//   uncache     {repo}                                 → true
// Events:
//   progress    {file, loaded, total, phase: 'download' | 'convert'}
//   census      {done, total, heads}   heads (counted from 1, labelled) after the last run;
//               {error} if it failed

export const ERROR_KINDS = ['input', 'model', 'backend', 'internal'];

/** An Error carrying the protocol's {kind, message}. */
export function protocolError(e, fatal = false) {
  const kind = e && ERROR_KINDS.includes(e.kind) ? e.kind : 'internal';
  const err = new Error(e && e.message ? e.message : String(e));
  err.kind = kind;
  err.fatal = fatal;
  return err;
}
