//! The wasm binding the page's Web Worker calls (`www/worker.js`): a thin layer over
//! [`Session`].
//!
//! The page's requests about a context arrive as one [`Request`] (the worker forwards the
//! page's `{type, …fields}` unchanged) and resolve to one [`Answer`]; `www/protocol.js`
//! declares the same requests for the page, and `tests/browser/protocol.mjs` checks that
//! both name the same ones. [`Xray::run`] numbers the context's runs, so the page can drop
//! an answer computed from a context it is not showing. Tensors leave as `Float32Array`
//! copies (the worker transfers their buffers to the page); everything else goes through
//! `serde-wasm-bindgen`. Every error is an object
//! `{kind: "input" | "model" | "backend" | "internal", message}`.
//!
//! Model files arrive in [`FileBytes`], filled chunk by chunk as they download, so the tab
//! holds a file once (in wasm memory) rather than as JS chunks, a JS copy and a wasm copy.

use crate::ablation::AblationMode;
use crate::backend::{Choice, Engine};
use crate::batched::BatchedMatrix;
use crate::contrast::Contrast;
use crate::error::Error;
use crate::heads::random_repeat;
use crate::instruments::{self, Attribution, LensLayer, Neighbour};
use crate::model::{Footprint, Model};
use crate::sampling::Sampling;
use crate::session::{BackendSwitch, ResidualNorms, RunInfo, Session, Thumb, Thumbnails};
use crate::trace::TokenInfo;
use js_sys::{Float32Array, Function, Object, Promise, Reflect, Uint32Array};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

pub(crate) fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| fail("internal", format!("serializing a result: {e}")))
}

pub(crate) fn fail(kind: &str, message: impl Into<String>) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"kind".into(), &kind.into());
    let _ = Reflect::set(&o, &"message".into(), &message.into().into());
    o.into()
}

pub(crate) fn err(e: Error) -> JsValue {
    let kind = serde_json::to_value(e.kind()).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_else(|| "internal".into());
    fail(&kind, e.message())
}

/// Every request the page makes about a model's context, as the page writes it:
/// `{type: "tensor", name: "attentions", layer: 1, head: 0}`. Layers, heads and positions
/// are counted from 0 except in `ablate` (counted from 1, as the page shows them).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Request {
    /// Chooses "auto", "webgpu" or "cpu" and re-runs the context on it; `pageHasWebGPU`
    /// is whether the page itself sees `navigator.gpu`.
    SetBackend {
        backend: String,
        #[serde(rename = "pageHasWebGPU")]
        page_has_webgpu: bool,
    },
    /// Runs a prompt, reusing the cached keys and values of a shared prefix.
    Run { text: String },
    /// Runs a prompt given as token ids.
    RunIds { ids: Vec<u32> },
    /// Appends one token after the first `at` tokens (see `Session::generate_next`).
    Generate { at: usize, temperature: f32, top_k: usize, top_p: f32, seed: f64 },
    /// Ablates heads `[layer, head]` (counted from 1) by "zero" or "mean"; an empty list
    /// restores the model. Re-runs the context.
    Ablate { heads: Vec<(usize, usize)>, mode: String },
    /// The `limit` most probable next tokens after `at` tokens under the sampling settings;
    /// `baseline` asks for the distribution without the head ablation.
    Distribution {
        at: usize,
        temperature: f32,
        top_k: usize,
        top_p: f32,
        limit: usize,
        #[serde(default)]
        baseline: bool,
    },
    /// The probabilities of the tokens `ids` after `at` tokens under the sampling settings
    /// (0 for a token sampling cannot pick).
    Probabilities {
        at: usize,
        temperature: f32,
        top_k: usize,
        top_p: f32,
        ids: Vec<u32>,
        #[serde(default)]
        baseline: bool,
    },
    /// A stored part of the context (see `Session::slice`); with `head`, that head's rows.
    Tensor {
        name: String,
        #[serde(default)]
        layer: usize,
        head: Option<usize>,
    },
    /// L2 norms of the residual stream and of what each block added.
    Norms,
    /// The context as JSON text in the CLI's trace format (`llm-xray compare` reads it).
    ExportRun,
    /// Thumbnails of every stage for the overview (see `Session::thumbnails`).
    Thumbnails { at: usize, size: usize },
    /// The head grid's thumbnails of `layers` (see `Session::head_thumbnails`).
    HeadThumbnails { layers: Vec<usize>, at: usize, size: usize },
    /// The logit lens over the context: each depth's top `k` tokens, and `target`'s
    /// probability and rank.
    Lens { k: usize, target: Option<u32> },
    /// Direct logit attribution of `token` at `position`.
    Attribute { position: usize, token: u32 },
    /// The `k` nearest tokens to `id` in the token-embedding table, by cosine.
    Neighbours { id: u32, k: usize },
    /// 2-D PCA coordinates of the embedding rows of `ids`.
    Pca { ids: Vec<u32> },
    /// Cosine similarities [n][n] of the token-embedding rows of `ids`.
    Cosines { ids: Vec<u32> },
    /// The id of a token written as text (e.g. " Paris"), or null.
    TokenId { text: String },
    /// Id, text and bytes of each of `ids`.
    TokenInfos { ids: Vec<u32> },
    /// The census's repeated random-token sequence: `half` random tokens, then the same again.
    InductionDemo { half: usize },
    /// `word` in sentences `a` and `b`, its vectors compared depth by depth (see
    /// `crate::contrast`); `positions` [A, B], where given, choose the tokens instead. Runs
    /// both sentences on a CPU engine of its own: the context stays as it is.
    Contrast {
        a: String,
        b: String,
        word: String,
        #[serde(default)]
        positions: [Option<usize>; 2],
    },
    /// One head's queries over the first `at` tokens as one matrix product, X · W_Q = Q
    /// (see `crate::batched`).
    BatchedQuery { layer: usize, head: usize, at: usize },
}

/// `distribution`'s answer: the most probable tokens first.
#[derive(Serialize)]
struct Distribution {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    ids: Uint32Array,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    probs: Float32Array,
    /// How many tokens sampling can pick.
    kept: usize,
    tokens: Vec<TokenInfo>,
}

/// `probabilities`' answer: `probs[k]` of the request's `ids[k]`.
#[derive(Serialize)]
struct Probabilities {
    kept: usize,
    probs: Vec<f32>,
}

/// `tensor`'s answer: a copy of a stored part.
#[derive(Serialize)]
struct TensorSlice {
    shape: Vec<usize>,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    data: Float32Array,
}

/// What a request resolves to, one shape per request (`www/protocol.js` names them).
#[derive(Serialize)]
#[serde(untagged)]
enum Answer<'a> {
    Run(RunInfo),
    Ablated(Option<RunInfo>),
    Backend(BackendSwitch),
    Distribution(Distribution),
    Probabilities(Probabilities),
    Tensor(TensorSlice),
    Norms(&'a ResidualNorms),
    Text(String),
    Thumbnails(Thumbnails),
    HeadThumbnails(Vec<Vec<Thumb>>),
    Lens(Vec<LensLayer>),
    Attribution(Attribution),
    Neighbours(Vec<Neighbour>),
    Points(Vec<[f32; 2]>),
    Matrix(Vec<Vec<f32>>),
    TokenId(Option<u32>),
    Tokens(Vec<TokenInfo>),
    Ids(Vec<u32>),
    Contrast(Contrast),
    Batched(BatchedMatrix),
}

impl Answer<'_> {
    /// Whether the context now holds another run (new activations).
    fn is_new_run(&self) -> bool {
        matches!(self, Answer::Run(_) | Answer::Ablated(Some(_)) | Answer::Backend(BackendSwitch { run: Some(_), .. }))
    }
}

/// One model file's bytes, written into wasm memory as it downloads.
#[wasm_bindgen]
pub struct FileBytes {
    data: Vec<u8>,
}

#[wasm_bindgen]
impl FileBytes {
    /// Room for `expected` bytes (0 when the size is not known).
    #[wasm_bindgen(constructor)]
    pub fn new(expected: usize) -> FileBytes {
        FileBytes { data: Vec::with_capacity(expected) }
    }
    pub fn push(&mut self, chunk: &[u8]) {
        self.data.extend_from_slice(chunk);
    }
}

/// The model in the tab and its context.
#[wasm_bindgen]
pub struct Xray {
    /// Taken out while an asynchronous request runs: a second request meanwhile gets a
    /// plain "busy" error.
    session: Rc<RefCell<Option<Session>>>,
    /// Counts the runs that replaced the context's activations (0: none yet).
    runs: Rc<Cell<u32>>,
}

fn sampling(temperature: f32, top_k: usize, top_p: f32, seed: f64) -> Result<Sampling, JsValue> {
    if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
        return Err(fail("input", "the seed must be a whole number from 0 to 2^53 − 1"));
    }
    let s = Sampling { temperature, top_k, top_p, seed: seed as u64 };
    s.check().map_err(|m| fail("input", m))?;
    Ok(s)
}

fn busy() -> JsValue {
    fail("internal", "the engine is still running the previous request")
}

/// Whether this worker's global scope offers WebGPU (`navigator.gpu`).
fn worker_has_webgpu() -> bool {
    Reflect::get(&js_sys::global(), &"navigator".into()).is_ok_and(|n| n.is_object() && Reflect::has(&n, &"gpu".into()).unwrap_or(false))
}

/// What a model will take once loaded, from its `config.json` and the size of its
/// `model.safetensors` (before the weights are downloaded): `{model_type, parameters,
/// f32_bytes, held, held_bytes, load_bytes, largest_matrix_bytes}`.
#[wasm_bindgen(js_name = footprintOfConfig)]
pub fn footprint_of_config(config: &[u8], weights_len: f64) -> Result<JsValue, JsValue> {
    to_js(&Footprint::from_config_json_sized(config, weights_len as u64).map_err(err)?)
}

/// The same from the first bytes of the GGUF file `name` of `file_len` bytes.
#[wasm_bindgen(js_name = footprintOfGguf)]
pub fn footprint_of_gguf(prefix: &[u8], file_len: f64, name: &str) -> Result<JsValue, JsValue> {
    to_js(&Footprint::from_gguf_header(prefix, file_len as u64, name).map_err(err)?)
}

/// Calls `progress(done, total)` as a loader converts layers.
fn reporter(progress: &Function) -> impl FnMut(usize, usize) + '_ {
    move |d, n| {
        let _ = progress.call2(&JsValue::NULL, &(d as u32).into(), &(n as u32).into());
    }
}

#[wasm_bindgen]
impl Xray {
    /// A Hugging Face folder's three files; `progress(layers done, layers)`.
    #[wasm_bindgen(js_name = fromFolder)]
    pub fn from_folder(config: FileBytes, weights: FileBytes, tokenizer: FileBytes, progress: Function) -> Result<Xray, JsValue> {
        // The weights file moves into the model: its 16-bit matrices are read in place.
        let model = Model::from_owned_with(&config.data, weights.data, &tokenizer.data, &mut reporter(&progress)).map_err(err)?;
        Ok(Xray::of(Arc::new(model)))
    }

    /// One GGUF file; `name` names it in errors; `progress(layers done, layers)`.
    #[wasm_bindgen(js_name = fromGguf)]
    pub fn from_gguf(file: FileBytes, name: &str, progress: Function) -> Result<Xray, JsValue> {
        // The file's bytes move into the model, which reads its blocks where they downloaded.
        let model = Model::from_gguf_owned(file.data, name, &mut reporter(&progress)).map_err(err)?;
        Ok(Xray::of(Arc::new(model)))
    }

    /// A second context on the same model (the compare panel), on the CPU.
    pub fn fork(&self) -> Result<Xray, JsValue> {
        self.with_session(|s| Ok(Xray::of(s.model().clone())))
    }

    fn of(model: Arc<Model>) -> Xray {
        Xray { session: Rc::new(RefCell::new(Some(Session::new(Engine::cpu(model))))), runs: Rc::new(Cell::new(0)) }
    }

    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, JsValue>) -> Result<T, JsValue> {
        let s = self.session.borrow();
        f(s.as_ref().ok_or_else(busy)?)
    }

    /// The model panel's facts (see `Session::describe`).
    pub fn info(&self) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&s.describe()))
    }

    /// The number of the context's run that answers are computed from: how many runs have
    /// replaced its activations (0: none yet). A request that runs the model (run, runIds,
    /// generate, ablate, setBackend) and succeeds makes the next number; a failed one leaves
    /// the context as it was (`Session` restores it), and the number with it.
    #[wasm_bindgen(getter)]
    pub fn run(&self) -> u32 {
        self.runs.get()
    }

    /// Answers one [`Request`] with its [`Answer`].
    pub fn request(&self, request: JsValue) -> Result<Promise, JsValue> {
        let req: Request = serde_wasm_bindgen::from_value(request).map_err(|e| fail("internal", format!("a request the engine does not understand: {e}")))?;
        match req {
            Request::Run { .. }
            | Request::RunIds { .. }
            | Request::Generate { .. }
            | Request::Ablate { .. }
            | Request::SetBackend { .. }
            | Request::Contrast { .. } => self.run_model(req),
            _ => Ok(Promise::resolve(&self.with_session(|s| to_js(&read(s, req)?))?)),
        }
    }

    /// A request that runs the model, with the session taken out until it is done. Only
    /// those that replace the context's activations make a new run number (`contrast` runs
    /// its sentences beside the context).
    fn run_model(&self, req: Request) -> Result<Promise, JsValue> {
        // Arguments are checked before the session is taken.
        let sm = match &req {
            Request::Generate { temperature, top_k, top_p, seed, .. } => Some(sampling(*temperature, *top_k, *top_p, *seed)?),
            _ => None,
        };
        let choice = match &req {
            Request::SetBackend { backend, .. } => {
                Some(Choice::parse(backend).ok_or_else(|| fail("input", format!("unknown backend \"{backend}\"; expected auto, webgpu or cpu")))?)
            }
            _ => None,
        };
        let mode = match &req {
            Request::Ablate { mode, .. } => {
                Some(AblationMode::parse(mode).ok_or_else(|| fail("input", format!("ablation mode \"{mode}\" is not known; expected zero or mean")))?)
            }
            _ => None,
        };
        let mut s = self.session.borrow_mut().take().ok_or_else(busy)?;
        let cell = self.session.clone();
        let runs = self.runs.clone();
        Ok(future_to_promise(async move {
            let answer = match req {
                Request::Run { text } => s.run_prompt(&text).await.map(Answer::Run),
                Request::RunIds { ids } => s.run_ids(ids).await.map(Answer::Run),
                Request::Generate { at, .. } => s.generate_next(at, sm.as_ref().expect("checked above")).await.map(Answer::Run),
                Request::Ablate { heads, .. } => {
                    let heads = heads.into_iter().map(|(l, h)| (l.saturating_sub(1), h.saturating_sub(1))).collect();
                    s.set_ablation(heads, mode.expect("checked above")).await.map(Answer::Ablated)
                }
                Request::SetBackend { page_has_webgpu, .. } => {
                    s.set_backend(choice.expect("checked above"), page_has_webgpu && worker_has_webgpu()).await.map(Answer::Backend)
                }
                Request::Contrast { a, b, word, positions } => s.contrast([&a, &b], &word, positions).await.map(Answer::Contrast),
                _ => unreachable!("Xray::request sends only requests that run the model here"),
            };
            *cell.borrow_mut() = Some(s);
            let answer = answer.map_err(err)?;
            if answer.is_new_run() {
                runs.set(runs.get() + 1);
            }
            to_js(&answer)
        }))
    }

    /// Starts the head census (`censusStep` runs it, one model run per call).
    #[wasm_bindgen(js_name = censusStart)]
    pub fn census_start(&self) -> Result<(), JsValue> {
        let mut s = self.session.borrow_mut();
        s.as_mut().ok_or_else(busy)?.census_start().map_err(err)
    }

    /// One run of the census: resolves to `{done, total, heads}` (see `Session::census_step`).
    #[wasm_bindgen(js_name = censusStep)]
    pub fn census_step(&self) -> Result<Promise, JsValue> {
        let mut s = self.session.borrow_mut().take().ok_or_else(busy)?;
        let cell = self.session.clone();
        Ok(future_to_promise(async move {
            let r = s.census_step().await;
            *cell.borrow_mut() = Some(s);
            to_js(&r.map_err(err)?)
        }))
    }
}

/// Answers a request that only reads the context or the model.
fn read(s: &Session, req: Request) -> Result<Answer<'_>, JsValue> {
    let model = s.model();
    Ok(match req {
        Request::Distribution { at, temperature, top_k, top_p, limit, baseline } => {
            let (top, kept) = s.distribution(at, &sampling(temperature, top_k, top_p, 0.0)?, limit, baseline).map_err(err)?;
            let ids: Vec<u32> = top.iter().map(|d| d.0).collect();
            let probs: Vec<f32> = top.iter().map(|d| d.1).collect();
            Answer::Distribution(Distribution {
                tokens: model.token_infos(&ids, 0),
                ids: Uint32Array::from(&ids[..]),
                probs: Float32Array::from(&probs[..]),
                kept,
            })
        }
        Request::Probabilities { at, temperature, top_k, top_p, ids, baseline } => {
            // The whole distribution, sorted, then the asked tokens picked out of it.
            let (all, kept) = s.distribution(at, &sampling(temperature, top_k, top_p, 0.0)?, usize::MAX, baseline).map_err(err)?;
            let probs = ids.iter().map(|id| all.iter().find(|d| d.0 == *id).map_or(0.0, |d| d.1)).collect();
            Answer::Probabilities(Probabilities { kept, probs })
        }
        Request::Tensor { name, layer, head } => {
            let (shape, data) = s.slice(&name, layer, head).map_err(err)?;
            Answer::Tensor(TensorSlice { shape, data: Float32Array::from(data) })
        }
        Request::Norms => Answer::Norms(s.store().norms()),
        Request::ExportRun => Answer::Text(serde_json::to_string(&s.export()).map_err(|e| fail("internal", format!("writing the run as JSON: {e}")))?),
        Request::Thumbnails { at, size } => Answer::Thumbnails(s.thumbnails(at, size).map_err(err)?),
        Request::HeadThumbnails { layers, at, size } => Answer::HeadThumbnails(s.head_thumbnails(&layers, at, size).map_err(err)?),
        Request::Lens { k, target } => Answer::Lens(s.lens(k, target).map_err(err)?),
        Request::Attribute { position, token } => Answer::Attribution(s.attribute(position, token).map_err(err)?),
        Request::Neighbours { id, k } => Answer::Neighbours(instruments::neighbours(model, id, k).map_err(err)?),
        Request::Pca { ids } => Answer::Points(instruments::pca_2d(model, &ids).map_err(err)?),
        Request::Cosines { ids } => Answer::Matrix(instruments::cosines(model, &ids).map_err(err)?),
        Request::TokenId { text } => Answer::TokenId(model.tokenizer.token_id(&text)),
        Request::TokenInfos { ids } => Answer::Tokens(model.token_infos(&ids, 0)),
        Request::InductionDemo { half } => Answer::Ids(random_repeat(model.config.vocab_size, half, 0)),
        Request::BatchedQuery { layer, head, at } => Answer::Batched(s.batched_query(layer, head, at).map_err(err)?),
        Request::Run { .. }
        | Request::RunIds { .. }
        | Request::Generate { .. }
        | Request::Ablate { .. }
        | Request::SetBackend { .. }
        | Request::Contrast { .. } => {
            unreachable!("Xray::request runs these on the session taken out")
        }
    })
}
