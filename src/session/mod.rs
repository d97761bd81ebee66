//! A session: one model, one context (a prompt and the tokens generated after it) and the
//! activations of that whole context, kept for the page's views. Platform-neutral: the wasm
//! binding (`wasm.rs`) only forwards to it, and native tests drive it directly.
//!
//! Runs append to the [`Store`]: a prompt run records every row, each "generate next token"
//! step (one KV-cache run) appends its row, and typing that extends or edits the end of the
//! prompt keeps the common prefix and computes only the new tokens. Because attention is
//! causal, the first `n` rows of the store are exactly what a run of the first `n` tokens
//! computes; the page's history shows earlier steps that way.

use crate::ablation::{Ablation, AblationMode};
use crate::backend::{prompt_ablation, BackendInfo, Choice, Engine};
use crate::batched::BatchedMatrix;
use crate::contrast::Contrast;
use crate::error::{Error, Result};
use crate::heads::{Census, HeadScores};
use crate::instruments::{self, Attribution, LensLayer};
use crate::model::Model;
use crate::sampling::{Rng, Sampling};
mod store;
pub mod train;

use crate::trace::{Layout, Part, PartSource, Parts, TokenInfo, TraceJson};
use serde::Serialize;
use std::sync::Arc;
pub use store::{ResidualNorms, Store};

/// What the page is told after every run.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Every token of the context.
    pub tokens: Vec<TokenInfo>,
    pub prompt_len: usize,
    /// Tokens computed by this call: the whole prompt, only the new tokens of an edited
    /// prompt, or 1 for a generation step.
    pub computed: usize,
    /// Tokens kept from the previous context (their keys and values reused).
    pub reused: usize,
    pub elapsed_ms: f64,
    pub backend: BackendInfo,
    /// Set when the GPU failed and the CPU took over the run.
    pub notice: Option<String>,
    /// The context ends with an end-of-sequence token: generation has stopped.
    pub ended: bool,
    /// The ablated heads (counted from 1) and how.
    pub ablated: Vec<(usize, usize)>,
    pub ablation_mode: AblationMode,
}

/// The backend chosen, and the context's re-run on it (none without a context).
#[derive(Debug, Clone, Serialize)]
pub struct BackendSwitch {
    pub backend: BackendInfo,
    pub run: Option<RunInfo>,
}

/// One run of the head census: runs done of `total`; the labelled scores (layers and heads
/// counted from 1) after the last run.
#[derive(Debug, Clone, Serialize)]
pub struct CensusStep {
    pub done: usize,
    pub total: usize,
    pub heads: Option<Vec<crate::heads::LabelledHead>>,
}

/// The model panel's facts: hyperparameters, how the weights were stored, learned-parameter
/// counts, the longest context the page keeps, and the chat format, if the model has one.
#[derive(Debug, Serialize)]
pub struct ModelInfo<'a> {
    #[serde(flatten)]
    pub model: crate::model::Summary<'a>,
    pub max_tokens: usize,
    pub chat: Option<crate::chat::ChatFormat>,
}

/// Small pictures of every stage's real activations for the page's overview, each pooled
/// to at most `size` × `size` (see [`pool`]): each layer's attention averaged over its
/// heads (query × key), its MLP's hidden neurons (token × neuron), and the residual stream
/// entering layer 1 (token × dimension). Drawn from the first `at` tokens.
#[derive(Debug, Clone, Serialize)]
pub struct Thumbnails {
    pub tokens: usize,
    pub attention: Vec<Thumb>,
    pub mlp: Vec<Thumb>,
    pub embedding: Thumb,
}

/// The values of an [h, w] grid pooled to at most `size` × `size` blocks, each keeping its
/// value of largest magnitude (so one strong attention link or neuron is never lost).
/// Returns (values, rows, cols).
pub fn pool(data: &[f32], h: usize, w: usize, size: usize) -> (Vec<f32>, usize, usize) {
    let (r, c) = (size.clamp(1, h.max(1)), size.clamp(1, w.max(1)));
    let span = |k: usize, n: usize, of: usize| (k * n / of, ((k + 1) * n / of).max(k * n / of + 1));
    let mut out = Vec::with_capacity(r * c);
    for i in 0..r {
        let (i0, i1) = span(i, h, r);
        for j in 0..c {
            let (j0, j1) = span(j, w, c);
            let mut m = 0.0f32;
            for row in i0..i1 {
                for v in &data[row * w + j0..row * w + j1] {
                    if v.abs() > m.abs() {
                        m = *v;
                    }
                }
            }
            out.push(m);
        }
    }
    (out, r, c)
}

/// One thumbnail: a pooled grid.
#[derive(Debug, Clone, Serialize)]
pub struct Thumb {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Thumb {
    fn of(data: &[f32], h: usize, w: usize, size: usize) -> Thumb {
        let (data, rows, cols) = pool(data, h, w, size);
        Thumb { rows, cols, data }
    }
}

/// Bytes the page's store takes for a context of `t` tokens: every kept part grows with each
/// token, and the attention maps with its square.
pub fn store_bytes(model: &Model, t: usize) -> f64 {
    let (a, b) = store_coefficients(model);
    a * (t * t) as f64 + b * t as f64
}

fn store_coefficients(model: &Model) -> (f64, f64) {
    let c = &model.config;
    let per_token: usize = session_parts(model)
        .iter()
        .filter(|p| p.spec().layout != Layout::Keys)
        .map(|p| {
            let n: usize = (p.spec().shape)(&crate::trace::Dims::new(c, 0, 1)).iter().product();
            if p.is_layer() {
                n * c.n_layer
            } else {
                n
            }
        })
        .sum();
    (4.0 * (c.n_layer * c.n_head) as f64, 4.0 * per_token as f64)
}

/// The largest context the page keeps: the model's own context, or fewer tokens where the
/// recorded activations would pass `budget` bytes.
pub fn max_tokens(model: &Model, budget: f64) -> usize {
    let (a, b) = store_coefficients(model);
    // a·T² + b·T ≤ budget
    let t = (-b + (b * b + 4.0 * a * budget).sqrt()) / (2.0 * a);
    (t as usize).clamp(1, model.config.n_positions)
}

/// The store's budget for `model`: [`STORE_BUDGET`], or, for a model with sliding-window
/// layers (Gemma 3), enough for its window and [`PAST_WINDOW`] tokens more, up to
/// [`WINDOW_BUDGET_MAX`]: a prompt longer than the window is what shows a local layer
/// stop looking back (its map becomes a band), and with the weights held in their blocks
/// the tab has room for it.
pub fn store_budget(model: &Model) -> f64 {
    let c = &model.config;
    let local = c.layer_types.iter().any(|t| *t != crate::config::LayerType::Global);
    match c.sliding_window {
        Some(w) if local && w < c.n_positions => {
            let need = store_bytes(model, (w + PAST_WINDOW).min(c.n_positions));
            STORE_BUDGET.max(need.min(WINDOW_BUDGET_MAX))
        }
        _ => STORE_BUDGET,
    }
}

/// Tokens past a sliding window the page keeps room for.
pub const PAST_WINDOW: usize = 64;

/// The most a sliding-window model's store may take (bytes).
pub const WINDOW_BUDGET_MAX: f64 = 1e9;

/// The parts the page keeps for every token.
pub fn session_parts(model: &Model) -> Parts {
    let mut keep =
        vec![Part::TokEmb, Part::PosEmb, Part::AttnProbs, Part::HeadOutputs, Part::MlpGate, Part::MlpUp, Part::MlpPost, Part::MlpOut, Part::ResidPost];
    if model.config.rope_theta.is_some() {
        keep.extend([Part::Q, Part::K, Part::QRot, Part::KRot]);
    }
    // Gemma's q and k after QK-norm, and what its blocks add after their post-norms.
    keep.extend([Part::QNorm, Part::KNorm, Part::PostAttnNorm, Part::PostMlpNorm]);
    Parts::of(&keep.into_iter().filter(|p| p.applies_to(&model.config)).collect::<Vec<_>>())
}

/// The parts a run records for the store: what it keeps, plus what the norms need.
fn run_parts(keep: Parts) -> Parts {
    let norms = [Part::AttnOut, Part::PostAttnNorm, Part::MlpOut, Part::PostMlpNorm, Part::ResidPost, Part::TokEmb, Part::PosEmb];
    Parts::of(&keep.iter().chain(norms).collect::<Vec<_>>())
}

/// Bytes of recorded activations the page allows itself per context.
pub const STORE_BUDGET: f64 = 320e6;

pub struct Session {
    engine: Engine,
    /// The context's ids, prompt first.
    ids: Vec<u32>,
    prompt_len: usize,
    store: Store,
    keep: Parts,
    max_tokens: usize,
    ablated: Vec<(usize, usize)>,
    ablation_mode: AblationMode,
    /// The un-ablated next-token logits at the end of the prompt, while heads are ablated
    /// (the page shows before and after).
    baseline: Option<Vec<f32>>,
    /// A head census under way, with the engine it runs on.
    census: Option<(Census, Engine)>,
}

impl Session {
    pub fn new(engine: Engine) -> Session {
        let model = engine.model().clone();
        Session {
            engine,
            ids: Vec::new(),
            prompt_len: 0,
            store: Store::default(),
            keep: session_parts(&model),
            max_tokens: max_tokens(&model, store_budget(&model)),
            ablated: Vec::new(),
            ablation_mode: AblationMode::Zero,
            baseline: None,
            census: None,
        }
    }

    pub fn model(&self) -> &Arc<Model> {
        self.engine.model()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The most tokens this session's context may hold.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    fn info(&mut self, computed: usize, reused: usize, elapsed_ms: f64) -> RunInfo {
        let eos = &self.model().config.eos_token_ids;
        let ended = self.ids.len() > self.prompt_len && self.ids.last().is_some_and(|id| eos.contains(id));
        RunInfo {
            tokens: self.store.tokens().to_vec(),
            prompt_len: self.prompt_len,
            computed,
            reused,
            elapsed_ms,
            backend: self.engine.info().clone(),
            notice: self.engine.take_notice(),
            ended,
            ablated: self.ablated.iter().map(|(l, h)| (l + 1, h + 1)).collect(),
            ablation_mode: self.ablation_mode,
        }
    }

    fn check_len(&self, n: usize) -> Result<()> {
        if n > self.max_tokens {
            let why = if self.max_tokens < self.model().config.n_positions {
                format!(
                    " (the model's context holds {}, but this page keeps every activation of every token, which would pass {} MB)",
                    self.model().config.n_positions,
                    (store_budget(self.model()) / 1e6) as u64
                )
            } else {
                " (n_positions)".to_string()
            };
            return Err(Error::Input(format!("{n} tokens do not fit: this page runs at most {} tokens with this model{why}", self.max_tokens)));
        }
        Ok(())
    }

    /// Truncates the engine and the store to `n` tokens and runs `ids[n..]` after them.
    async fn extend(&mut self, n: usize) -> Result<(usize, f64)> {
        self.engine.truncate(n);
        self.store.truncate(n);
        if self.engine.context_len() != n {
            // The engine's context is not the store's (a failed ablation or re-run left it
            // elsewhere): rebuild it.
            self.engine.reset();
            if n > 0 {
                self.engine.run(&self.ids[..n], Parts::none()).await?;
            }
        }
        let tr = self.engine.run(&self.ids[n..], run_parts(self.keep)).await?;
        let elapsed = tr.elapsed_ms;
        self.store.append(tr, self.keep)?;
        Ok((self.ids.len() - n, elapsed))
    }

    /// Runs a prompt. When it shares a prefix with the context (typing at the end of the
    /// prompt, or editing its last word), the prefix's keys and values are kept and only
    /// the tokens after it are computed; the result equals a fresh run's.
    pub async fn run_prompt(&mut self, text: &str) -> Result<RunInfo> {
        let ids = self.model().encode_prompt(text)?;
        self.run_ids(ids).await
    }

    /// Runs a prompt given as token ids (e.g. a repeated random sequence that no text
    /// tokenizes to), as `run_prompt` does.
    pub async fn run_ids(&mut self, ids: Vec<u32>) -> Result<RunInfo> {
        self.model().check_ids(&ids, 0)?;
        self.check_len(ids.len())?;
        let common = self.ids.iter().zip(&ids).take_while(|(a, b)| a == b).count();
        // With heads ablated, a new prompt needs its un-ablated "before" (and, for
        // mean-ablation, new means): a clean run, after which the context is rebuilt.
        let fresh = !self.ablated.is_empty();
        // The last token is always recomputed: its next-token logits are what the page shows.
        let keep = if fresh { 0 } else { common.min(ids.len() - 1) };
        let unchanged = common == ids.len() && common == self.ids.len() && self.prompt_len == ids.len();
        if unchanged {
            let n = self.ids.len();
            return Ok(self.info(0, n, 0.0));
        }
        let old = (std::mem::replace(&mut self.ids, ids), self.prompt_len);
        self.prompt_len = self.ids.len();
        let result = if fresh { self.apply_ablation().await } else { self.extend(keep).await.map(|(c, ms)| (c, keep, ms)) };
        match result {
            Ok((computed, reused, ms)) => Ok(self.info(computed, reused, ms)),
            Err(e) => {
                // A failed run leaves the previous context on screen.
                (self.ids, self.prompt_len) = old;
                self.rerun().await?;
                Err(e)
            }
        }
    }

    /// Appends one token after the first `at` tokens of the context (dropping any later
    /// ones: going back in the history), chosen from the next-token logits with `sampling`
    /// (temperature 0 = greedy; else seeded: the k-th generated token uses the k-th draw of
    /// the generator seeded with `seed`, as `llm-xray generate` does), and runs it as one
    /// KV-cache step.
    pub async fn generate_next(&mut self, at: usize, sampling: &Sampling) -> Result<RunInfo> {
        if at == 0 || at > self.ids.len() || at < self.prompt_len {
            return Err(Error::Input(format!("step {at} is not in this context of {} tokens (prompt {})", self.ids.len(), self.prompt_len)));
        }
        if at >= self.max_tokens {
            return Err(Error::Input(format!("the context is full: this page runs at most {} tokens with this model", self.max_tokens)));
        }
        let logits = self.store.logits_at(at).ok_or_else(|| Error::Input(format!("no logits recorded after {at} tokens")))?;
        let mut rng = Rng::new(sampling.seed);
        for _ in 0..(at - self.prompt_len) {
            rng.next_u64();
        }
        let next = sampling.sample(logits, &mut rng);
        self.ids.truncate(at);
        self.ids.push(next);
        let (_, ms) = self.extend(at).await?;
        Ok(self.info(1, at, ms))
    }

    /// The sampling distribution after the first `at` tokens, (id, probability), most
    /// probable first, at most `limit`; and how many tokens sampling could pick. With
    /// `baseline`, the distribution without the current head ablation.
    pub fn distribution(&self, at: usize, sampling: &Sampling, limit: usize, baseline: bool) -> Result<(Vec<(u32, f32)>, usize)> {
        let logits = if baseline {
            self.baseline
                .as_deref()
                .filter(|_| at == self.prompt_len)
                .ok_or_else(|| Error::Input("no un-ablated distribution: no head is ablated, or this is not the end of the prompt".into()))?
        } else {
            self.store.logits_at(at).ok_or_else(|| Error::Input(format!("no logits recorded after {at} tokens")))?
        };
        let dist = sampling.distribution(logits);
        let kept = dist.len();
        Ok((dist.into_iter().take(limit).collect(), kept))
    }

    /// Re-runs the whole context on the engine as it is now and rebuilds the store: the
    /// prompt in one run, then each generated token as one KV-cache step, as it was made,
    /// so every history step keeps its next-token logits.
    async fn rerun(&mut self) -> Result<(usize, usize, f64)> {
        if self.ids.is_empty() {
            return Ok((0, 0, 0.0));
        }
        self.engine.reset();
        self.store = Store::default();
        let tr = self.engine.run(&self.ids[..self.prompt_len], run_parts(self.keep)).await?;
        let mut ms = tr.elapsed_ms;
        self.store.append(tr, self.keep)?;
        for k in self.prompt_len..self.ids.len() {
            let tr = self.engine.run(&self.ids[k..k + 1], run_parts(self.keep)).await?;
            ms += tr.elapsed_ms;
            self.store.append(tr, self.keep)?;
        }
        Ok((self.ids.len(), 0, ms))
    }

    /// Chooses the backend ("auto", "gpu"/"webgpu" or "cpu"); `gpu_api` is whether the
    /// platform has a GPU API at all. The context is re-run on it.
    pub async fn set_backend(&mut self, choice: Choice, gpu_api: bool) -> Result<BackendSwitch> {
        self.engine.choose(choice, gpu_api).await;
        let backend = self.engine.info().clone();
        if self.ids.is_empty() {
            return Ok(BackendSwitch { backend, run: None });
        }
        let (c, r, ms) = self.rerun().await?;
        Ok(BackendSwitch { backend, run: Some(self.info(c, r, ms)) })
    }

    /// Ablates `heads` (0-based (layer, head)) from now on, by zeros or by their mean over the
    /// prompt, and re-runs the context. An empty list restores the model. Before any prompt,
    /// the heads are kept and the first prompt runs ablated.
    pub async fn set_ablation(&mut self, heads: Vec<(usize, usize)>, mode: AblationMode) -> Result<Option<RunInfo>> {
        let cfg = &self.model().config;
        if let Some((l, h)) = heads.iter().find(|(l, h)| *l >= cfg.n_layer || *h >= cfg.n_head) {
            return Err(Error::Input(format!("there is no head {}.{}: this model has {} layers of {} heads", l + 1, h + 1, cfg.n_layer, cfg.n_head)));
        }
        self.ablated = heads;
        self.ablation_mode = mode;
        if self.ids.is_empty() {
            return Ok(None);
        }
        let (c, r, ms) = self.apply_ablation().await?;
        Ok(Some(self.info(c, r, ms)))
    }

    /// Sets the engine's ablation for the current prompt, with the un-ablated baseline from
    /// the same clean run, and re-runs the context.
    async fn apply_ablation(&mut self) -> Result<(usize, usize, f64)> {
        let (a, baseline) = if self.ablated.is_empty() {
            (Ablation::default(), None)
        } else {
            let prompt = self.ids[..self.prompt_len].to_vec();
            let (a, logits) = prompt_ablation(&mut self.engine, &self.ablated, self.ablation_mode, &prompt).await?;
            (a, Some(logits))
        };
        self.baseline = baseline;
        self.engine.set_ablation(a);
        self.rerun().await
    }

    /// The logit lens over every position of the context (the page shows the rows up to its
    /// current step).
    pub fn lens(&self, k: usize, target: Option<u32>) -> Result<Vec<LensLayer>> {
        instruments::lens(self.model(), &self.store, k, target)
    }

    /// One head's queries for the first `at` tokens as one matrix product (see
    /// [`crate::batched`]); `layer` and `head` 0-based.
    pub fn batched_query(&self, layer: usize, head: usize, at: usize) -> Result<BatchedMatrix> {
        crate::batched::batched_query(self.model(), &self.store, layer, head, at)
    }

    /// `word` in two sentences, compared depth by depth (see [`crate::contrast`]), or the
    /// tokens at `positions` where given. Both run on a CPU engine of their own, so the
    /// context's keys and values stay as they are.
    pub async fn contrast(&self, texts: [&str; 2], word: &str, positions: [Option<usize>; 2]) -> Result<Contrast> {
        let mut engine = Engine::cpu(self.model().clone());
        crate::contrast::contrast(&mut engine, texts, word, positions, true).await
    }

    /// Direct logit attribution of `token` at `position` (0-based).
    pub fn attribute(&self, position: usize, token: u32) -> Result<Attribution> {
        instruments::attribute(self.model(), &self.store, position, token)
    }

    /// The overview's thumbnails of the first `at` tokens of the context (see [`Thumbnails`]).
    pub fn thumbnails(&self, at: usize, size: usize) -> Result<Thumbnails> {
        let missing = |what: &str| Error::Input(format!("no {what} is stored; run a prompt first"));
        let cfg = &self.model().config;
        let n = at.clamp(1, self.store.len().max(1));
        let mut attention = Vec::with_capacity(cfg.n_layer);
        let mut mlp = Vec::with_capacity(cfg.n_layer);
        for l in 0..cfg.n_layer {
            let a = self.store.part(Some(l), Part::AttnProbs).ok_or_else(|| missing("attention"))?;
            let (h, t) = (a.shape[0], a.shape[1]);
            let mean: Vec<f32> = (0..n * n).map(|k| (0..h).map(|x| a.data[x * t * t + (k / n) * t + k % n]).sum::<f32>() / h as f32).collect();
            attention.push(Thumb::of(&mean, n, n, size));
            let m = self.store.part(Some(l), Part::MlpPost).ok_or_else(|| missing("MLP activation"))?;
            mlp.push(Thumb::of(&m.data[..n * m.shape[1]], n, m.shape[1], size));
        }
        let emb = instruments::embedding_stream(&self.store)?;
        let d = emb.ncols();
        let embedding = Thumb::of(&emb.as_slice().expect("contiguous")[..n * d], n, d, size);
        Ok(Thumbnails { tokens: n, attention, mlp, embedding })
    }

    /// Each head's attention map in `layers`, pooled to at most `size` × `size`, over the
    /// first `at` tokens: the head grid's thumbnails, [layer][head].
    pub fn head_thumbnails(&self, layers: &[usize], at: usize, size: usize) -> Result<Vec<Vec<Thumb>>> {
        layers
            .iter()
            .map(|&l| {
                let a = self.store.part(Some(l), Part::AttnProbs).ok_or_else(|| Error::Input(format!("no attention of layer {} is stored", l + 1)))?;
                let (h, t) = (a.shape[0], a.shape[1]);
                let n = at.clamp(1, t);
                Ok((0..h)
                    .map(|x| {
                        let sq: Vec<f32> = (0..n).flat_map(|i| a.data[(x * t + i) * t..(x * t + i) * t + n].iter().copied()).collect();
                        Thumb::of(&sq, n, n, size)
                    })
                    .collect())
            })
            .collect()
    }

    /// The stored context as JSON in the CLI's trace format (see [`TraceJson`]).
    pub fn export(&self) -> TraceJson<'_, Store> {
        let store = &self.store;
        TraceJson {
            model: &self.model().config,
            backend: &self.engine.info().name,
            ablated_heads: None,
            tokens: store.tokens(),
            start_position: 0,
            positions: None,
            parts: store,
            next_logits: store.logits_at(store.len()).unwrap_or(&[]),
            elapsed_ms: None,
        }
    }

    /// Starts the head census, on a CPU engine of its own so the context's keys and values
    /// stay as they are; `census_step` runs it one model run at a time.
    pub fn census_start(&mut self) -> Result<()> {
        let engine = Engine::cpu(self.model().clone());
        // Spans of 64 tokens as the CLI uses, or 32 on models whose runs take long in a tab.
        let span = if self.model().config.parameter_estimate() > 50_000_000 { 32 } else { 64 };
        self.census = Some((Census::with_span(&self.model().config, None, span)?, engine));
        Ok(())
    }

    /// One run of the census started by `census_start`; the scores come with the last run.
    pub async fn census_step(&mut self) -> Result<CensusStep> {
        let (c, e) = self.census.as_mut().ok_or_else(|| Error::Input("no head census was started".into()))?;
        let heads = c.step(e).await?;
        let step = CensusStep { done: c.done(), total: c.total(), heads: heads.map(|v| v.iter().map(HeadScores::labelled).collect()) };
        if step.heads.is_some() {
            self.census = None;
        }
        Ok(step)
    }

    /// The model as the page's model panel describes it (see [`ModelInfo`]).
    pub fn describe(&self) -> ModelInfo<'_> {
        let m = self.model();
        ModelInfo { model: m.summary(), max_tokens: self.max_tokens(), chat: crate::chat::chat_format(&m.tokenizer) }
    }

    /// A stored part as (shape, values): any part the session keeps (`layer` ignored for
    /// global parts), or `next_logits` after `layer` tokens. With `head`, only that head's
    /// [T, width] slice of a per-head part: what a view of one head needs.
    pub fn slice(&self, name: &str, layer: usize, head: Option<usize>) -> Result<(Vec<usize>, &[f32])> {
        let Some(p) = Part::from_name(name) else {
            if name != "next_logits" {
                return Err(Error::Input(format!("unknown tensor \"{name}\"")));
            }
            let v = self.store.logits_at(layer).ok_or_else(|| Error::Input(format!("no logits recorded after {layer} tokens")))?;
            return Ok((vec![v.len()], v));
        };
        let l = p.is_layer().then_some(layer);
        let of_layer = l.map_or(String::new(), |l| format!(" of layer {}", l + 1));
        let t = self.store.part(l, p).ok_or_else(|| Error::Input(format!("the page does not keep \"{name}\"{of_layer} for this model")))?;
        match head {
            None => Ok((t.shape.clone(), &t.data)),
            Some(h) if p.spec().layout != Layout::Rows && h < t.shape[0] => {
                let per = t.data.len() / t.shape[0];
                Ok((t.shape[1..].to_vec(), &t.data[h * per..(h + 1) * per]))
            }
            Some(h) => Err(Error::Input(format!("\"{name}\"{of_layer} has no head {}", h + 1))),
        }
    }
}
