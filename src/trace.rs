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

    /// The rows `rows` of the outermost dimension, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> Tensor {
        let mut shape = self.shape.clone();
        shape[0] = rows.len();
        Tensor::new(shape, rows.iter().flat_map(|&i| self.row(i).iter().copied()).collect())
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
    /// A gated MLP, act(x·W_gate) ⊙ x·W_up (Llama, Gemma).
    GatedMlp,
    /// Models that normalise each query and key head (Gemma 3's QK-norm).
    QkNorm,
    /// Models with norms on the attention's and the MLP's outputs (Gemma's sandwich norms).
    PostNorms,
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
    QNorm,
    KNorm,
    QRot,
    KRot,
    AttnScores,
    AttnProbs,
    HeadOutputs,
    AttnOut,
    PostAttnNorm,
    ResidMid,
    Ln2,
    MlpPre,
    MlpGate,
    MlpUp,
    MlpPost,
    MlpOut,
    PostMlpNorm,
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
    /// What it is, for `llm-xray trace --help` (README's trace table says the same).
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
pub const PARTS: [PartSpec; 27] = [
    spec!(
        TokEmb,
        "token_embeddings",
        Global,
        Rows,
        |d| vec![d.t, d.d],
        All,
        "rows of the token-embedding table for these tokens (Gemma: times √d, as the residual stream receives them)"
    ),
    spec!(PosEmb, "position_embeddings", Global, Rows, |d| vec![d.t, d.d], LearnedPositions, "rows of the learned position table (GPT-2 only)"),
    spec!(Ln1, "ln_1", Layer, Rows, |d| vec![d.t, d.d], All, "the norm before attention: LayerNorm (GPT-2) or RMSNorm (Llama, Gemma)"),
    spec!(Q, "q", Layer, Heads, |d| vec![d.h, d.t, d.hd], All, "per-head queries (Llama: before RoPE; Gemma: before QK-norm)"),
    spec!(K, "k", Layer, Heads, |d| vec![d.kv, d.t, d.hd], All, "per key/value head keys (Llama: before RoPE; Gemma: before QK-norm)"),
    spec!(V, "v", Layer, Heads, |d| vec![d.kv, d.t, d.hd], All, "per key/value head values"),
    spec!(QNorm, "q_normed", Layer, Heads, |d| vec![d.h, d.t, d.hd], QkNorm, "queries after QK-norm (each head's RMSNorm), before RoPE (Gemma 3)"),
    spec!(KNorm, "k_normed", Layer, Heads, |d| vec![d.kv, d.t, d.hd], QkNorm, "keys after QK-norm (each head's RMSNorm), before RoPE (Gemma 3)"),
    spec!(QRot, "q_rotated", Layer, Heads, |d| vec![d.h, d.t, d.hd], Rope, "queries after RoPE rotated them by their position"),
    spec!(KRot, "k_rotated", Layer, Heads, |d| vec![d.kv, d.t, d.hd], Rope, "keys after RoPE rotated them by their position (what the KV cache holds)"),
    spec!(
        AttnScores,
        "attention_scores",
        Layer,
        Keys,
        |d| vec![d.h, d.t, d.tk],
        All,
        "q·k/√hd (Gemma: q·k·query_pre_attn_scalar^−½) with the causal mask applied, and on sliding-window layers the window's (−∞, JSON null), before softmax"
    ),
    spec!(AttnProbs, "attentions", Layer, Keys, |d| vec![d.h, d.t, d.tk], All, "attention probabilities (softmax of the scores), as HF's output_attentions"),
    spec!(
        HeadOutputs,
        "head_outputs",
        Layer,
        Rows,
        |d| vec![d.t, d.h * d.hd],
        All,
        "each head's probability-weighted sum of values, side by side: the input of the output projection (head ablation acts here)"
    ),
    spec!(AttnOut, "attention_output", Layer, Rows, |d| vec![d.t, d.d], All, "the attention block's output after its projection (Gemma: before its post-norm)"),
    spec!(
        PostAttnNorm,
        "post_attention_norm",
        Layer,
        Rows,
        |d| vec![d.t, d.d],
        PostNorms,
        "the attention output after the post-attention RMSNorm: what the residual stream adds (Gemma)"
    ),
    spec!(ResidMid, "residual_after_attention", Layer, Rows, |d| vec![d.t, d.d], All, "residual stream after adding the attention output"),
    spec!(Ln2, "ln_2", Layer, Rows, |d| vec![d.t, d.d], All, "the norm before the MLP: LayerNorm (GPT-2) or RMSNorm (Llama, Gemma)"),
    spec!(MlpPre, "mlp_pre_activation", Layer, Rows, |d| vec![d.t, d.f], PlainMlp, "the MLP's input projection before the nonlinearity (GPT-2)"),
    spec!(MlpGate, "mlp_gate", Layer, Rows, |d| vec![d.t, d.f], GatedMlp, "the gate projection x·W_gate before SiLU (Llama) or GELU (Gemma)"),
    spec!(MlpUp, "mlp_up", Layer, Rows, |d| vec![d.t, d.f], GatedMlp, "the up projection x·W_up (Llama, Gemma)"),
    spec!(
        MlpPost,
        "mlp_activation",
        Layer,
        Rows,
        |d| vec![d.t, d.f],
        All,
        "the MLP's hidden neurons, the input of its output projection: GELU(pre) (GPT-2), SiLU(gate)⊙up (Llama) or GELU(gate)⊙up (Gemma)"
    ),
    spec!(MlpOut, "mlp_output", Layer, Rows, |d| vec![d.t, d.d], All, "the MLP block's output (Gemma: before its post-norm)"),
    spec!(
        PostMlpNorm,
        "post_mlp_norm",
        Layer,
        Rows,
        |d| vec![d.t, d.d],
        PostNorms,
        "the MLP output after the post-feedforward RMSNorm: what the residual stream adds (Gemma)"
    ),
    spec!(ResidPost, "residual_after_mlp", Layer, Rows, |d| vec![d.t, d.d], All, "residual stream after the block"),
    spec!(LnF, "ln_f", Global, Rows, |d| vec![d.t, d.d], All, "the final norm's output"),
    spec!(Logits, "logits", Global, Rows, |d| vec![d.t, d.v], All, "next-token logits for every position"),
    spec!(Probs, "probabilities", Global, Rows, |d| vec![d.t, d.v], All, "softmax of the logits"),
];

// `Part::spec` indexes PARTS by the enum's order: checked here, when the crate compiles.
const _: () = {
    let mut i = 0;
    while i < PARTS.len() {
        assert!(PARTS[i].part as usize == i, "PARTS must list every part in the order of the Part enum");
        i += 1;
    }
};

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
            Applies::QkNorm => cfg.qk_norm,
            Applies::PostNorms => cfg.post_norms,
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

/// Every recorded activation of one run over `tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The tokens whose rows this run computed.
    pub tokens: Vec<TokenInfo>,
    /// Position of the first of `tokens` in the context (0 for a fresh prompt; >0 for a
    /// KV-cache step).
    pub start_position: usize,
    /// The positions whose rows the per-position parts ([`Layout::Rows`]) kept, when not
    /// every one of this run's ([`Positions`]).
    pub positions: Option<Vec<usize>>,
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
    /// Keeps the rows of `positions` only in the per-position parts ([`Layout::Rows`]), for
    /// a backend that recorded them all.
    pub fn keep_positions(&mut self, positions: &Positions) {
        let Some(rows) = positions.rows(self.start_position, self.tokens.len()) else { return };
        if self.positions.is_some() {
            return;
        }
        for r in std::iter::once(&mut self.global).chain(self.layers.iter_mut()) {
            for (p, t) in r.0.iter_mut() {
                if p.spec().layout == Layout::Rows {
                    *t = t.select_rows(&rows);
                }
            }
        }
        self.positions = Some(rows.iter().map(|r| self.start_position + r).collect());
    }

    pub fn get(&self, p: Part) -> Option<&Tensor> {
        self.global.get(p)
    }
    pub fn layer(&self, l: usize, p: Part) -> Option<&Tensor> {
        self.layers.get(l)?.get(p)
    }
}

/// How a backend fills a trace: it offers each part it computes, and the recorder keeps
/// those the caller asked for (and that the architecture has), checking their shapes
/// against [`PARTS`].
pub struct Recorder {
    parts: Parts,
    dims: Dims,
    /// The rows (of this run, 0-based) that per-position parts keep; None: all.
    rows: Option<Vec<usize>>,
    global: Recorded,
    layers: Vec<Recorded>,
}

impl Recorder {
    pub fn new(cfg: &Config, parts: Parts, dims: Dims) -> Recorder {
        let parts = Parts::of(&parts.iter().filter(|p| p.applies_to(cfg)).collect::<Vec<_>>());
        Recorder { parts, dims, rows: None, global: Recorded::default(), layers: vec![Recorded::default(); cfg.n_layer] }
    }

    /// Keeps only the rows of `positions` in the per-position parts (positions of the
    /// context; this run holds positions start..start + T).
    pub fn keep(mut self, positions: &Positions, start: usize) -> Recorder {
        self.rows = positions.rows(start, self.dims.t);
        self
    }

    /// The rows (of this run) that per-position parts keep, in order.
    pub fn rows(&self) -> Vec<usize> {
        self.rows.clone().unwrap_or_else(|| (0..self.dims.t).collect())
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
        let mut t = Tensor::new((spec.shape)(&self.dims), data());
        if let (Layout::Rows, Some(rows)) = (spec.layout, &self.rows) {
            t = t.select_rows(rows);
        }
        match layer {
            Some(l) => self.layers[l].insert(p, t),
            None => self.global.insert(p, t),
        }
    }

    /// Keeps per-position part `p` whose `data` the backend computed for the kept rows only
    /// ([`Recorder::rows`]), as a backend does for the logits.
    pub fn put_kept(&mut self, layer: Option<usize>, p: Part, data: impl FnOnce() -> Vec<f32>) {
        if !self.wants(p) {
            return;
        }
        let spec = p.spec();
        assert_eq!(spec.layout, Layout::Rows, "part {} is not kept by rows", spec.name);
        let mut shape = (spec.shape)(&self.dims);
        shape[0] = self.rows.as_ref().map_or(self.dims.t, Vec::len);
        let t = Tensor::new(shape, data());
        match layer {
            Some(l) => self.layers[l].insert(p, t),
            None => self.global.insert(p, t),
        }
    }

    pub fn finish(self, tokens: Vec<TokenInfo>, start_position: usize, next_logits: Vec<f32>, elapsed_ms: f64) -> Trace {
        let positions = self.rows.map(|r| r.into_iter().map(|i| start_position + i).collect());
        Trace { tokens, start_position, positions, global: self.global, layers: self.layers, next_logits, elapsed_ms }
    }
}

/// Which positions' rows a run keeps of its per-position parts ([`Layout::Rows`]: the
/// residual stream, the MLP's rows, logits and probabilities). Attention maps and the
/// per-head q, k and v always stay whole. A long prompt over a large vocabulary keeps its
/// logits for the last position only, instead of [T, V].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Positions {
    #[default]
    All,
    /// The last position of each run.
    Last,
    /// These positions of the context (0-based), in this order.
    List(Vec<usize>),
}

impl Positions {
    /// `last`, `all`, or a comma-separated list of positions counted from 0.
    pub fn parse(s: &str) -> std::result::Result<Positions, String> {
        match s.trim() {
            "all" => Ok(Positions::All),
            "last" => Ok(Positions::Last),
            list => list
                .split(',')
                .map(|p| p.trim().parse::<usize>().map_err(|_| format!("\"{p}\" is not a position (a whole number from 0), \"last\" or \"all\"")))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Positions::List),
        }
    }

    /// The rows of a run of `t` tokens from `start` that these positions pick (None: all);
    /// positions outside the run are left out.
    pub fn rows(&self, start: usize, t: usize) -> Option<Vec<usize>> {
        match self {
            Positions::All => None,
            Positions::Last => Some(vec![t.saturating_sub(1)]).filter(|_| t > 0),
            Positions::List(ps) => Some(ps.iter().filter(|&&p| p >= start && p < start + t).map(|p| p - start).collect()),
        }
    }
}

/// A source of recorded parts: a trace, or the store of a whole context.
pub trait PartSource {
    fn part(&self, layer: Option<usize>, p: Part) -> Option<&Tensor>;
    /// How many layers it holds parts of.
    fn n_layers(&self) -> usize;
}

impl PartSource for Trace {
    fn part(&self, layer: Option<usize>, p: Part) -> Option<&Tensor> {
        match layer {
            Some(l) => self.layer(l, p),
            None => self.get(p),
        }
    }
    fn n_layers(&self) -> usize {
        self.layers.len()
    }
}

/// A run (or a whole context) as JSON: the one format the CLI's `trace` prints, the page's
/// "Download run (JSON)" saves and `llm-xray compare` reads. `{model, backend,
/// [ablated_heads], tokens, start_position, [positions], <global parts before the layers>,
/// [attentions: [layer][head][T][T]], layers: [{<parts>}], <the other global parts>,
/// next_logits, [elapsed_ms]}`. The attention probabilities are lifted out of the layers to
/// the top level (where readers of HF's `output_attentions` look) when every layer has them.
pub struct TraceJson<'a, S: PartSource + ?Sized> {
    pub model: &'a Config,
    pub backend: &'a str,
    /// Ablated heads, counted from 1.
    pub ablated_heads: Option<&'a [(usize, usize)]>,
    pub tokens: &'a [TokenInfo],
    pub start_position: usize,
    pub positions: Option<&'a [usize]>,
    pub parts: &'a S,
    pub next_logits: &'a [f32],
    pub elapsed_ms: Option<f64>,
}

impl<'a> TraceJson<'a, Trace> {
    /// A run's trace, as the CLI prints it.
    pub fn of(model: &'a Config, backend: &'a str, tr: &'a Trace) -> Self {
        TraceJson {
            model,
            backend,
            ablated_heads: None,
            tokens: &tr.tokens,
            start_position: tr.start_position,
            positions: tr.positions.as_deref(),
            parts: tr,
            next_logits: &tr.next_logits,
            elapsed_ms: Some(tr.elapsed_ms),
        }
    }
}

impl<S: PartSource + ?Sized> Serialize for TraceJson<'_, S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let src = self.parts;
        let n = src.n_layers();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", self.model)?;
        m.serialize_entry("backend", self.backend)?;
        if let Some(h) = self.ablated_heads {
            m.serialize_entry("ablated_heads", h)?;
        }
        m.serialize_entry("tokens", self.tokens)?;
        m.serialize_entry("start_position", &self.start_position)?;
        if let Some(p) = self.positions {
            m.serialize_entry("positions", p)?;
        }
        let globals: Vec<Part> = Part::all().filter(|p| !p.is_layer() && src.part(None, *p).is_some()).collect();
        // Forward order: the embeddings, the layers, then the final norm and the logits.
        for p in globals.iter().filter(|p| **p < Part::Ln1) {
            m.serialize_entry(p.name(), src.part(None, *p).expect("present"))?;
        }
        let attentions: Vec<&Tensor> = (0..n).filter_map(|l| src.part(Some(l), Part::AttnProbs)).collect();
        let lifted = n > 0 && attentions.len() == n;
        if lifted {
            m.serialize_entry("attentions", &attentions)?;
        }
        m.serialize_entry("layers", &(0..n).map(|layer| LayerJson { src, layer, lifted }).collect::<Vec<_>>())?;
        for p in globals.iter().filter(|p| **p > Part::Ln1) {
            m.serialize_entry(p.name(), src.part(None, *p).expect("present"))?;
        }
        m.serialize_entry("next_logits", &Nested(&[self.next_logits.len()], self.next_logits))?;
        if let Some(ms) = self.elapsed_ms {
            m.serialize_entry("elapsed_ms", &ms)?;
        }
        m.end()
    }
}

/// One layer's recorded parts as a JSON object, written straight from the source.
struct LayerJson<'a, S: PartSource + ?Sized> {
    src: &'a S,
    layer: usize,
    /// The attention probabilities were written at the top level.
    lifted: bool,
}

impl<S: PartSource + ?Sized> Serialize for LayerJson<'_, S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut m = s.serialize_map(None)?;
        for p in Part::all().filter(|p| p.is_layer() && !(self.lifted && *p == Part::AttnProbs)) {
            if let Some(t) = self.src.part(Some(self.layer), p) {
                m.serialize_entry(p.name(), t)?;
            }
        }
        m.end()
    }
}
