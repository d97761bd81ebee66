//! The wasm API the page's Web Worker calls (`www/worker.js`).
//!
//! One [`Engine`] holds a loaded model, the CPU backend (always there, the fallback) and the
//! WebGPU backend when chosen. It keeps the activations of the whole context the page shows:
//! a prompt run records every row, and each "generate next token" step (one KV-cache run)
//! appends its row, so the views cover prompt and generated tokens alike. Because attention
//! is causal, the first `n` rows of that record are exactly what a run of the first `n`
//! tokens computes; the page's history shows earlier steps that way.
//!
//! Tensors leave as `Float32Array` copies (the worker transfers their buffers to the page)
//! with their shapes; small metadata (tokens, config, backend, distributions) goes through
//! `serde-wasm-bindgen`. Every error is a `JsError` with the engine's message for people.
//!
//! The surface, as JS sees it (one request at a time; async ones return Promises):
//! - `new Engine(configBytes, weightsBytes, tokenizerBytes)`; `info()` → `{config,
//!   parameters: [{component, count}], total_parameters}`.
//! - `tokenize(text)` and `tokenInfos(ids)` → `[{id, text, bytes, span}]`.
//! - `setBackend("auto" | "webgpu" | "cpu", webgpuPresent)` → `{backend, run}`;
//!   `backend()` → `{choice, kind, name, adapter, why}`.
//! - `runPrompt(text)`, `generateNext(at, temperature, topK, topP, seed)` →
//!   `{tokens, prompt_len, computed, elapsed_ms, backend, notice}`.
//! - `distribution(at, temperature, topK, topP, limit)` → `{ids: Uint32Array,
//!   probs: Float32Array, kept}` (the maths of [`Sampling::distribution`]).
//! - `tensor(name, layer)` → `{shape, data: Float32Array}`.

use crate::backend::Backend;
use crate::cpu::CpuBackend;
use gpu_api::{hardware_adapter_available, GpuBackend};
use crate::model::Model;
use crate::sampling::{Rng, Sampling};
use crate::trace::{Part, Parts, TokenInfo, Trace};
use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint32Array};
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
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("serializing a result: {e}")).into())
}

fn js_err(msg: impl std::fmt::Display) -> JsValue {
    JsError::new(&msg.to_string()).into()
}

/// The parts the page shows (or derives its residual-stream norms from).
fn page_parts() -> Parts {
    [Part::TokEmb, Part::PosEmb, Part::AttnProbs, Part::AttnOut, Part::MlpPost, Part::MlpOut, Part::ResidPost]
        .into_iter()
        .fold(Parts::none(), Parts::with)
}

/// Rows of a [T, cols] tensor, growing as tokens are appended.
#[derive(Default, Clone)]
struct Rows {
    cols: usize,
    data: Vec<f32>,
}

impl Rows {
    fn push(&mut self, cols: usize, data: &[f32]) {
        self.cols = cols;
        self.data.extend_from_slice(data);
    }
    fn truncate(&mut self, n: usize) {
        self.data.truncate(n * self.cols);
    }
}

/// Attention probabilities of one layer for the whole context: [H, T, T].
#[derive(Default, Clone)]
struct Square {
    heads: usize,
    t: usize,
    data: Vec<f32>,
}

impl Square {
    /// Appends the rows of a run of `t` new tokens after `self.t` cached ones; `rows` is
    /// [H, t, self.t + t]. Earlier rows get a zero for each new key: the causal mask.
    fn append(&mut self, heads: usize, t: usize, rows: &[f32]) {
        let (t0, tn) = (self.t, self.t + t);
        let mut out = vec![0.0; heads * tn * tn];
        for h in 0..heads {
            for i in 0..t0 {
                let src = &self.data[(h * t0 + i) * t0..(h * t0 + i + 1) * t0];
                out[(h * tn + i) * tn..(h * tn + i) * tn + t0].copy_from_slice(src);
            }
            for i in 0..t {
                let src = &rows[(h * t + i) * tn..(h * t + i + 1) * tn];
                out[(h * tn + t0 + i) * tn..(h * tn + t0 + i + 1) * tn].copy_from_slice(src);
            }
        }
        *self = Square { heads, t: tn, data: out };
    }
    fn truncate(&mut self, n: usize) {
        if n >= self.t {
            return;
        }
        let mut out = Vec::with_capacity(self.heads * n * n);
        for h in 0..self.heads {
            for i in 0..n {
                let row = (h * self.t + i) * self.t;
                out.extend_from_slice(&self.data[row..row + n]);
            }
        }
        *self = Square { heads: self.heads, t: n, data: out };
    }
}

/// What the page shows of the context, appended to run by run.
#[derive(Default)]
struct Record {
    tokens: Vec<TokenInfo>,
    tok_emb: Rows,
    pos_emb: Rows,
    attentions: Vec<Square>,
    mlp: Vec<Rows>,
    /// Per token: ‖embedding‖, then per layer ‖residual after the block‖, ‖attention
    /// output‖, ‖MLP output‖ (L2 norms): [T, 1 + 3L].
    norms: Rows,
    /// Next-token logits after the first `n` tokens, for each `n` a run ended at.
    next_logits: Vec<(usize, Vec<f32>)>,
}

fn l2(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

impl Record {
    fn len(&self) -> usize {
        self.tokens.len()
    }

    fn append(&mut self, tr: Trace) -> Result<(), String> {
        let t = tr.tokens.len();
        let need = |o: Option<&crate::trace::Tensor>, name: &str| {
            o.cloned().ok_or_else(|| format!("the backend did not record {name}"))
        };
        let te = need(tr.token_embeddings.as_ref(), "token embeddings")?;
        let pe = need(tr.position_embeddings.as_ref(), "position embeddings")?;
        let d = te.shape[1];
        self.tok_emb.push(d, &te.data);
        self.pos_emb.push(d, &pe.data);
        let n_layer = tr.layers.len();
        if self.attentions.len() != n_layer {
            self.attentions = vec![Square::default(); n_layer];
            self.mlp = vec![Rows::default(); n_layer];
        }
        let cols = 1 + 3 * n_layer;
        let mut norms = vec![0.0f32; t * cols];
        for i in 0..t {
            let sum: Vec<f32> = te.row(i).iter().zip(pe.row(i)).map(|(a, b)| a + b).collect();
            norms[i * cols] = l2(&sum);
        }
        for (l, lt) in tr.layers.iter().enumerate() {
            let a = need(lt.attentions.as_ref(), "attention probabilities")?;
            self.attentions[l].append(a.shape[0], t, &a.data);
            let m = need(lt.mlp_activation.as_ref(), "MLP activations")?;
            self.mlp[l].push(m.shape[1], &m.data);
            let r = need(lt.residual_after_mlp.as_ref(), "the residual stream")?;
            let ao = need(lt.attention_output.as_ref(), "attention outputs")?;
            let mo = need(lt.mlp_output.as_ref(), "MLP outputs")?;
            for i in 0..t {
                let base = i * cols + 1 + 3 * l;
                norms[base] = l2(r.row(i));
                norms[base + 1] = l2(ao.row(i));
                norms[base + 2] = l2(mo.row(i));
            }
        }
        self.norms.push(cols, &norms);
        self.tokens.extend(tr.tokens);
        let n = self.len();
        self.next_logits.retain(|(k, _)| *k != n);
        self.next_logits.push((n, tr.next_logits));
        Ok(())
    }

    fn truncate(&mut self, n: usize) {
        self.tokens.truncate(n);
        self.tok_emb.truncate(n);
        self.pos_emb.truncate(n);
        self.attentions.iter_mut().for_each(|a| a.truncate(n));
        self.mlp.iter_mut().for_each(|m| m.truncate(n));
        self.norms.truncate(n);
        self.next_logits.retain(|(k, _)| *k <= n);
    }

    fn logits_at(&self, n: usize) -> Option<&[f32]> {
        self.next_logits.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_slice())
    }
}

/// Which backend runs the model, and why; shown in the Model panel.
#[derive(Serialize, Clone)]
pub struct BackendInfo {
    /// What the user asked for: "auto", "webgpu" or "cpu".
    choice: String,
    /// What runs: "webgpu" or "cpu".
    kind: String,
    /// The backend's own description.
    name: String,
    /// The WebGPU adapter (name, backend, is_software), when WebGPU runs.
    adapter: Option<serde_json::Value>,
    /// One sentence for people: why this backend.
    why: String,
}

#[derive(Serialize)]
struct RunInfo {
    /// Every token of the context.
    tokens: Vec<TokenInfo>,
    prompt_len: usize,
    /// Tokens computed by this call (the whole context for a prompt, 1 for a step).
    computed: usize,
    elapsed_ms: f64,
    backend: BackendInfo,
    /// Set when the GPU failed and the CPU took over the run.
    notice: Option<String>,
}

struct State {
    model: Arc<Model>,
    cpu: CpuBackend,
    gpu: Option<GpuBackend>,
    use_gpu: bool,
    info: BackendInfo,
    /// Ids of the context, prompt first.
    ids: Vec<u32>,
    prompt_len: usize,
    record: Record,
    /// Set while a run is in flight; the worker sends one request at a time.
    busy: bool,
}

fn cpu_info(choice: &str, why: impl Into<String>) -> BackendInfo {
    BackendInfo {
        choice: choice.into(),
        kind: "cpu".into(),
        name: "CPU (Rust compiled to WebAssembly)".into(),
        adapter: None,
        why: why.into(),
    }
}

/// The model in the tab. Created from the bytes of the model folder's three files.
#[wasm_bindgen]
pub struct Engine {
    state: Rc<RefCell<State>>,
}

/// Runs `ids` after `ids_before` (already in the active backend's context unless `fresh`),
/// on the GPU when chosen, falling back to the CPU (rebuilding its context) if the GPU fails.
async fn run_on_backend(
    state: &Rc<RefCell<State>>,
    ids_before: &[u32],
    ids: &[u32],
    fresh: bool,
    parts: Parts,
) -> Result<(Trace, Option<String>), String> {
    let gpu = {
        let mut s = state.borrow_mut();
        if s.use_gpu {
            s.gpu.take()
        } else {
            None
        }
    };
    let mut notice = None;
    if let Some(mut gpu) = gpu {
        let res = if fresh || gpu.context_len() != ids_before.len() {
            gpu.reset();
            if ids_before.is_empty() {
                gpu.run_async(ids, parts).await
            } else {
                match gpu.run_async(ids_before, Parts::none()).await {
                    Ok(_) => gpu.run_async(ids, parts).await,
                    Err(e) => Err(e),
                }
            }
        } else {
            gpu.run_async(ids, parts).await
        };
        match res {
            Ok(tr) => {
                state.borrow_mut().gpu = Some(gpu);
                return Ok((tr, None));
            }
            Err(crate::Error::Input(m)) => {
                state.borrow_mut().gpu = Some(gpu);
                return Err(format!("input: {m}"));
            }
            Err(e) => {
                let msg = format!("WebGPU failed ({e}); the CPU backend took over and ran this step");
                let mut s = state.borrow_mut();
                s.use_gpu = false;
                let choice = s.info.choice.clone();
                s.info = cpu_info(&choice, msg.clone());
                notice = Some(msg);
            }
        }
    }
    let mut s = state.borrow_mut();
    let cpu = &mut s.cpu;
    if fresh || cpu.context_len() != ids_before.len() {
        cpu.reset();
        if !ids_before.is_empty() {
            cpu.run(ids_before, Parts::none()).map_err(|e| e.to_string())?;
        }
    }
    let tr = cpu.run(ids, parts).map_err(|e| e.to_string())?;
    Ok((tr, notice))
}

/// Re-runs the whole context on the active backend and rebuilds the record from it: the
/// prompt in one run, then each generated token as one KV-cache step, as it was made, so
/// every history step keeps its next-token logits.
async fn rerun_context(state: &Rc<RefCell<State>>) -> Result<RunInfo, String> {
    let (ids, p) = {
        let s = state.borrow();
        (s.ids.clone(), s.prompt_len)
    };
    let (tr, mut notice) = run_on_backend(state, &[], &ids[..p], true, page_parts()).await?;
    let mut elapsed_ms = tr.elapsed_ms;
    {
        let mut s = state.borrow_mut();
        s.record = Record::default();
        s.record.append(tr)?;
    }
    for k in p..ids.len() {
        let (tr, n) = run_on_backend(state, &ids[..k], &ids[k..k + 1], false, page_parts()).await?;
        notice = notice.or(n);
        elapsed_ms += tr.elapsed_ms;
        state.borrow_mut().record.append(tr)?;
    }
    Ok(state.borrow().run_info(ids.len(), elapsed_ms, notice))
}

impl State {
    fn run_info(&self, computed: usize, elapsed_ms: f64, notice: Option<String>) -> RunInfo {
        RunInfo {
            tokens: self.record.tokens.clone(),
            prompt_len: self.prompt_len,
            computed,
            elapsed_ms,
            backend: self.info.clone(),
            notice,
        }
    }

    /// Drops the context after its first `n` tokens (going back in the history).
    fn rewind(&mut self, n: usize) {
        if n < self.ids.len() {
            self.ids.truncate(n);
            self.record.truncate(n);
        }
    }
}

/// Guards the one-run-at-a-time rule and clears `busy` however the run ends.
struct Busy(Rc<RefCell<State>>);

impl Busy {
    fn take(state: &Rc<RefCell<State>>) -> Result<Busy, JsValue> {
        let mut s = state.borrow_mut();
        if s.busy {
            return Err(js_err("the engine is still running the previous request"));
        }
        s.busy = true;
        Ok(Busy(state.clone()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.borrow_mut().busy = false;
    }
}

#[wasm_bindgen]
impl Engine {
    /// Loads a model from the bytes of `config.json`, `model.safetensors` and
    /// `tokenizer.json`. Starts on the CPU; call `setBackend` to choose.
    #[wasm_bindgen(constructor)]
    pub fn new(config: &[u8], weights: &[u8], tokenizer: &[u8]) -> Result<Engine, JsError> {
        let model = Arc::new(Model::from_bytes(config, weights, tokenizer).map_err(|e| JsError::new(&e.to_string()))?);
        let cpu = CpuBackend::new(model.clone());
        Ok(Engine {
            state: Rc::new(RefCell::new(State {
                model,
                cpu,
                gpu: None,
                use_gpu: false,
                info: cpu_info("cpu", "the model starts on the CPU until a backend is chosen"),
                ids: Vec::new(),
                prompt_len: 0,
                record: Record::default(),
                busy: false,
            })),
        })
    }

    /// Hyperparameters and learned-parameter counts:
    /// `{config, parameters: [{component, count}], total_parameters}`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let s = self.state.borrow();
        let parameters = s.model.weights.param_counts();
        let total: usize = parameters.iter().map(|p| p.count).sum();
        #[derive(Serialize)]
        struct Info<'a> {
            config: &'a crate::Config,
            parameters: Vec<crate::weights::ParamCount>,
            total_parameters: usize,
        }
        to_js(&Info { config: &s.model.config, parameters, total_parameters: total })
    }

    /// The tokens of `text` as `[{id, text, bytes, span}]`, the same as `llm-xray tokenize`.
    /// Does not run the model and does not check the context length.
    pub fn tokenize(&self, text: &str) -> Result<JsValue, JsValue> {
        let s = self.state.borrow();
        let toks: Vec<TokenInfo> = s
            .model
            .tokenizer
            .encode(text)
            .into_iter()
            .map(|p| TokenInfo { id: p.id, text: String::from_utf8_lossy(&p.bytes).into_owned(), bytes: p.bytes, span: p.span })
            .collect();
        to_js(&toks)
    }

    /// `[{id, text, bytes}]` for token ids (e.g. the top of a distribution).
    #[wasm_bindgen(js_name = tokenInfos)]
    pub fn token_infos(&self, ids: &[u32]) -> Result<JsValue, JsValue> {
        to_js(&self.state.borrow().model.token_infos(ids, 0))
    }

    /// The backend in use: `{choice, kind, name, adapter, why}`.
    pub fn backend(&self) -> Result<JsValue, JsValue> {
        to_js(&self.state.borrow().info)
    }

    /// Chooses the backend: "auto" (WebGPU when a hardware adapter exists, else the CPU),
    /// "webgpu" or "cpu". `webgpu_present` is whether the page and worker have
    /// `navigator.gpu`. Re-runs the context on the new backend when there is one.
    /// Resolves to `{backend, run}` (`run` is null without a context).
    #[wasm_bindgen(js_name = setBackend)]
    pub fn set_backend(&self, choice: String, webgpu_present: bool) -> Result<Promise, JsValue> {
        let busy = Busy::take(&self.state)?;
        let state = self.state.clone();
        Ok(future_to_promise(async move {
            let _busy = busy;
            let use_cpu = |why: &str| {
                let mut s = state.borrow_mut();
                s.use_gpu = false;
                s.info = cpu_info(&choice, why);
                false
            };
            let want_gpu = match choice.as_str() {
                "cpu" => use_cpu("you chose the CPU backend"),
                "webgpu" if !webgpu_present => use_cpu(
                    "WebGPU was chosen, but this browser offers no WebGPU (navigator.gpu is missing), so the CPU runs the model",
                ),
                "webgpu" => true,
                "auto" if !webgpu_present => {
                    use_cpu("this browser offers no WebGPU (navigator.gpu is missing), so the CPU runs the model")
                }
                "auto" => {
                    hardware_adapter_available().await
                        || use_cpu("WebGPU has no hardware adapter here (at most a software one such as SwiftShader, which is slower than the CPU backend), so Auto chose the CPU")
                }
                other => return Err(js_err(format!("unknown backend \"{other}\"; expected auto, webgpu or cpu"))),
            };
            if want_gpu {
                let have = state.borrow().gpu.is_some();
                let failure = if have {
                    None
                } else {
                    let model = state.borrow().model.clone();
                    match GpuBackend::new(model).await {
                        Ok(g) => {
                            state.borrow_mut().gpu = Some(g);
                            None
                        }
                        Err(e) => Some(e.to_string()),
                    }
                };
                let mut s = state.borrow_mut();
                match failure {
                    None => {
                        let g = s.gpu.as_ref().expect("just created");
                        let adapter = serde_json::to_value(g.adapter()).ok();
                        let software = adapter
                            .as_ref()
                            .and_then(|a| a.get("is_software"))
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false);
                        let why = match (choice.as_str(), software) {
                            ("auto", _) => "Auto found a hardware WebGPU adapter".to_string(),
                            (_, true) => "you chose WebGPU; this adapter is a software rasterizer, so it is slower than the CPU backend".to_string(),
                            _ => "you chose WebGPU".to_string(),
                        };
                        s.info = BackendInfo { choice: choice.clone(), kind: "webgpu".into(), name: g.describe(), adapter, why };
                        s.use_gpu = true;
                    }
                    Some(e) => {
                        s.use_gpu = false;
                        s.info = cpu_info(&choice, format!("WebGPU could not start ({e}), so the CPU runs the model"));
                    }
                }
            }
            let has_context = !state.borrow().ids.is_empty();
            let run = if has_context { Some(rerun_context(&state).await.map_err(js_err)?) } else { None };
            #[derive(Serialize)]
            struct Out {
                backend: BackendInfo,
                run: Option<RunInfo>,
            }
            let backend = state.borrow().info.clone();
            to_js(&Out { backend, run })
        }))
    }

    /// Runs a prompt from scratch and records the page's activations. Fails (with the
    /// engine's message, e.g. how many tokens fit) on an empty or over-long prompt.
    /// Resolves to `{tokens, prompt_len, computed, elapsed_ms, backend, notice}`.
    #[wasm_bindgen(js_name = runPrompt)]
    pub fn run_prompt(&self, text: String) -> Result<Promise, JsValue> {
        let busy = Busy::take(&self.state)?;
        let state = self.state.clone();
        Ok(future_to_promise(async move {
            let _busy = busy;
            let ids = state.borrow().model.encode_prompt(&text).map_err(js_err)?;
            {
                let mut s = state.borrow_mut();
                s.prompt_len = ids.len();
                s.ids = ids;
            }
            let info = rerun_context(&state).await.map_err(js_err)?;
            to_js(&info)
        }))
    }

    /// Appends one token after the first `at` tokens of the context (dropping any later
    /// ones: going back in the history), chosen from the next-token logits with `sampling`
    /// (temperature 0 = greedy; else seeded: the k-th generated token uses the k-th draw
    /// of the generator seeded with `seed`, as `llm-xray generate` does), and runs it as one
    /// KV-cache step. Resolves like `runPrompt`, with `computed` 1.
    #[wasm_bindgen(js_name = generateNext)]
    pub fn generate_next(&self, at: usize, temperature: f32, top_k: usize, top_p: f32, seed: f64) -> Result<Promise, JsValue> {
        let busy = Busy::take(&self.state)?;
        let state = self.state.clone();
        let sampling = checked_sampling(temperature, top_k, top_p, seed)?;
        Ok(future_to_promise(async move {
            let _busy = busy;
            let (next, before) = {
                let mut s = state.borrow_mut();
                if at == 0 || at > s.ids.len() || at < s.prompt_len {
                    return Err(js_err(format!(
                        "step {at} is not in this context of {} tokens (prompt {})",
                        s.ids.len(),
                        s.prompt_len
                    )));
                }
                s.rewind(at);
                let n_positions = s.model.config.n_positions;
                if at >= n_positions {
                    return Err(js_err(format!(
                        "the context is full: this model holds at most {n_positions} tokens (n_positions)"
                    )));
                }
                let logits = s.record.logits_at(at).ok_or_else(|| js_err("no logits recorded for this step"))?;
                let mut rng = Rng::new(sampling.seed);
                for _ in 0..(at - s.prompt_len) {
                    rng.next_u64();
                }
                (sampling.sample(logits, &mut rng), s.ids.clone())
            };
            let (tr, notice) = run_on_backend(&state, &before, &[next], false, page_parts()).await.map_err(js_err)?;
            let mut s = state.borrow_mut();
            let elapsed = tr.elapsed_ms;
            s.record.append(tr).map_err(js_err)?;
            s.ids.push(next);
            to_js(&s.run_info(1, elapsed, notice))
        }))
    }

    /// The sampling distribution after the first `at` tokens: `{ids: Uint32Array,
    /// probs: Float32Array, kept}` for the `limit` most probable tokens, using the same
    /// temperature/top-k/top-p maths as generation (temperature 1, top-k 0, top-p 1 gives
    /// the model's own softmax). `kept` counts the tokens sampling could pick.
    pub fn distribution(&self, at: usize, temperature: f32, top_k: usize, top_p: f32, limit: usize) -> Result<JsValue, JsValue> {
        let sampling = checked_sampling(temperature, top_k, top_p, 0.0)?;
        let s = self.state.borrow();
        let logits = s.record.logits_at(at).ok_or_else(|| js_err(format!("no logits recorded after {at} tokens")))?;
        let dist = sampling.distribution(logits);
        let top = &dist[..dist.len().min(limit)];
        let out = Object::new();
        let ids: Vec<u32> = top.iter().map(|d| d.0).collect();
        let probs: Vec<f32> = top.iter().map(|d| d.1).collect();
        Reflect::set(&out, &"ids".into(), &Uint32Array::from(&ids[..]))?;
        Reflect::set(&out, &"probs".into(), &Float32Array::from(&probs[..]))?;
        Reflect::set(&out, &"kept".into(), &JsValue::from(dist.len() as u32))?;
        Ok(out.into())
    }

    /// A recorded tensor of the context as `{shape, data: Float32Array}` (a copy):
    /// `token_embeddings`, `position_embeddings` [T, d]; `attentions` [H, T, T] and
    /// `mlp_activation` [T, n_inner] of `layer`; `residual_norms` [T, 1 + 3L];
    /// `next_logits` [V] after `layer` tokens.
    pub fn tensor(&self, name: &str, layer: usize) -> Result<JsValue, JsValue> {
        let s = self.state.borrow();
        let r = &s.record;
        let t = r.len();
        let layer_of = |v: usize| {
            if layer < v {
                Ok(layer)
            } else {
                Err(js_err(format!("layer {layer} does not exist; this model has {v} layers")))
            }
        };
        let (shape, data): (Vec<usize>, &[f32]) = match name {
            "token_embeddings" => (vec![t, r.tok_emb.cols], &r.tok_emb.data),
            "position_embeddings" => (vec![t, r.pos_emb.cols], &r.pos_emb.data),
            "attentions" => {
                let a = &r.attentions[layer_of(r.attentions.len())?];
                (vec![a.heads, a.t, a.t], &a.data)
            }
            "mlp_activation" => {
                let m = &r.mlp[layer_of(r.mlp.len())?];
                (vec![t, m.cols], &m.data)
            }
            "residual_norms" => (vec![t, r.norms.cols], &r.norms.data),
            "next_logits" => {
                let l = r.logits_at(layer).ok_or_else(|| js_err(format!("no logits recorded after {layer} tokens")))?;
                (vec![l.len()], l)
            }
            other => return Err(js_err(format!("unknown tensor \"{other}\""))),
        };
        let out = Object::new();
        let shape: Array = shape.iter().map(|&n| JsValue::from(n as u32)).collect();
        Reflect::set(&out, &"shape".into(), &shape)?;
        Reflect::set(&out, &"data".into(), &Float32Array::from(data))?;
        Ok(out.into())
    }
}

fn checked_sampling(temperature: f32, top_k: usize, top_p: f32, seed: f64) -> Result<Sampling, JsValue> {
    if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
        return Err(js_err("the seed must be a whole number from 0 to 2^53 − 1"));
    }
    let s = Sampling { temperature, top_k, top_p, seed: seed as u64 };
    s.check().map_err(js_err)?;
    Ok(s)
}

/// The WebGPU backend (src/gpu), by the names this module uses.
mod gpu_api {
    pub use crate::gpu::{hardware_adapter_available, GpuBackend};
}
