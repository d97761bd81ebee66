//! The trace: a typed record of every activation of one run, the same whichever backend
//! produced it. Shapes use T = rows (tokens) computed in this run, Tk = tokens in the
//! context after it (keys), d = n_embd, H = n_head, hd = d/H, V = vocab_size.

use serde::ser::{Serialize, SerializeSeq, Serializer};

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

    pub fn max_abs(&self) -> f32 {
        self.data.iter().filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
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

/// The parts of a run a caller can ask to record. Everything is computed either way;
/// unrecorded parts are simply not kept, so a long prompt fits in a browser tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    TokEmb,
    PosEmb,
    Ln1,
    Q,
    K,
    V,
    AttnScores,
    AttnProbs,
    AttnOut,
    ResidMid,
    Ln2,
    MlpPre,
    MlpPost,
    MlpOut,
    ResidPost,
    LnF,
    Logits,
    Probs,
}

impl Part {
    pub const ALL: [Part; 18] = [
        Part::TokEmb, Part::PosEmb, Part::Ln1, Part::Q, Part::K, Part::V, Part::AttnScores,
        Part::AttnProbs, Part::AttnOut, Part::ResidMid, Part::Ln2, Part::MlpPre, Part::MlpPost,
        Part::MlpOut, Part::ResidPost, Part::LnF, Part::Logits, Part::Probs,
    ];

    /// The name used in JSON, on the CLI (`--parts`) and in the wasm API.
    pub fn name(self) -> &'static str {
        match self {
            Part::TokEmb => "token_embeddings",
            Part::PosEmb => "position_embeddings",
            Part::Ln1 => "ln_1",
            Part::Q => "q",
            Part::K => "k",
            Part::V => "v",
            Part::AttnScores => "attention_scores",
            Part::AttnProbs => "attentions",
            Part::AttnOut => "attention_output",
            Part::ResidMid => "residual_after_attention",
            Part::Ln2 => "ln_2",
            Part::MlpPre => "mlp_pre_activation",
            Part::MlpPost => "mlp_activation",
            Part::MlpOut => "mlp_output",
            Part::ResidPost => "residual_after_mlp",
            Part::LnF => "ln_f",
            Part::Logits => "logits",
            Part::Probs => "probabilities",
        }
    }

    pub fn from_name(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == s)
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
        Part::ALL.iter().fold(Parts(0), |s, p| s.with(*p))
    }
    pub fn with(self, p: Part) -> Self {
        Parts(self.0 | p.bit())
    }
    pub fn has(self, p: Part) -> bool {
        self.0 & p.bit() != 0
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
                let known: Vec<_> = Part::ALL.iter().map(|p| p.name()).collect();
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

/// Activations of one transformer block. Shapes in the module docs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LayerTrace {
    /// ln_1 output [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln_1: Option<Tensor>,
    /// per-head query, key and value [H, T, hd]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<Tensor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<Tensor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v: Option<Tensor>,
    /// q·k/√hd with the causal mask applied (−∞, JSON null), before softmax [H, T, Tk]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_scores: Option<Tensor>,
    /// softmax of the scores [H, T, Tk]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attentions: Option<Tensor>,
    /// output of the attention block after its projection [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_output: Option<Tensor>,
    /// residual stream after attention: input + attention_output [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residual_after_attention: Option<Tensor>,
    /// ln_2 output [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln_2: Option<Tensor>,
    /// MLP hidden layer before and after the nonlinearity [T, n_inner]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlp_pre_activation: Option<Tensor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlp_activation: Option<Tensor>,
    /// MLP block output [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlp_output: Option<Tensor>,
    /// residual stream after the block [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residual_after_mlp: Option<Tensor>,
}

/// Every recorded activation of one run over `tokens`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trace {
    /// The tokens whose rows this run computed.
    pub tokens: Vec<TokenInfo>,
    /// Position of the first of `tokens` in the context (0 for a fresh prompt; >0 for a
    /// KV-cache step).
    pub start_position: usize,
    /// [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_embeddings: Option<Tensor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_embeddings: Option<Tensor>,
    pub layers: Vec<LayerTrace>,
    /// final layer norm output [T, d]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln_f: Option<Tensor>,
    /// [T, V]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logits: Option<Tensor>,
    /// softmax of the logits [T, V]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Tensor>,
    /// Logits for the token after the last one, always present: generation needs it.
    pub next_logits: Vec<f32>,
    /// Wall-clock milliseconds the backend spent on this run (timing, not an activation).
    pub elapsed_ms: f64,
}
