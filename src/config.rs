//! Hyperparameters of a GPT-2-family model, read from Hugging Face's `config.json`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The feed-forward nonlinearity. GPT-2 uses the tanh approximation of GELU (`gelu_new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    GeluNew,
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluNew),
            "relu" => Ok(Activation::Relu),
            other => Err(Error::Config(format!(
                "activation_function \"{other}\" is not supported; expected one of gelu_new, gelu_pytorch_tanh, gelu_fast, relu"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::GeluNew => "gelu_new",
            Activation::Relu => "relu",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub vocab_size: usize,
    /// Context length: the most tokens one run may hold.
    pub n_positions: usize,
    /// Width of the residual stream (d_model).
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// Width of the MLP's hidden layer.
    pub n_inner: usize,
    pub layer_norm_epsilon: f32,
    pub activation: Activation,
    /// Whether the unembedding reuses the token-embedding matrix (absent `lm_head.weight`).
    pub tie_word_embeddings: bool,
}

#[derive(Deserialize)]
struct RawConfig {
    vocab_size: Option<usize>,
    n_positions: Option<usize>,
    n_ctx: Option<usize>,
    n_embd: Option<usize>,
    n_layer: Option<usize>,
    n_head: Option<usize>,
    n_inner: Option<usize>,
    layer_norm_epsilon: Option<f64>,
    activation_function: Option<String>,
    tie_word_embeddings: Option<bool>,
    model_type: Option<String>,
    scale_attn_weights: Option<bool>,
    scale_attn_by_inverse_layer_idx: Option<bool>,
    reorder_and_upcast_attn: Option<bool>,
}

impl Config {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawConfig = serde_json::from_slice(bytes)
            .map_err(|e| Error::Config(format!("not valid JSON of a model config: {e}")))?;
        if let Some(t) = &raw.model_type {
            if t != "gpt2" {
                return Err(Error::Config(format!(
                    "model_type is \"{t}\"; this engine runs the GPT-2 architecture (model_type \"gpt2\")"
                )));
            }
        }
        // Variants of GPT-2 attention that would change every attention map; refuse them by
        // name rather than show numbers the checkpoint's authors never computed.
        for (name, v, plain) in [
            ("scale_attn_weights", raw.scale_attn_weights, true),
            ("scale_attn_by_inverse_layer_idx", raw.scale_attn_by_inverse_layer_idx, false),
            ("reorder_and_upcast_attn", raw.reorder_and_upcast_attn, false),
        ] {
            if v.is_some_and(|v| v != plain) {
                return Err(Error::Config(format!("{name} = {} is not supported; expected {plain}", !plain)));
            }
        }
        let need = |v: Option<usize>, name: &str| {
            v.ok_or_else(|| Error::Config(format!("missing \"{name}\" (a positive integer)")))
        };
        let n_embd = need(raw.n_embd, "n_embd")?;
        let cfg = Config {
            vocab_size: need(raw.vocab_size, "vocab_size")?,
            n_positions: need(raw.n_positions.or(raw.n_ctx), "n_positions")?,
            n_embd,
            n_layer: need(raw.n_layer, "n_layer")?,
            n_head: need(raw.n_head, "n_head")?,
            n_inner: raw.n_inner.unwrap_or(4 * n_embd),
            layer_norm_epsilon: raw.layer_norm_epsilon.unwrap_or(1e-5) as f32,
            activation: Activation::parse(raw.activation_function.as_deref().unwrap_or("gelu_new"))?,
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(true),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.n_inner),
        ] {
            if v == 0 {
                return Err(Error::Config(format!("{name} is 0; expected a positive integer")));
            }
        }
        if self.n_embd % self.n_head != 0 {
            return Err(Error::Config(format!(
                "n_embd ({}) is not divisible by n_head ({}); each head needs an equal share of the width",
                self.n_embd, self.n_head
            )));
        }
        // Guard against absurd sizes in a corrupt file before anything is allocated.
        let params = self.vocab_size as u128 * self.n_embd as u128
            + self.n_layer as u128 * (12 * self.n_embd as u128 * self.n_embd as u128);
        if params > 1u128 << 36 {
            return Err(Error::Config(format!(
                "describes a model of about {params} learned parameters, too large to run here"
            )));
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon > 0.0) {
            return Err(Error::Config(format!(
                "layer_norm_epsilon is {}; expected a small positive number",
                self.layer_norm_epsilon
            )));
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}
