//! Hyperparameters: the one description of a model that every loader fills (each
//! architecture's module in `arch/` reads its `config.json` keys and GGUF keys into it) and
//! every backend reads.
//!
//! The families differ in choices, each a field here rather than a second model: the norm
//! (LayerNorm with a bias, or RMSNorm), how position enters (a learned table added to the
//! embedding, or RoPE rotating q and k), the MLP (plain `act(x·W_in)`, or gated
//! `act(x·W_gate) ⊙ x·W_up`) and which projections carry biases. Grouped-query attention
//! (fewer key/value heads than query heads) is `n_kv_head < n_head`. Gemma 3 adds a scaled
//! embedding, QK-norm, norms after attention and the MLP ("sandwich" norms), its own
//! attention scale, and layers that attend within a sliding window, with their own RoPE base.

use crate::error::{Error, Result};
use serde::Serialize;

/// The MLP's nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's `gelu_new`.
    GeluNew,
    Relu,
    /// x·sigmoid(x), Llama's choice (HF `silu`).
    Silu,
}

impl Activation {
    /// The activation a file names (`hidden_act`, `activation_function`); `field` names the key.
    pub fn parse(name: &str, field: &str) -> Result<Self> {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluNew),
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            other => Err(Error::Config(format!("{field} \"{other}\" is not supported; expected one of gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// (x − mean) / √(var + ε) · g + b (GPT-2).
    LayerNorm,
    /// x / √(mean(x²) + ε) · g (Llama). Gemma's RMSNorm scales by (1 + w): its gain is held
    /// here as g = 1 + w (GGUF files store it so; the loader adds the 1 to an HF checkpoint's w).
    RmsNorm,
}

/// The architecture family, as `model_type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Gpt2,
    Llama,
    /// Llama with biases on the q, k and v projections.
    Qwen2,
    /// Gemma 3 (the text model, HF `gemma3_text`).
    Gemma3,
}

/// How far back a layer attends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerType {
    /// Every earlier token of the context (HF `full_attention`).
    Global,
    /// The last `sliding_window` tokens, itself included (HF `sliding_attention`).
    Sliding,
}

/// A hyperparameter the model's file did not give, and the value this engine took for it
/// (the architecture's default, as transformers takes it), so that the model panel and
/// `llm-xray info` can say which numbers are assumed rather than read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Defaulted {
    /// The hyperparameter, as transformers' config calls it.
    pub name: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub model_type: Family,
    pub vocab_size: usize,
    /// Context length: the most tokens one run may hold.
    pub n_positions: usize,
    /// Width of the residual stream (d_model).
    pub n_embd: usize,
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads; query head h reads key/value head ⌊h·n_kv_head/n_head⌋.
    pub n_kv_head: usize,
    /// Width of one head's query, key and value.
    pub head_dim: usize,
    /// Width of the MLP's hidden layer.
    pub n_inner: usize,
    pub norm: Norm,
    /// ε of every norm (LayerNorm or RMSNorm).
    pub layer_norm_epsilon: f32,
    pub activation: Activation,
    /// The MLP multiplies act(x·W_gate) by x·W_up (SwiGLU; Gemma's GeGLU with GELU) instead
    /// of act(x·W_in).
    pub gated_mlp: bool,
    /// RoPE base θ when position enters by rotating q and k; None: a learned position table.
    pub rope_theta: Option<f32>,
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// Whether the unembedding reuses the token-embedding matrix (absent `lm_head.weight`).
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    /// Tokens that end a generation (end of text, end of turn).
    pub eos_token_ids: Vec<u32>,
    /// The token embedding is multiplied by this before the first block (Gemma: √n_embd);
    /// None: it enters as it is.
    pub embedding_scale: Option<f32>,
    /// Attention scores are q·k · query_pre_attn_scalar^−½ (Gemma); None: q·k / √head_dim.
    pub query_pre_attn_scalar: Option<f32>,
    /// RMSNorm of each query and key head (gain [head_dim]) before RoPE: Gemma 3's QK-norm.
    pub qk_norm: bool,
    /// A norm on the attention's and on the MLP's output before each is added to the
    /// residual stream (Gemma's "sandwich" norms).
    pub post_norms: bool,
    /// How many tokens a sliding-window layer sees, itself included: the token at position i
    /// attends to keys j with i − w < j ≤ i.
    pub sliding_window: Option<usize>,
    /// Per layer, global or sliding-window attention; empty: every layer is global.
    pub layer_types: Vec<LayerType>,
    /// RoPE base of the sliding-window layers (Gemma 3: 10,000, where global layers use
    /// `rope_theta`, 1,000,000); None: `rope_theta` on every layer.
    pub rope_local_theta: Option<f32>,
    /// Hyperparameters the file did not give, taken from the architecture's defaults.
    pub defaulted: Vec<Defaulted>,
}

impl Config {
    /// Checks that the hyperparameters describe a model this engine can run, naming a
    /// field as the family's config.json does.
    pub fn validate(&self) -> Result<()> {
        let gpt2 = self.model_type == Family::Gpt2;
        self.validate_named(|field| {
            match field {
                "n_positions" if !gpt2 => "max_position_embeddings",
                "n_embd" if !gpt2 => "hidden_size",
                "n_layer" if !gpt2 => "num_hidden_layers",
                "n_head" if !gpt2 => "num_attention_heads",
                "n_kv_head" => "num_key_value_heads",
                "n_inner" if !gpt2 => "intermediate_size",
                f => f,
            }
            .to_string()
        })
    }

    /// As [`Config::validate`], with `name` mapping a field of this struct ("n_head") to
    /// what the file at hand calls it, so that a zero count names the file's own key. The
    /// counts are checked first: nothing before them divides by a head count.
    pub fn validate_named(&self, name: impl Fn(&str) -> String) -> Result<()> {
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_kv_head", self.n_kv_head),
            ("head_dim", self.head_dim),
            ("n_inner", self.n_inner),
        ] {
            if v == 0 {
                return Err(Error::Config(format!("{} is 0; expected a positive integer", name(field))));
            }
        }
        if self.rope_theta.is_none() && !self.n_embd.is_multiple_of(self.n_head) {
            return Err(Error::Config(format!(
                "n_embd ({}) is not divisible by n_head ({}); each head needs an equal share of the width",
                self.n_embd, self.n_head
            )));
        }
        if !self.n_head.is_multiple_of(self.n_kv_head) {
            return Err(Error::Config(format!(
                "{} key/value heads do not divide {} query heads; grouped-query attention needs each key/value head shared by the same number of query heads",
                self.n_kv_head, self.n_head
            )));
        }
        if (self.qk_norm || self.post_norms) && self.norm != Norm::RmsNorm {
            return Err(Error::Config("QK-norm and post-norms are implemented with RMSNorm only".into()));
        }
        if !self.layer_types.is_empty() && self.layer_types.len() != self.n_layer {
            return Err(Error::Config(format!("{} layer types are given for {} layers; expected one per layer", self.layer_types.len(), self.n_layer)));
        }
        if self.layer_types.contains(&LayerType::Sliding) && self.sliding_window.is_none_or(|w| w == 0) {
            return Err(Error::Config("some layers attend within a sliding window, but its size (sliding_window) is missing or 0".into()));
        }
        if let Some(s) = self.query_pre_attn_scalar {
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::Config(format!("query_pre_attn_scalar is {s}; expected a positive number")));
            }
        }
        if let Some(s) = self.embedding_scale {
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::Config(format!("the embedding scale is {s}; expected a positive number")));
            }
        }
        for theta in self.rope_theta.iter().chain(&self.rope_local_theta) {
            let theta = *theta;
            if !self.head_dim.is_multiple_of(2) {
                return Err(Error::Config(format!("head_dim {} is odd; RoPE rotates pairs of dimensions", self.head_dim)));
            }
            if !(theta.is_finite() && theta > 1.0) {
                return Err(Error::Config(format!("a RoPE base (rope_theta) is {theta}; expected a number above 1")));
            }
        }
        if self.rope_local_theta.is_some() && self.rope_theta.is_none() {
            return Err(Error::Config("a RoPE base for sliding-window layers is given, but the model has no RoPE".into()));
        }
        // Guard against absurd sizes in a corrupt file before anything is allocated.
        let params = self.parameter_estimate();
        if params > 1u128 << 36 {
            return Err(Error::Config(format!("describes a model of about {params} learned parameters, too large to run here")));
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon > 0.0) {
            return Err(Error::Config(format!("the norm's epsilon is {}; expected a small positive number", self.layer_norm_epsilon)));
        }
        Ok(())
    }

    /// Learned parameters the hyperparameters imply (biases and norms left out), for
    /// refusing a model before its weights are read.
    pub fn parameter_estimate(&self) -> u128 {
        let (v, d, f, l) = (self.vocab_size as u128, self.n_embd as u128, self.n_inner as u128, self.n_layer as u128);
        let qkvo = d * self.qkv_width() as u128 + self.n_head as u128 * self.head_dim as u128 * d;
        let mlp = if self.gated_mlp { 3 * d * f } else { 2 * d * f };
        let untied = if self.tie_word_embeddings { 0 } else { v * d };
        let positions = if self.rope_theta.is_none() { self.n_positions as u128 * d } else { 0 };
        v * d + untied + positions + l * (qkvo + mlp)
    }

    /// Width of the concatenated query heads (= n_embd for GPT-2 and most Llamas).
    pub fn q_width(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of the keys (and values) of all key/value heads.
    pub fn kv_width(&self) -> usize {
        self.n_kv_head * self.head_dim
    }

    /// Width of the fused q|k|v projection.
    pub fn qkv_width(&self) -> usize {
        self.q_width() + 2 * self.kv_width()
    }

    /// RoPE frequencies θ^(−2i/head_dim), i < head_dim/2, in f32 as transformers computes
    /// them (`1 / base ** (arange(0, dim, 2) / dim)`).
    pub fn rope_inv_freq(&self) -> Vec<f32> {
        self.rope_theta.map_or_else(Vec::new, |theta| self.inv_freq(theta))
    }

    /// As [`Config::rope_inv_freq`], for layer `l` (0-based): sliding-window layers may
    /// have their own base.
    pub fn layer_rope_inv_freq(&self, l: usize) -> Vec<f32> {
        self.layer_rope_theta(l).map_or_else(Vec::new, |theta| self.inv_freq(theta))
    }

    fn inv_freq(&self, theta: f32) -> Vec<f32> {
        let hd = self.head_dim;
        (0..hd / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / hd as f32)).collect()
    }

    /// The RoPE base of layer `l` (0-based), if the model has RoPE.
    pub fn layer_rope_theta(&self, l: usize) -> Option<f32> {
        match self.layer_type(l) {
            LayerType::Sliding => self.rope_local_theta.or(self.rope_theta),
            LayerType::Global => self.rope_theta,
        }
    }

    /// Whether layer `l` (0-based) attends to the whole context or within the window.
    pub fn layer_type(&self, l: usize) -> LayerType {
        self.layer_types.get(l).copied().unwrap_or(LayerType::Global)
    }

    /// The sliding window of layer `l` (0-based); None: it sees the whole context.
    pub fn layer_window(&self, l: usize) -> Option<usize> {
        (self.layer_type(l) == LayerType::Sliding).then_some(self.sliding_window).flatten()
    }

    /// What q·k is multiplied by: query_pre_attn_scalar^−½ (Gemma), else 1/√head_dim. The
    /// power is taken in f64, as Python takes it, and rounded once.
    pub fn attention_scale(&self) -> f32 {
        match self.query_pre_attn_scalar {
            Some(s) => (s as f64).powf(-0.5) as f32,
            None => 1.0 / (self.head_dim as f32).sqrt(),
        }
    }

    /// Which layers attend within the sliding window and which globally, counted from 1,
    /// for people: "sliding (512 tokens): 1–5, 7–11, 13–17; global: 6, 12, 18". None when
    /// every layer is global.
    pub fn layer_pattern(&self) -> Option<String> {
        if !self.layer_types.contains(&LayerType::Sliding) {
            return None;
        }
        let list = |kind: LayerType| {
            let mut runs: Vec<(usize, usize)> = Vec::new();
            for l in (1..=self.n_layer).filter(|&l| self.layer_type(l - 1) == kind) {
                match runs.last_mut() {
                    Some((_, end)) if *end + 1 == l => *end = l,
                    _ => runs.push((l, l)),
                }
            }
            let runs: Vec<String> = runs.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}–{b}") }).collect();
            if runs.is_empty() {
                "none".to_string()
            } else {
                runs.join(", ")
            }
        };
        let w = self.sliding_window.unwrap_or(0);
        Some(format!("sliding ({w} tokens): {}; global: {}", list(LayerType::Sliding), list(LayerType::Global)))
    }
}

/// What a model will take in memory once loaded, known before its weights are read: from
/// its hyperparameters, or from a GGUF file's header. The page refuses a model that cannot
/// fit before downloading it.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    pub model_type: Family,
    pub parameters: u64,
    /// The learned parameters as f32.
    pub f32_bytes: u64,
    /// How the weights will be held, for people: "Q4_0 blocks", "16-bit", "f32".
    pub held: String,
    /// Bytes the learned parameters will take in memory, held as `held` says (weights in
    /// blocks are read in place from the file's bytes, which then stay in memory).
    pub held_bytes: u64,
    /// The most memory loading takes at once: the file's bytes and what is made from them.
    pub load_bytes: u64,
    /// The largest weight matrix other than the (split) embedding tables, as f32 bytes: one
    /// GPU binding must hold it.
    pub largest_matrix_bytes: u64,
}

impl Footprint {
    pub fn of_config(c: &Config) -> Footprint {
        let p = c.parameter_estimate().min(u64::MAX as u128 / 4) as u64;
        let (d, f) = (c.n_embd as u64, c.n_inner as u64);
        let largest = 4 * [d * c.qkv_width() as u64, d * f, c.q_width() as u64 * d].into_iter().max().unwrap_or(0);
        Footprint {
            model_type: c.model_type,
            parameters: p,
            f32_bytes: 4 * p,
            held: "f32".into(),
            held_bytes: 4 * p,
            load_bytes: 4 * p,
            largest_matrix_bytes: largest,
        }
    }
}
