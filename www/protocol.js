// @ts-check
// The messages between the page (client.js) and the engine's Web Worker (worker.js): every
// request with its arguments and its result, declared once here for the page and the
// worker. `npm run lint` checks them with TypeScript; the requests the worker forwards to
// the engine are the wasm binding's `Request` enum (src/wasm.rs), and
// tests/browser/protocol.mjs checks that REQUESTS below names exactly its variants.
//
// page → worker   {id, ctx, request: Request}           answered once, by a Response:
// worker → page   {id, ok: true, run, result}           or {id, ok: false, fatal, run, error}
// worker → page   Event: {type: 'progress' | 'census', …}   at any time
//
// `ctx` is 'main', or 'compare' for the compare panel's second context on the same model.
// `run` is the number of the context's run an engine answer was computed from (RunNumber;
// null for the worker's own answers); the page drops an answer about a run it is not
// showing.
//
// To add a request: its entry in Requests and in REQUESTS, and, for an engine request, a
// variant of `Request` in src/wasm.rs (and its answer in `Answer`).

/**
 * @typedef {'input' | 'model' | 'backend' | 'internal'} ErrorKind
 * 'input' (the prompt, ids or settings), 'model' (a model file: missing, malformed,
 * unsupported, too large), 'backend' (WebGPU), 'internal' (a bug; the engine may be
 * unusable: `fatal` is set when the worker must be restarted).
 *
 * @typedef {{kind: ErrorKind, message: string}} ErrorBody
 * @typedef {Error & {kind: ErrorKind, fatal: boolean, run?: RunNumber | null}} ProtocolError
 */

/**
 * The number of a context's run: how many runs have replaced its activations (0: none yet).
 * @typedef {number} RunNumber
 */

// ---- What the engine answers (the Rust structs of src/session/, src/instruments.rs, …,
// as serde writes them) ----

/**
 * One token of the context (src/trace.rs TokenInfo).
 * @typedef {{id: number, text: string, bytes: number[], span: [number, number]}} TokenInfo
 *
 * @typedef {{name: string, backend: string, is_software: boolean}} AdapterSummary
 * The backend in use (src/backend.rs BackendInfo).
 * @typedef {{choice: string, kind: 'cpu' | 'gpu', name: string, adapter: AdapterSummary | null, why: string}} BackendInfo
 * @typedef {'auto' | 'webgpu' | 'cpu'} BackendChoice
 * @typedef {'zero' | 'mean'} AblationMode
 *
 * What the page is told after every run (src/session/mod.rs RunInfo).
 * @typedef {object} RunInfo
 * @property {TokenInfo[]} tokens every token of the context
 * @property {number} prompt_len
 * @property {number} computed tokens computed by this run
 * @property {number} reused tokens whose keys and values were kept
 * @property {number} elapsed_ms
 * @property {BackendInfo} backend
 * @property {string | null} notice set when the GPU failed and the CPU took over
 * @property {boolean} ended the context ends with an end-of-sequence token
 * @property {[number, number][]} ablated ablated heads [layer, head], counted from 1
 * @property {AblationMode} ablation_mode
 *
 * @typedef {{backend: BackendInfo, run: RunInfo | null}} BackendSwitch
 */

/**
 * The model's hyperparameters (src/config.rs Config).
 * @typedef {object} Config
 * @property {'gpt2' | 'llama' | 'qwen2' | 'gemma3'} model_type
 * @property {number} vocab_size
 * @property {number} n_positions
 * @property {number} n_embd
 * @property {number} n_layer
 * @property {number} n_head
 * @property {number} n_kv_head
 * @property {number} head_dim
 * @property {number} n_inner
 * @property {'layer_norm' | 'rms_norm'} norm
 * @property {number} layer_norm_epsilon
 * @property {'gelu_new' | 'relu' | 'silu'} activation
 * @property {boolean} gated_mlp
 * @property {number | null} rope_theta
 * @property {boolean} qkv_bias
 * @property {boolean} o_bias
 * @property {boolean} mlp_bias
 * @property {boolean} tie_word_embeddings
 * @property {number | null} bos_token_id
 * @property {number[]} eos_token_ids
 * @property {number | null} embedding_scale the token embedding is multiplied by this (Gemma: √width)
 * @property {number | null} query_pre_attn_scalar q·k is scaled by its −½ power (Gemma)
 * @property {boolean} qk_norm RMSNorm of each query and key head (Gemma 3)
 * @property {boolean} post_norms a norm on each block's output before the residual add (Gemma)
 * @property {number | null} sliding_window tokens a sliding-window layer sees, itself included
 * @property {('global' | 'sliding')[]} layer_types per layer; empty: every layer is global
 * @property {number | null} rope_local_theta RoPE base of the sliding-window layers
 * @property {{name: string, value: string}[]} defaulted hyperparameters the file did not give, and the default taken
 *
 * The model panel's facts (src/session/mod.rs ModelInfo).
 * @typedef {object} ModelInfo
 * @property {Config} config
 * @property {{format: string, types: [string, number][]}} storage how the weights were stored
 * @property {{component: string, count: number}[]} parameters learned-parameter counts
 * @property {number} total_parameters
 * @property {number} max_tokens the longest context the page keeps
 * @property {ChatFormat | null} chat how the model reads a conversation, if it was tuned to (src/chat.rs)
 *
 * A chat format: the text around one user turn (src/chat.rs ChatFormat).
 * @typedef {object} ChatFormat
 * @property {string} name "ChatML", "Llama 3" or "Gemma"
 * @property {string} source where it came from: the file's chat template, or the vocabulary's markers
 * @property {string} before
 * @property {string} after
 *
 * A census entry, layers and heads counted from 1 (src/heads.rs LabelledHead).
 * @typedef {object} HeadEntry
 * @property {number} layer
 * @property {number} head
 * @property {number} previous_token
 * @property {number} induction_random
 * @property {number | null} [induction_text]
 * @property {number} first_token
 * @property {number} self_attention
 * @property {string} label
 * @property {number} score
 *
 * What a model will take once loaded (src/model.rs Footprint): `held` says how its weights
 * are held ("Q4_0 blocks", "16-bit", "f32"), `held_bytes` what they take, `load_bytes` the
 * most loading takes at once (the file included).
 * @typedef {{model_type: string, parameters: number, f32_bytes: number, held: string, held_bytes: number, load_bytes: number, largest_matrix_bytes: number}} Footprint
 */

/**
 * @typedef {{ids: Uint32Array, probs: Float32Array, kept: number, tokens: TokenInfo[]}} Distribution
 * @typedef {{kept: number, probs: number[]}} Probabilities
 * @typedef {{shape: number[], data: Float32Array}} TensorSlice
 * attention_branch and mlp_branch: the blocks' outputs before their post-norms (Gemma), else empty.
 * @typedef {{embedding: number[], after_layer: number[][], attention: number[][], mlp: number[][], attention_branch: number[][], mlp_branch: number[][]}} ResidualNorms
 * @typedef {{rows: number, cols: number, data: number[]}} Thumb
 * @typedef {{tokens: number, attention: Thumb[], mlp: Thumb[], embedding: Thumb}} Thumbnails
 * @typedef {{id: number, text: string, p: number}} TopToken
 * The logit lens at one depth: top tokens per position, and the target's [p, rank] per position.
 * @typedef {{after: string, top: TopToken[][], target: [number, number][] | null}} LensLayer
 * @typedef {{name: string, layer: number | null, head: number | null, value: number}} Component
 * @typedef {{position: number, token: number, text: string, logit: number, components: Component[], norm_scale: number}} Attribution
 * @typedef {{id: number, text: string, cosine: number}} Neighbour
 *
 * One sentence of a comparison (src/contrast.rs Side): its tokens and the compared position.
 * @typedef {{text: string, tokens: TokenInfo[], position: number}} ContrastSide
 * One word in two sentences, depth by depth (src/contrast.rs Contrast): L + 1 entries each,
 * the token embedding first, then the residual stream after each layer.
 * @typedef {object} Contrast
 * @property {string} word
 * @property {ContrastSide} a
 * @property {ContrastSide} b
 * @property {string[]} depths
 * @property {number[]} cosine
 * @property {number[]} centred cosine after subtracting each depth's mean token vector
 * @property {[number, number][]} norms ‖vector‖ in A and in B
 * @property {[number[], number[]][]} vectors the two vectors at each depth
 *
 * One head's queries as one matrix product X · W_Q = Q (src/batched.rs BatchedMatrix),
 * layer and head counted from 1, matrices row-major.
 * @typedef {object} BatchedMatrix
 * @property {number} layer
 * @property {number} head
 * @property {number} tokens T
 * @property {number} d
 * @property {number} head_dim
 * @property {number[]} x [T][d]
 * @property {number[]} w [d][head_dim]
 * @property {number[] | null} bias
 * @property {number[]} q [T][head_dim]
 * @property {number} multiply_adds
 * @property {number | null} product_ms the product's mean time on the worker's CPU, measured
 * @property {number} repeats
 */

// ---- What the worker answers itself ----

/**
 * Where a model comes from: a folder or GGUF file beside the page, a Hugging Face Hub
 * repository, or files the person picked.
 * @typedef {{kind: 'folder' | 'gguf', url: string, label?: string, fetch?: string, isDefault?: boolean}} UrlSource
 * @typedef {{kind: 'hub', repo: string, revision: string, file: string | null, label?: string}} HubSource
 * @typedef {{kind: 'files', files: File[], label?: string}} FilesSource
 * The model the Train stage is training, as it is now (the worker holds it).
 * @typedef {{kind: 'trained', label?: string}} TrainedSource
 * @typedef {UrlSource | HubSource | FilesSource | TrainedSource} ModelSource
 *
 * @typedef {{info: ModelInfo, heads: HeadEntry[] | null, backend: BackendInfo, memory: number}} Loaded
 * Hub files in the browser's cache, by repository.
 * @typedef {{repo: string, files: string[], bytes: number, urls: string[]}} CachedModel
 */

/**
 * The Train stage (src/session/train.rs). Settings the learner chooses; the rest of the
 * recipe (src/train/recipe.rs) is the engine's. `task`: 'induction', 'shakespeare' (the
 * worker adds the shipped sample's text) or 'text' (pasted, in `text`).
 * @typedef {object} TrainSettings
 * @property {'induction' | 'shakespeare' | 'text'} task
 * @property {string} [text]
 * @property {number} layers
 * @property {number} heads
 * @property {number} width
 * @property {number} context
 * @property {number} lr
 * @property {number} batch
 * @property {number} seed
 *
 * A setting's learned-parameter count and the memory training it takes (refusal: why the
 * tab cannot, with the numbers; null when it can).
 * @typedef {{parameters: number, bytes: number, limit: number, refusal: string | null}} TrainPlan
 *
 * One head's census scores while training, layers and heads counted from 1.
 * @typedef {{layer: number, head: number, previous_token: number, induction: number}} TrainHead
 * A learned-parameter matrix, and ‖last update‖ and ‖tensor‖ of the tensor it comes from.
 * @typedef {{title: string, tensor: string, rows: number, cols: number, data: number[], update: number, norm: number}} TrainPicture
 *
 * What the worker posts after each chunk of steps.
 * @typedef {object} TrainProgress
 * @property {number} step steps done in all
 * @property {{step: number, loss: number}[]} losses this chunk's steps
 * @property {number | null} held_out
 * @property {number} grad_norm
 * @property {number} lr
 * @property {number} elapsed_ms training time so far
 * @property {number} steps_per_s
 * @property {number} tokens_per_s
 * @property {number} tokens
 * @property {boolean} measured whether the fields below were measured after this chunk (else empty)
 * @property {TrainHead[]} census
 * @property {TrainHead | null} best the highest induction score in layer 2 or later
 * @property {TrainPicture[]} pictures
 * @property {number[]} probe_ids
 * @property {number[][][]} probe [layer][head] T×T attention on the probe
 *
 * A training event: progress, the run stopped by an error, or paused (after its chunk).
 * `run` numbers the runs the worker started, so the page drops a late event of a reset run.
 * @typedef {{type: 'train', run: number, progress?: TrainProgress, error?: string, paused?: boolean}} TrainEvent
 * A file of the trained model's Hugging Face folder.
 * @typedef {{name: string, bytes: Uint8Array}} TrainFile
 */

/**
 * Sampling settings as requests carry them.
 * @typedef {{temperature: number, topK: number, topP: number}} SamplingArgs
 */

/**
 * Every request: its arguments and what it resolves to.
 * @typedef {object} Requests
 * @property {{args: {source: ModelSource, backend: BackendChoice, pageHasWebGPU: boolean, hub: string}, result: Loaded}} load
 * @property {{args: {backend: BackendChoice, pageHasWebGPU: boolean}, result: BackendSwitch}} setBackend
 * @property {{args: {text: string}, result: RunInfo}} run
 * @property {{args: {ids: number[]}, result: RunInfo}} runIds
 * @property {{args: {at: number, seed: number} & SamplingArgs, result: RunInfo}} generate
 * @property {{args: {heads: [number, number][], mode: AblationMode}, result: RunInfo | null}} ablate
 * @property {{args: {at: number, limit: number, baseline?: boolean} & SamplingArgs, result: Distribution}} distribution
 * @property {{args: {at: number, ids: number[], baseline?: boolean} & SamplingArgs, result: Probabilities}} probabilities
 * @property {{args: {name: string, layer?: number, head?: number}, result: TensorSlice}} tensor
 * @property {{args: {}, result: ResidualNorms}} norms
 * @property {{args: {}, result: string}} exportRun
 * @property {{args: {at: number, size: number}, result: Thumbnails}} thumbnails
 * @property {{args: {layers: number[], at: number, size: number}, result: Thumb[][]}} headThumbnails
 * @property {{args: {k: number, target: number | null}, result: LensLayer[]}} lens
 * @property {{args: {position: number, token: number}, result: Attribution}} attribute
 * @property {{args: {id: number, k: number}, result: Neighbour[]}} neighbours
 * @property {{args: {ids: number[]}, result: [number, number][]}} pca
 * @property {{args: {ids: number[]}, result: number[][]}} cosines
 * @property {{args: {text: string}, result: number | null}} tokenId
 * @property {{args: {ids: number[]}, result: TokenInfo[]}} tokenInfos
 * @property {{args: {half: number}, result: number[]}} inductionDemo
 * @property {{args: {a: string, b: string, word: string, positions?: [number | null, number | null]}, result: Contrast}} contrast
 * @property {{args: {layer: number, head: number, at: number}, result: BatchedMatrix}} batchedQuery
 * @property {{args: {}, result: true}} census
 * @property {{args: {}, result: CachedModel[]}} cached
 * @property {{args: {repo: string}, result: true}} uncache
 * @property {{args: {tokenizer: string}, result: {settings: TrainSettings, vocab: number}}} trainDefaults
 * @property {{args: {settings: TrainSettings, vocab: number}, result: TrainPlan}} trainPlan
 * @property {{args: {settings: TrainSettings, tokenizer: string, fresh: boolean}, result: {run: number}}} trainStart
 * @property {{args: {}, result: true}} trainPause
 * @property {{args: {}, result: true}} trainReset
 * @property {{args: {}, result: TrainFile[]}} trainFiles
 */

/**
 * @typedef {keyof Requests} RequestType
 * A request as the page sends it: `{type: 'tensor', name: 'attentions', layer: 0}`.
 * @typedef {{[K in RequestType]: {type: K} & Requests[K]['args']}[RequestType]} Request
 * @typedef {'main' | 'compare'} Ctx
 */

/**
 * What request `K` resolves to.
 * @template {RequestType} K
 * @typedef {Requests[K]['result']} ResultOf
 */

/**
 * @typedef {{id: number, ctx: Ctx, request: Request}} RequestMessage
 * @typedef {{id: number, ok: true, run: RunNumber | null, result: unknown}} Answered
 * @typedef {{id: number, ok: false, fatal: boolean, run: RunNumber | null, error: ErrorBody}} Refused
 * @typedef {Answered | Refused} Response
 *
 * @typedef {{type: 'progress', phase: 'download' | 'convert', file: string, loaded: number, total: number}} ProgressEvent
 * The census's progress; `heads` (counted from 1, labelled) after its last run, `error` if it failed.
 * @typedef {{type: 'census', done?: number, total?: number, heads?: HeadEntry[] | null, error?: string}} CensusEvent
 * The tab's WebAssembly memory in bytes, when a request has grown it (it never shrinks).
 * @typedef {{type: 'memory', bytes: number}} MemoryEvent
 * @typedef {ProgressEvent | CensusEvent | TrainEvent | MemoryEvent} EngineEvent
 */

/**
 * Who answers each request: 'engine' (the worker forwards it to the wasm binding, whose
 * `Request` enum in src/wasm.rs has a variant of the same name) or 'worker' (answered in
 * worker.js: downloads, the browser's cache, the census's schedule).
 * @type {{[K in RequestType]: 'engine' | 'worker'}}
 */
export const REQUESTS = {
  load: 'worker',
  setBackend: 'engine',
  run: 'engine',
  runIds: 'engine',
  generate: 'engine',
  ablate: 'engine',
  distribution: 'engine',
  probabilities: 'engine',
  tensor: 'engine',
  norms: 'engine',
  exportRun: 'engine',
  thumbnails: 'engine',
  headThumbnails: 'engine',
  lens: 'engine',
  attribute: 'engine',
  neighbours: 'engine',
  pca: 'engine',
  cosines: 'engine',
  tokenId: 'engine',
  tokenInfos: 'engine',
  inductionDemo: 'engine',
  contrast: 'engine',
  batchedQuery: 'engine',
  census: 'worker',
  cached: 'worker',
  uncache: 'worker',
  trainDefaults: 'worker',
  trainPlan: 'worker',
  trainStart: 'worker',
  trainPause: 'worker',
  trainReset: 'worker',
  trainFiles: 'worker',
};

/** @type {ErrorKind[]} */
export const ERROR_KINDS = ['input', 'model', 'backend', 'internal'];

/**
 * An Error carrying the protocol's {kind, message}.
 * @param {Partial<ErrorBody> | string | null | undefined} e
 * @returns {ProtocolError}
 */
export function protocolError(e, fatal = false) {
  const body = typeof e === 'object' && e ? e : { message: String(e) };
  const err = /** @type {ProtocolError} */ (new Error(body.message || String(e)));
  err.kind = body.kind && ERROR_KINDS.includes(body.kind) ? body.kind : 'internal';
  err.fatal = fatal;
  return err;
}
