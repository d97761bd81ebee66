//! The trace: a typed record of every activation of one run, the same whichever backend
//! produced it.
//!
//! Each part is described once, in [`PARTS`]: its name (JSON, CLI, wasm API), whether it
//! exists per layer or once, its layout and shape from the model's dimensions, and which
//! architectures have it. Backends fill a [`Trace`] through a [`Recorder`], which checks
//! every tensor against that description; the CLI, the session store of the page and the
//! tests loop over the same table. Shapes use T = tokens computed in this run, Tk = tokens
//! in the context after it (keys), d = n_embd, H = query heads, Hkv = key/value heads,
//! hd = head_dim, F = n_inner, V = vocab_size.

use crate::config::Config;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A dense row-major f32 tensor. Serializes as nested JSON arrays; non-finite values
/// (the −∞ of masked attention scores) become `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "tensor data does not fill shape {shape:?}");
        Tensor { shape, data }
    }

    /// Row `i` of the outermost dimension, flattened.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.data.len() / self.shape[0].max(1);
        &self.data[i * n..(i + 1) * n]
    }
}

struct Nested<'a>(&'a [usize], &'a [f32]);

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (shape, data) = (self.0, self.1);
        let mut seq = s.serialize_seq(Some(shape.first().copied().unwrap_or(data.len())))?;
        if shape.len() <= 1 {
            for v in data {
                seq.serialize_element(&(v.is_finite().then_some(*v)))?;
            }
        } else {
            let n = data.len() / shape[0].max(1);
            for chunk in data.chunks(n.max(1)).take(shape[0]) {
                seq.serialize_element(&Nested(&shape[1..], chunk))?;
            }
        }
        seq.end()
    }
}

impl Serialize for Tensor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Nested(&self.shape, &self.data).serialize(s)
    }
}

/// The dimensions a run's part shapes are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub t: usize,
    pub tk: usize,
    pub d: usize,
    pub h: usize,
    pub kv: usize,
    pub hd: usize,
    pub f: usize,
    pub v: usize,
}

impl Dims {
    /// A run of `t` tokens after `start` already in the context.
    pub fn new(cfg: &Config, start: usize, t: usize) -> Dims {
        Dims { t, tk: start + t, d: cfg.n_embd, h: cfg.n_head, kv: cfg.n_kv_head, hd: cfg.head_dim, f: cfg.n_inner, v: cfg.vocab_size }
    }
}

/// Whether a part exists once per run or once per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Layer,
}

/// How a part's rows are laid out: what a store that appends tokens needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// [T, width]: one row per token.
    Rows,
    /// [heads, T, width]: one row per token within each head.
    Heads,
    /// [H, T, Tk]: per head, one row per query token, one column per key in the context.
    Keys,
}

/// Which architectures record a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    All,
    /// Models with a learned position table (GPT-2).
    LearnedPositions,
    /// Models whose position enters by rotating q and k (Llama).
    Rope,
    /// A plain MLP, act(x·W_in) (GPT-2).
    PlainMlp,
    /// A gated MLP, act(x·W_gate) ⊙ x·W_up (Llama).
    GatedMlp,
}

/// The parts of a run a caller can ask to record. Everything is computed either way;
/// unrecorded parts are simply not kept, so a long prompt fits in a browser tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    TokEmb,
    PosEmb,
    Ln1,
    Q,
    K,
    V,
    QRot,
    KRot,
    AttnScores,
    AttnProbs,
    HeadOutputs,
    AttnOut,
    ResidMid,
    Ln2,
    MlpPre,
    MlpGate,
    MlpUp,
    MlpPost,
    MlpOut,
    ResidPost,
    LnF,
    Logits,
    Probs,
}

/// One part, described once.
pub struct PartSpec {
    pub part: Part,
    /// The name in JSON, on the CLI (`--parts`) and in the wasm API.
    pub name: &'static str,
    pub scope: Scope,
    pub layout: Layout,
    pub shape: fn(&Dims) -> Vec<usize>,
    pub applies: Applies,
    /// What it is, for README's trace table and `llm-xray trace --help`.
    pub doc: &'static str,
}

macro_rules! spec {
    ($part:ident, $name:literal, $scope:ident, $layout:ident, |$d:ident| $shape:expr, $applies:ident, $doc:literal) => {
        PartSpec {
            part: Part::$part,
            name: $name,
            scope: Scope::$scope,
            layout: Layout::$layout,
            shape: |$d: &Dims| $shape,
            applies: Applies::$applies,
            doc: $doc,
        }
    };
}

/// Every part, in the order of the forward pass.
pub const PARTS: [PartSpec; 23] = [
    spec!(TokEmb, "token_embeddings", Global, Rows, |d| vec![d.t, d.d], All, "rows of the token-embedding table for these tokens"),
    spec!(PosEmb, "position_embeddings", Global, Rows, |d| vec![d.t, d.d], LearnedPositions, "rows of the learned position table (GPT-2 only)"),
    spec!(Ln1, "ln_1", Layer, Rows, |d| vec![d.t, d.d], All, "the norm before attention: LayerNorm (GPT-2) or RMSNorm (Llama)"),
    spec!(Q, "q", Layer, Heads, |d| vec![d.h, d.t, d.hd], All, "per-head queries (Llama: before RoPE)"),
    spec!(K, "k", Layer, Heads, |d| vec![d.kv, d.t, d.hd], All, "per key/value head keys (Llama: before RoPE)"),
    spec!(V, "v", Layer, Heads, |d| vec![d.kv, d.t, d.hd], All, "per key/value head values"),
    spec!(QRot, "q_rotated", Layer, Heads, |d| vec![d.h, d.t, d.hd], Rope, "queries after RoPE rotated them by their position"),
    spec!(KRot, "k_rotated", Layer, Heads, |d| vec![d.kv, d.t, d.hd], Rope, "keys after RoPE rotated them by their position (what the KV cache holds)"),
    spec!(AttnScores, "attention_scores", Layer, Keys, |d| vec![d.h, d.t, d.tk], All, "q·k/√hd with the causal mask applied (−∞, JSON null), before softmax"),
    spec!(AttnProbs, "attentions", Layer, Keys, |d| vec![d.h, d.t, d.tk], All, "attention probabilities (softmax of the scores), as HF's output_attentions"),
    spec!(HeadOutputs, "head_outputs", Layer, Rows, |d| vec![d.t, d.h * d.hd], All, "each head's probability-weighted sum of values, side by side: the input of the output projection (head ablation acts here)"),
    spec!(AttnOut, "attention_output", Layer, Rows, |d| vec![d.t, d.d], All, "the attention block's output after its projection"),
    spec!(ResidMid, "residual_after_attention", Layer, Rows, |d| vec![d.t, d.d], All, "residual stream after adding the attention output"),
    spec!(Ln2, "ln_2", Layer, Rows, |d| vec![d.t, d.d], All, "the norm before the MLP: LayerNorm (GPT-2) or RMSNorm (Llama)"),
    spec!(MlpPre, "mlp_pre_activation", Layer, Rows, |d| vec![d.t, d.f], PlainMlp, "the MLP's input projection before the nonlinearity (GPT-2)"),
    spec!(MlpGate, "mlp_gate", Layer, Rows, |d| vec![d.t, d.f], GatedMlp, "the gate projection x·W_gate before SiLU (Llama)"),
    spec!(MlpUp, "mlp_up", Layer, Rows, |d| vec![d.t, d.f], GatedMlp, "the up projection x·W_up (Llama)"),
    spec!(MlpPost, "mlp_activation", Layer, Rows, |d| vec![d.t, d.f], All, "the MLP's hidden neurons, the input of its output projection: GELU(pre) (GPT-2) or SiLU(gate)⊙up (Llama)"),
    spec!(MlpOut, "mlp_output", Layer, Rows, |d| vec![d.t, d.d], All, "the MLP block's output"),
    spec!(ResidPost, "residual_after_mlp", Layer, Rows, |d| vec![d.t, d.d], All, "residual stream after the block"),
    spec!(LnF, "ln_f", Global, Rows, |d| vec![d.t, d.d], All, "the final norm's output"),
    spec!(Logits, "logits", Global, Rows, |d| vec![d.t, d.v], All, "next-token logits for every position"),
    spec!(Probs, "probabilities", Global, Rows, |d| vec![d.t, d.v], All, "softmax of the logits"),
];

impl Part {
    pub fn spec(self) -> &'static PartSpec {
        &PARTS[self as usize]
    }

    /// The name used in JSON, on the CLI (`--parts`) and in the wasm API.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn from_name(s: &str) -> Option<Part> {
        PARTS.iter().find(|p| p.name == s).map(|p| p.part)
    }

    /// Every part, in the order of the forward pass.
    pub fn all() -> impl Iterator<Item = Part> {
        PARTS.iter().map(|p| p.part)
    }

    pub fn is_layer(self) -> bool {
        self.spec().scope == Scope::Layer
    }

    /// Whether a model of this configuration computes this part.
    pub fn applies_to(self, cfg: &Config) -> bool {
        match self.spec().applies {
            Applies::All => true,
            Applies::LearnedPositions => cfg.rope_theta.is_none(),
            Applies::Rope => cfg.rope_theta.is_some(),
            Applies::PlainMlp => !cfg.gated_mlp,
            Applies::GatedMlp => cfg.gated_mlp,
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`Part`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parts(u32);

impl Parts {
    pub fn none() -> Self {
        Parts(0)
    }
    pub fn all() -> Self {
        Part::all().fold(Parts(0), Parts::with)
    }
    pub fn with(self, p: Part) -> Self {
        Parts(self.0 | p.bit())
    }
    pub fn has(self, p: Part) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn of(list: &[Part]) -> Self {
        list.iter().fold(Parts(0), |s, p| s.with(*p))
    }
    pub fn iter(self) -> impl Iterator<Item = Part> {
        Part::all().filter(move |p| self.has(*p))
    }
    /// Parses a comma-separated list of part names, or `all`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut s = Parts::none();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                s = Parts::all();
                continue;
            }
            let p = Part::from_name(name).ok_or_else(|| {
                let known: Vec<_> = PARTS.iter().map(|p| p.name).collect();
                format!("unknown trace part \"{name}\"; expected \"all\" or some of: {}", known.join(", "))
            })?;
            s = s.with(p);
        }
        Ok(s)
    }
}

/// One token of the context.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TokenInfo {
    pub id: u32,
    /// The text of the piece, with any bytes that are not whole UTF-8 characters shown as
    /// U+FFFD; `bytes` holds the exact bytes.
    pub text: String,
    pub bytes: Vec<u8>,
    /// Byte range `[start, end)` of this token in the decoded context.
    pub span: (usize, usize),
}

/// Recorded parts of one scope (the run, or one layer), in part order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded(Vec<(Part, Tensor)>);

impl Recorded {
    pub fn get(&self, p: Part) -> Option<&Tensor> {
        self.0.iter().find(|(q, _)| *q == p).map(|(_, t)| t)
    }
    pub fn take(&mut self, p: Part) -> Option<Tensor> {
        let i = self.0.iter().position(|(q, _)| *q == p)?;
        Some(self.0.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (Part, &Tensor)> {
        self.0.iter().map(|(p, t)| (*p, t))
    }
    fn insert(&mut self, p: Part, t: Tensor) {
        let at = self.0.partition_point(|(q, _)| *q < p);
        self.0.insert(at, (p, t));
    }
}

impl Serialize for Recorded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (p, t) in &self.0 {
            m.serialize_entry(p.name(), t)?;
        }
        m.end()
    }
}

/// Every recorded activation of one run over `tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The tokens whose rows this run computed.
    pub tokens: Vec<TokenInfo>,
    /// Position of the first of `tokens` in the context (0 for a fresh prompt; >0 for a
    /// KV-cache step).
    pub start_position: usize,
    /// Parts recorded once per run.
    pub global: Recorded,
    /// Parts recorded per layer.
    pub layers: Vec<Recorded>,
    /// Logits for the token after the last one, always present: generation needs it.
    pub next_logits: Vec<f32>,
    /// Wall-clock milliseconds the backend spent on this run (timing, not an activation).
    pub elapsed_ms: f64,
}

impl Trace {
    pub fn get(&self, p: Part) -> Option<&Tensor> {
        self.global.get(p)
    }
    pub fn layer(&self, l: usize, p: Part) -> Option<&Tensor> {
        self.layers.get(l)?.get(p)
    }
}

impl Serialize for Trace {
    /// `{tokens, start_position, <global parts>, layers: [{<parts>}], next_logits, elapsed_ms}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("tokens", &self.tokens)?;
        m.serialize_entry("start_position", &self.start_position)?;
        let mut globals = self.global.iter().peekable();
        // Embedding parts first, then layers, then the final norm and logits: forward order.
        while let Some((p, t)) = globals.next_if(|(p, _)| *p < Part::Ln1) {
            m.serialize_entry(p.name(), t)?;
        }
        m.serialize_entry("layers", &self.layers)?;
        for (p, t) in globals {
            m.serialize_entry(p.name(), t)?;
        }
        m.serialize_entry("next_logits", &Nested(&[self.next_logits.len()], &self.next_logits))?;
        m.serialize_entry("elapsed_ms", &self.elapsed_ms)?;
        m.end()
    }
}

/// How a backend fills a trace: it offers each part it computes, and the recorder keeps
/// those the caller asked for (and that the architecture has), checking their shapes
/// against [`PARTS`].
pub struct Recorder {
    parts: Parts,
    dims: Dims,
    global: Recorded,
    layers: Vec<Recorded>,
}

impl Recorder {
    pub fn new(cfg: &Config, parts: Parts, dims: Dims) -> Recorder {
        let parts = Parts::of(&parts.iter().filter(|p| p.applies_to(cfg)).collect::<Vec<_>>());
        Recorder { parts, dims, global: Recorded::default(), layers: vec![Recorded::default(); cfg.n_layer] }
    }

    pub fn wants(&self, p: Part) -> bool {
        self.parts.has(p)
    }

    pub fn parts(&self) -> Parts {
        self.parts
    }

    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// Keeps part `p` (of `layer`, for per-layer parts) if it was asked for; `data` is only
    /// called then, so unrecorded parts cost nothing.
    pub fn put(&mut self, layer: Option<usize>, p: Part, data: impl FnOnce() -> Vec<f32>) {
        if !self.wants(p) {
            return;
        }
        let spec = p.spec();
        assert_eq!(spec.scope == Scope::Layer, layer.is_some(), "part {} is recorded {:?}", spec.name, spec.scope);
        let t = Tensor::new((spec.shape)(&self.dims), data());
        match layer {
            Some(l) => self.layers[l].insert(p, t),
            None => self.global.insert(p, t),
        }
    }

    pub fn finish(self, tokens: Vec<TokenInfo>, start_position: usize, next_logits: Vec<f32>, elapsed_ms: f64) -> Trace {
        Trace { tokens, start_position, global: self.global, layers: self.layers, next_logits, elapsed_ms }
    }
}
