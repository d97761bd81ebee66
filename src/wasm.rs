//! The wasm binding the page's Web Worker calls (`www/worker.js`): a thin layer over
//! [`Session`]. Tensors leave as `Float32Array` copies (the worker transfers their buffers
//! to the page); everything else goes through `serde-wasm-bindgen`. Every error is an
//! object `{kind: "input" | "model" | "backend", message}`.
//!
//! Model files arrive in [`FileBytes`], filled chunk by chunk as they download, so the tab
//! holds a file once (in wasm memory) rather than as JS chunks, a JS copy and a wasm copy.

use crate::backend::{AblationMode, Choice, Engine};
use crate::error::Error;
use crate::model::{Footprint, Model};
use crate::sampling::Sampling;
use crate::session::Session;
use js_sys::{Float32Array, Function, Object, Promise, Reflect, Uint32Array};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| fail("internal", format!("serializing a result: {e}")))
}

fn fail(kind: &str, message: impl Into<String>) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"kind".into(), &kind.into());
    let _ = Reflect::set(&o, &"message".into(), &message.into().into());
    o.into()
}

fn err(e: Error) -> JsValue {
    let kind = serde_json::to_value(e.kind()).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_else(|| "internal".into());
    fail(&kind, e.message())
}

fn set(o: &Object, key: &str, v: &JsValue) -> Result<(), JsValue> {
    Reflect::set(o, &key.into(), v).map(|_| ())
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
    /// Taken out while an asynchronous call runs (see `later!`).
    session: Rc<RefCell<Option<Session>>>,
}

fn sampling(temperature: f32, top_k: usize, top_p: f32, seed: f64) -> Result<Sampling, JsValue> {
    if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
        return Err(fail("input", "the seed must be a whole number from 0 to 2^53 − 1"));
    }
    let s = Sampling { temperature, top_k, top_p, seed: seed as u64 };
    s.check().map_err(|m| fail("input", m))?;
    Ok(s)
}

/// `later!(self, s => s.method(args))` runs an async session method and resolves to its
/// result. The session is taken out meanwhile: a second call gets a plain "busy" error.
macro_rules! later {
    ($xray:expr, $s:ident => $call:expr) => {{
        let mut $s = $xray.session.borrow_mut().take().ok_or_else(busy)?;
        let cell = $xray.session.clone();
        Ok(future_to_promise(async move {
            let r = $call.await;
            *cell.borrow_mut() = Some($s);
            to_js(&r.map_err(err)?)
        }))
    }};
}

fn busy() -> JsValue {
    fail("internal", "the engine is still running the previous request")
}

/// What a model will take once loaded, from its `config.json` (before the weights are
/// downloaded): `{model_type, parameters, f32_bytes, largest_matrix_bytes}`.
#[wasm_bindgen(js_name = footprintOfConfig)]
pub fn footprint_of_config(config: &[u8]) -> Result<JsValue, JsValue> {
    to_js(&Footprint::from_config_json(config).map_err(err)?)
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
        let model = Model::from_bytes_with(&config.data, &weights.data, &tokenizer.data, &mut reporter(&progress)).map_err(err)?;
        Ok(Xray::of(Arc::new(model)))
    }

    /// One GGUF file; `name` names it in errors; `progress(layers done, layers)`.
    #[wasm_bindgen(js_name = fromGguf)]
    pub fn from_gguf(file: FileBytes, name: &str, progress: Function) -> Result<Xray, JsValue> {
        let model = Model::from_gguf_with(&file.data, name, &mut reporter(&progress)).map_err(err)?;
        Ok(Xray::of(Arc::new(model)))
    }

    /// A second context on the same model (the compare panel), on the CPU.
    pub fn fork(&self) -> Result<Xray, JsValue> {
        self.with_session(|s| Ok(Xray::of(s.model().clone())))
    }

    fn of(model: Arc<Model>) -> Xray {
        Xray { session: Rc::new(RefCell::new(Some(Session::new(Engine::cpu(model))))) }
    }

    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, JsValue>) -> Result<T, JsValue> {
        let s = self.session.borrow();
        f(s.as_ref().ok_or_else(busy)?)
    }

    /// The model panel's facts (see `Session::describe`).
    pub fn info(&self) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&s.describe()))
    }

    /// `[{id, text, bytes}]` for token ids.
    #[wasm_bindgen(js_name = tokenInfos)]
    pub fn token_infos(&self, ids: &[u32]) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&s.model().token_infos(ids, 0)))
    }

    /// The id of a token written as text (e.g. " Paris"), or undefined.
    #[wasm_bindgen(js_name = tokenId)]
    pub fn token_id(&self, text: &str) -> Result<Option<u32>, JsValue> {
        self.with_session(|s| Ok(s.model().tokenizer.token_id(text)))
    }

    /// Chooses "auto", "webgpu" or "cpu"; resolves to `{backend, run}` (run null without a
    /// context).
    #[wasm_bindgen(js_name = setBackend)]
    pub fn set_backend(&self, choice: String, webgpu_present: bool) -> Result<Promise, JsValue> {
        let c = Choice::parse(&choice).ok_or_else(|| fail("input", format!("unknown backend \"{choice}\"; expected auto, webgpu or cpu")))?;
        later!(self, s => s.set_backend(c, webgpu_present))
    }

    /// Runs a prompt, reusing the cached keys and values of a shared prefix. Resolves to
    /// `{tokens, prompt_len, computed, reused, elapsed_ms, backend, notice, ended, ablated}`.
    #[wasm_bindgen(js_name = runPrompt)]
    pub fn run_prompt(&self, text: String) -> Result<Promise, JsValue> {
        later!(self, s => s.run_prompt(&text))
    }

    /// Runs a prompt given as token ids.
    #[wasm_bindgen(js_name = runIds)]
    pub fn run_ids(&self, ids: Vec<u32>) -> Result<Promise, JsValue> {
        later!(self, s => s.run_ids(ids))
    }

    /// Appends one token after the first `at` tokens (see `Session::generate_next`).
    #[wasm_bindgen(js_name = generateNext)]
    pub fn generate_next(&self, at: usize, temperature: f32, top_k: usize, top_p: f32, seed: f64) -> Result<Promise, JsValue> {
        let sm = sampling(temperature, top_k, top_p, seed)?;
        later!(self, s => s.generate_next(at, &sm))
    }

    /// Ablates heads given as flat [layer, head, …] (counted from 1), mode "zero" or
    /// "mean"; an empty list restores the model. Re-runs the context.
    #[wasm_bindgen(js_name = setAblation)]
    pub fn set_ablation(&self, heads: &[u32], mode: String) -> Result<Promise, JsValue> {
        let mode = AblationMode::parse(&mode).ok_or_else(|| fail("input", format!("ablation mode \"{mode}\" is not known; expected zero or mean")))?;
        let heads: Vec<(usize, usize)> = heads.chunks_exact(2).map(|p| ((p[0] as usize).saturating_sub(1), (p[1] as usize).saturating_sub(1))).collect();
        later!(self, s => s.set_ablation(heads, mode))
    }

    /// The sampling distribution after `at` tokens: `{ids: Uint32Array, probs: Float32Array,
    /// kept}` for the `limit` most probable tokens; `baseline` asks for the un-ablated one.
    pub fn distribution(&self, at: usize, temperature: f32, top_k: usize, top_p: f32, limit: usize, baseline: bool) -> Result<JsValue, JsValue> {
        let sm = sampling(temperature, top_k, top_p, 0.0)?;
        self.with_session(|s| {
            let (top, kept) = s.distribution(at, &sm, limit, baseline).map_err(err)?;
            let out = Object::new();
            set(&out, "ids", &Uint32Array::from(&top.iter().map(|d| d.0).collect::<Vec<_>>()[..]).into())?;
            set(&out, "probs", &Float32Array::from(&top.iter().map(|d| d.1).collect::<Vec<_>>()[..]).into())?;
            set(&out, "kept", &JsValue::from(kept as u32))?;
            Ok(out.into())
        })
    }

    /// A stored part of the context as `{shape, data: Float32Array}` (a copy; see
    /// `Session::slice`).
    pub fn tensor(&self, name: &str, layer: usize, head: Option<usize>) -> Result<JsValue, JsValue> {
        self.with_session(|s| {
            let (shape, data) = s.slice(name, layer, head).map_err(err)?;
            let out = Object::new();
            set(&out, "shape", &to_js(&shape)?)?;
            set(&out, "data", &Float32Array::from(data).into())?;
            Ok(out.into())
        })
    }

    /// The context as JSON text in the CLI's trace format (`llm-xray compare` reads it).
    #[wasm_bindgen(js_name = exportRun)]
    pub fn export_run(&self) -> Result<String, JsValue> {
        self.with_session(|s| serde_json::to_string(&s.export()).map_err(|e| fail("internal", format!("writing the run as JSON: {e}"))))
    }

    /// `{embedding [T], after_layer [L][T], attention [L][T], mlp [L][T]}`: L2 norms.
    #[wasm_bindgen(js_name = residualNorms)]
    pub fn residual_norms(&self) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(s.store().norms()))
    }

    /// The logit lens over the context: `[{after, top: [T][k] of {id, text, p}, target}]`.
    pub fn lens(&self, k: usize, target: Option<u32>) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&s.lens(k, target).map_err(err)?))
    }

    /// Direct logit attribution of `token` at `position` (0-based).
    pub fn attribute(&self, position: usize, token: u32) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&s.attribute(position, token).map_err(err)?))
    }

    /// The `k` nearest tokens to `id` in the token-embedding table, by cosine.
    pub fn neighbours(&self, id: u32, k: usize) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&crate::instruments::neighbours(s.model(), id, k).map_err(err)?))
    }

    /// Cosine similarities [n][n] of the token-embedding rows of `ids`.
    pub fn cosines(&self, ids: &[u32]) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&crate::instruments::cosines(s.model(), ids).map_err(err)?))
    }

    /// 2-D PCA coordinates of the embedding rows of `ids`.
    pub fn pca(&self, ids: &[u32]) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&crate::instruments::pca_2d(s.model(), ids).map_err(err)?))
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
        later!(self, s => s.census_step())
    }

    /// Thumbnails of every stage for the overview (see `Session::thumbnails`).
    pub fn thumbnails(&self, at: usize, size: usize) -> Result<JsValue, JsValue> {
        self.with_session(|s| to_js(&s.thumbnails(at, size).map_err(err)?))
    }

    /// The head grid's thumbnails of `layers` (see `Session::head_thumbnails`).
    #[wasm_bindgen(js_name = headThumbnails)]
    pub fn head_thumbnails(&self, layers: &[u32], at: usize, size: usize) -> Result<JsValue, JsValue> {
        let layers: Vec<usize> = layers.iter().map(|&l| l as usize).collect();
        self.with_session(|s| to_js(&s.head_thumbnails(&layers, at, size).map_err(err)?))
    }

    /// The repeated random-token sequence the census measures induction on (its first
    /// sequence): `half` random tokens, then the same again.
    #[wasm_bindgen(js_name = inductionDemo)]
    pub fn induction_demo(&self, half: usize) -> Result<Vec<u32>, JsValue> {
        self.with_session(|s| Ok(crate::heads::random_repeat(s.model().config.vocab_size, half, 0)))
    }
}
