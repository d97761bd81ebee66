//! Hyperparameters: the one description of a model that every loader fills (each
//! architecture's module in `arch/` reads its `config.json` keys and GGUF keys into it) and
//! every backend reads.
//!
//! The two families differ in four choices, each a field here rather than a second model:
//! the norm (LayerNorm with a bias, or RMSNorm), how position enters (a learned table added
//! to the embedding, or RoPE rotating q and k), the MLP (plain `act(x·W_in)`, or gated
//! `act(x·W_gate) ⊙ x·W_up`) and which projections carry biases. Grouped-query attention
//! (fewer key/value heads than query heads) is `n_kv_head < n_head`.

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
    /// x / √(mean(x²) + ε) · g (Llama).
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
    /// The MLP multiplies act(x·W_gate) by x·W_up (SwiGLU) instead of act(x·W_in).
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
        if let Some(theta) = self.rope_theta {
            if !self.head_dim.is_multiple_of(2) {
                return Err(Error::Config(format!("head_dim {} is odd; RoPE rotates pairs of dimensions", self.head_dim)));
            }
            if !(theta.is_finite() && theta > 1.0) {
                return Err(Error::Config(format!("the RoPE base (rope_theta) is {theta}; expected a number above 1")));
            }
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
        let Some(theta) = self.rope_theta else { return Vec::new() };
        let hd = self.head_dim;
        (0..hd / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / hd as f32)).collect()
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
