//! A session: one model, one context (a prompt and the tokens generated after it) and the
//! activations of that whole context, kept for the page's views. Platform-neutral: the wasm
//! binding (`wasm.rs`) only forwards to it, and native tests drive it directly.
//!
//! Runs append to the [`Store`]: a prompt run records every row, each "generate next token"
//! step (one KV-cache run) appends its row, and typing that extends or edits the end of the
//! prompt keeps the common prefix and computes only the new tokens. Because attention is
//! causal, the first `n` rows of the store are exactly what a run of the first `n` tokens
//! computes; the page's history shows earlier steps that way.

use crate::backend::{prompt_ablation, Ablation, AblationMode, BackendInfo, Choice, Engine};
use crate::error::{Error, Result};
use crate::heads::{Census, HeadScores};
use crate::instruments::{self, Attribution, LensLayer};
use crate::model::Model;
use crate::sampling::{Rng, Sampling};
use crate::trace::{Layout, Part, Parts, Tensor, TokenInfo, Trace};
use serde::Serialize;
use std::sync::Arc;

/// A source of recorded parts: a trace, or the store of a whole context.
pub trait PartSource {
    fn part(&self, layer: Option<usize>, p: Part) -> Option<&Tensor>;
}

impl PartSource for Trace {
    fn part(&self, layer: Option<usize>, p: Part) -> Option<&Tensor> {
        match layer {
            Some(l) => self.layer(l, p),
            None => self.get(p),
        }
    }
}

/// The L2 norm of the residual stream and of what each block adds to it, per token:
/// what the page's residual view draws.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResidualNorms {
    /// ‖embedding‖ (token + position embedding: the stream entering layer 1) [T].
    pub embedding: Vec<f32>,
    /// Per layer: ‖residual after the block‖ [L][T].
    pub after_layer: Vec<Vec<f32>>,
    /// Per layer: ‖attention output‖ [L][T].
    pub attention: Vec<Vec<f32>>,
    /// Per layer: ‖MLP output‖ [L][T].
    pub mlp: Vec<Vec<f32>>,
}

fn l2(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

impl ResidualNorms {
    fn truncate(&mut self, n: usize) {
        self.embedding.truncate(n);
        for v in self.after_layer.iter_mut().chain(&mut self.attention).chain(&mut self.mlp) {
            v.truncate(n);
        }
    }
}

/// The activations of the whole context, one growing tensor per (layer, part).
#[derive(Default)]
pub struct Store {
    tokens: Vec<TokenInfo>,
    parts: Vec<(Option<usize>, Part, Tensor)>,
    norms: ResidualNorms,
    /// Next-token logits after the first `n` tokens, for each `n` a run ended at.
    next_logits: Vec<(usize, Vec<f32>)>,
}

/// Reshapes, in place, each of `h` blocks of `r0` rows × `w0` columns to `r1` × `w1`: the
/// rows and columns both keep their top-left values, and new cells are zero (for attention,
/// the mask). Growing moves data from the back, shrinking from the front, so no value is
/// overwritten before it has moved; the store is never copied whole.
fn regrid(data: &mut Vec<f32>, h: usize, (r0, w0): (usize, usize), (r1, w1): (usize, usize)) {
    debug_assert!((r1 >= r0 && w1 >= w0) || (r1 <= r0 && w1 <= w0), "rows and columns grow or shrink together");
    let (rows, w) = (r0.min(r1), w0.min(w1));
    let mv = |data: &mut Vec<f32>, k: usize, i: usize| {
        let (from, to) = ((k * r0 + i) * w0, (k * r1 + i) * w1);
        data.copy_within(from..from + w, to);
        data[to + w..to + w1].fill(0.0);
    };
    if r1 * w1 >= r0 * w0 {
        data.resize(h * r1 * w1, 0.0);
        for k in (0..h).rev() {
            data[(k * r1 + rows) * w1..(k + 1) * r1 * w1].fill(0.0);
            for i in (0..rows).rev() {
                mv(data, k, i);
            }
        }
    } else {
        for k in 0..h {
            for i in 0..rows {
                mv(data, k, i);
            }
        }
        data.truncate(h * r1 * w1);
    }
}

/// A stored tensor of `tokens` tokens as blocks of rows × columns, in its layout: [T, w]
/// is one block, per-head [H, T, w] and attention [H, T, T] one block per head.
fn grid(layout: Layout, t: &Tensor, tokens: usize) -> (usize, (usize, usize)) {
    match layout {
        Layout::Rows => (1, (tokens, t.shape[1])),
        Layout::Heads => (t.shape[0], (tokens, t.shape[2])),
        Layout::Keys => (t.shape[0], (tokens, tokens)),
    }
}

/// Resizes a stored tensor of `t0` tokens to `t1` tokens in place (new cells zero), and
/// sets its shape.
fn resize(layout: Layout, t: &mut Tensor, t0: usize, t1: usize) {
    let (h, from) = grid(layout, t, t0);
    let (_, to) = grid(layout, t, t1);
    if layout == Layout::Rows {
        // Rows are token-major: only the end moves.
        t.data.resize(t1 * from.1, 0.0);
    } else {
        regrid(&mut t.data, h, from, to);
    }
    let axis = usize::from(layout != Layout::Rows);
    t.shape[axis] = t1;
    if layout == Layout::Keys {
        t.shape[2] = t1;
    }
}

/// Appends a run's rows `add` (its part's layout; keys span the whole context) to the
/// stored tensor `old` of `t0` tokens.
fn append(layout: Layout, old: &mut Tensor, t0: usize, add: &Tensor) {
    let t = add.shape[usize::from(layout != Layout::Rows)];
    let tn = t0 + t;
    resize(layout, old, t0, tn);
    let (h, (_, w)) = grid(layout, old, tn);
    for k in 0..h {
        old.data[(k * tn + t0) * w..(k + 1) * tn * w].copy_from_slice(&add.data[k * t * w..(k + 1) * t * w]);
    }
}

impl Store {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[TokenInfo] {
        &self.tokens
    }

    pub fn norms(&self) -> &ResidualNorms {
        &self.norms
    }

    /// Appends a run of the tokens after the stored ones. The run must have recorded the
    /// attention output, MLP output and residual stream (for the norms) and the token
    /// embeddings.
    pub fn append(&mut self, mut tr: Trace, keep: Parts) -> Result<()> {
        let t0 = self.len();
        if tr.start_position != t0 {
            return Err(Error::Input(format!("a run starting at position {} cannot follow {t0} stored tokens", tr.start_position)));
        }
        let missing = |what: &str| Error::Input(format!("the run did not record {what}, which the page needs"));
        let emb = instruments::embedding_stream(&tr)?;
        self.norms.embedding.extend(emb.rows().into_iter().map(|r| l2(r.as_slice().expect("contiguous"))));
        let n_layer = tr.layers.len();
        self.norms.after_layer.resize(n_layer, Vec::new());
        self.norms.attention.resize(n_layer, Vec::new());
        self.norms.mlp.resize(n_layer, Vec::new());
        for (l, layer) in tr.layers.iter().enumerate() {
            let rows = |p: Part| layer.get(p).map(|x| (0..x.shape[0]).map(|i| l2(x.row(i))).collect::<Vec<_>>()).ok_or_else(|| missing(p.name()));
            self.norms.after_layer[l].extend(rows(Part::ResidPost)?);
            self.norms.attention[l].extend(rows(Part::AttnOut)?);
            self.norms.mlp[l].extend(rows(Part::MlpOut)?);
        }
        let mut add = |layer: Option<usize>, p: Part, t: Tensor| {
            if !keep.has(p) {
                return;
            }
            let layout = p.spec().layout;
            match self.parts.iter_mut().find(|(l, q, _)| *l == layer && *q == p) {
                Some((_, _, old)) => append(layout, old, t0, &t),
                None if t0 == 0 => self.parts.push((layer, p, t)),
                // A part not recorded before cannot be filled in for earlier tokens.
                None => {}
            }
        };
        for p in Part::all() {
            if let Some(t) = tr.global.take(p) {
                add(None, p, t);
            }
        }
        for (l, layer) in tr.layers.iter_mut().enumerate() {
            for p in Part::all() {
                if let Some(t) = layer.take(p) {
                    add(Some(l), p, t);
                }
            }
        }
        self.tokens.append(&mut tr.tokens);
        let n = self.len();
        self.next_logits.retain(|(k, _)| *k != n);
        self.next_logits.push((n, tr.next_logits));
        Ok(())
    }

    /// Keeps the first `n` tokens (going back in the history, or to a prefix of an edited
    /// prompt).
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        let t0 = self.len();
        self.tokens.truncate(n);
        if n == 0 {
            self.parts.clear();
        }
        for (_, p, t) in &mut self.parts {
            resize(p.spec().layout, t, t0, n);
        }
        self.norms.truncate(n);
        self.next_logits.retain(|(k, _)| *k <= n);
    }

    /// Next-token logits after the first `n` tokens, if a run ended there.
    pub fn logits_at(&self, n: usize) -> Option<&[f32]> {
        self.next_logits.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_slice())
    }
}

impl PartSource for Store {
    fn part(&self, layer: Option<usize>, p: Part) -> Option<&Tensor> {
        self.parts.iter().find(|(l, q, _)| *l == layer && *q == p).map(|(_, _, t)| t)
    }
}

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
/// counts, the longest context the page keeps, and whether the vocabulary has ChatML markers.
#[derive(Debug, Serialize)]
pub struct ModelInfo<'a> {
    #[serde(flatten)]
    pub model: crate::model::Summary<'a>,
    pub max_tokens: usize,
    pub chat: bool,
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

/// The stored context in the CLI's trace format (`llm-xray trace`): `{model, backend,
/// tokens, start_position, <global parts>, attentions: [layer][head][T][T], layers:
/// [{<parts>}], next_logits}`, with the parts the page keeps. `llm-xray compare` reads it.
pub struct RunJson<'a> {
    session: &'a Session,
}

impl Serialize for RunJson<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let s = self.session;
        let store = &s.store;
        let cfg = &s.model().config;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("model", cfg)?;
        m.serialize_entry("backend", &s.engine.info().name)?;
        m.serialize_entry("tokens", store.tokens())?;
        m.serialize_entry("start_position", &0)?;
        for p in Part::all().filter(|p| !p.is_layer()) {
            if let Some(t) = store.part(None, p) {
                m.serialize_entry(p.name(), t)?;
            }
        }
        let att: Vec<&Tensor> = (0..cfg.n_layer).filter_map(|l| store.part(Some(l), Part::AttnProbs)).collect();
        if att.len() == cfg.n_layer {
            m.serialize_entry("attentions", &att)?;
        }
        let layers: Vec<LayerJson> = (0..cfg.n_layer).map(|layer| LayerJson { store, layer }).collect();
        m.serialize_entry("layers", &layers)?;
        m.serialize_entry("next_logits", &store.logits_at(store.len()).unwrap_or(&[]))?;
        m.end()
    }
}

/// One layer's stored parts as a JSON object, written straight from the store.
struct LayerJson<'a> {
    store: &'a Store,
    layer: usize,
}

impl Serialize for LayerJson<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(None)?;
        for p in Part::all().filter(|p| p.is_layer() && *p != Part::AttnProbs) {
            if let Some(t) = self.store.part(Some(self.layer), p) {
                m.serialize_entry(p.name(), t)?;
            }
        }
        m.end()
    }
}

/// The largest context the page keeps: the model's own context, or fewer tokens where the
/// recorded activations would pass `budget` bytes (they grow with every token, and the
/// attention maps with its square).
pub fn max_tokens(model: &Model, budget: f64) -> usize {
    let c = &model.config;
    let per_token: usize = session_parts(model)
        .iter()
        .filter(|p| p.spec().layout != Layout::Keys)
        .map(|p| {
            let n: usize = (p.spec().shape)(&crate::trace::Dims::new(c, 0, 1)).iter().product();
            if p.is_layer() { n * c.n_layer } else { n }
        })
        .sum();
    let (a, b) = (4.0 * (c.n_layer * c.n_head) as f64, 4.0 * per_token as f64);
    // a·T² + b·T ≤ budget
    let t = (-b + (b * b + 4.0 * a * budget).sqrt()) / (2.0 * a);
    (t as usize).clamp(1, c.n_positions)
}

/// The parts the page keeps for every token.
pub fn session_parts(model: &Model) -> Parts {
    let mut keep = vec![Part::TokEmb, Part::PosEmb, Part::AttnProbs, Part::HeadOutputs, Part::MlpGate, Part::MlpUp, Part::MlpPost, Part::MlpOut, Part::ResidPost];
    if model.config.rope_theta.is_some() {
        keep.extend([Part::Q, Part::K, Part::QRot, Part::KRot]);
    }
    Parts::of(&keep.into_iter().filter(|p| p.applies_to(&model.config)).collect::<Vec<_>>())
}

/// The parts a run records for the store: what it keeps, plus what the norms need.
fn run_parts(keep: Parts) -> Parts {
    Parts::of(&keep.iter().chain([Part::AttnOut, Part::MlpOut, Part::ResidPost, Part::TokEmb, Part::PosEmb]).collect::<Vec<_>>())
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
            max_tokens: max_tokens(&model, STORE_BUDGET),
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
            tokens: self.store.tokens.clone(),
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
                format!(" (the model's context holds {}, but this page keeps every activation of every token, which would pass {} MB)", self.model().config.n_positions, (STORE_BUDGET / 1e6) as u64)
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
            self.baseline.as_deref().filter(|_| at == self.prompt_len).ok_or_else(|| Error::Input("no un-ablated distribution: no head is ablated, or this is not the end of the prompt".into()))?
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

    /// The stored context as JSON in the CLI's trace format (see [`RunJson`]).
    pub fn export(&self) -> RunJson<'_> {
        RunJson { session: self }
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
        let chat = ["<|im_start|>", "<|im_end|>"].iter().all(|t| m.tokenizer.token_id(t).is_some());
        ModelInfo { model: m.summary(), max_tokens: self.max_tokens(), chat }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], from: f32) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new(shape.to_vec(), (0..n).map(|i| from + i as f32).collect())
    }

    fn appended(layout: Layout, a: &Tensor, t0: usize, b: &Tensor) -> Tensor {
        let mut x = a.clone();
        append(layout, &mut x, t0, b);
        x
    }

    fn truncated(layout: Layout, a: &Tensor, t0: usize, n: usize) -> Tensor {
        let mut x = a.clone();
        resize(layout, &mut x, t0, n);
        x
    }

    #[test]
    fn rows_append_then_truncate_round_trips() {
        let a = t(&[2, 3], 0.0);
        let b = t(&[1, 3], 100.0);
        let ab = appended(Layout::Rows, &a, 2, &b);
        assert_eq!(ab.shape, vec![3, 3]);
        assert_eq!(&ab.data[6..], &b.data[..]);
        assert_eq!(truncated(Layout::Rows, &ab, 3, 2), a);
    }

    #[test]
    fn heads_append_keeps_each_head_contiguous() {
        // [2 heads, 2 tokens, width 2] + [2 heads, 1 token, width 2]
        let a = t(&[2, 2, 2], 0.0);
        let b = t(&[2, 1, 2], 100.0);
        let ab = appended(Layout::Heads, &a, 2, &b);
        assert_eq!(ab.shape, vec![2, 3, 2]);
        assert_eq!(ab.data, vec![0.0, 1.0, 2.0, 3.0, 100.0, 101.0, 4.0, 5.0, 6.0, 7.0, 102.0, 103.0]);
        assert_eq!(truncated(Layout::Heads, &ab, 3, 2), a);
    }

    #[test]
    fn keys_append_masks_earlier_rows_and_truncates_to_the_square() {
        // One head, 2 tokens [1, 2, 2], then a step of 1 token [1, 1, 3].
        let a = Tensor::new(vec![1, 2, 2], vec![1.0, 0.0, 0.4, 0.6]);
        let b = Tensor::new(vec![1, 1, 3], vec![0.2, 0.3, 0.5]);
        let ab = appended(Layout::Keys, &a, 2, &b);
        assert_eq!(ab.shape, vec![1, 3, 3]);
        assert_eq!(ab.data, vec![1.0, 0.0, 0.0, 0.4, 0.6, 0.0, 0.2, 0.3, 0.5]);
        assert_eq!(truncated(Layout::Keys, &ab, 3, 2), a);
        assert_eq!(truncated(Layout::Keys, &ab, 3, 1).data, vec![1.0]);
    }

    /// Several heads grown in place twice (the moves run back to front, across blocks) equal
    /// the squares written out directly, and shrinking walks back through the same squares.
    #[test]
    fn keys_of_several_heads_grow_and_shrink_in_place() {
        // Head k's score of query i for key j is k·100 + i·10 + j (j ≤ i), else masked 0.
        let square = |h: usize, n: usize| {
            let data = (0..h * n * n).map(|x| (x / (n * n), x / n % n, x % n)).map(|(k, i, j)| if j <= i { (k * 100 + i * 10 + j) as f32 } else { 0.0 }).collect();
            Tensor::new(vec![h, n, n], data)
        };
        let rows = |h: usize, from: usize, to: usize| {
            let data = (0..h).flat_map(|k| (from..to).flat_map(move |i| (0..to).map(move |j| if j <= i { (k * 100 + i * 10 + j) as f32 } else { 0.0 }))).collect();
            Tensor::new(vec![h, to - from, to], data)
        };
        let mut x = square(3, 2);
        append(Layout::Keys, &mut x, 2, &rows(3, 2, 5));
        assert_eq!(x, square(3, 5));
        append(Layout::Keys, &mut x, 5, &rows(3, 5, 6));
        assert_eq!(x, square(3, 6));
        resize(Layout::Keys, &mut x, 6, 4);
        assert_eq!(x, square(3, 4));
        resize(Layout::Keys, &mut x, 4, 0);
        assert_eq!(x.data.len(), 0);
    }

    #[test]
    fn residual_norms_truncate_every_field() {
        let mut n = ResidualNorms { embedding: vec![1.0, 2.0, 3.0], after_layer: vec![vec![1.0, 2.0, 3.0]], attention: vec![vec![4.0, 5.0, 6.0]], mlp: vec![vec![7.0, 8.0, 9.0]] };
        n.truncate(1);
        assert_eq!(n, ResidualNorms { embedding: vec![1.0], after_layer: vec![vec![1.0]], attention: vec![vec![4.0]], mlp: vec![vec![7.0]] });
    }
}
