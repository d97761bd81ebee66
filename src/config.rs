//! Hyperparameters: the one description of a model's architecture that every loader fills
//! (Hugging Face `config.json` of the GPT-2 and Llama families here, GGUF metadata in
//! `from_gguf.rs`) and every backend reads.
//!
//! The two families differ in four choices, each a field here rather than a second model:
//! the norm (LayerNorm with a bias, or RMSNorm), how position enters (a learned table added
//! to the embedding, or RoPE rotating q and k), the MLP (plain `act(x·W_in)`, or gated
//! `act(x·W_gate) ⊙ x·W_up`) and which projections carry biases. Grouped-query attention
//! (fewer key/value heads than query heads) is `n_kv_head < n_head`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    fn parse(name: &str, field: &str) -> Result<Self> {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluNew),
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            other => Err(Error::Config(format!(
                "{field} \"{other}\" is not supported; expected one of gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu"
            ))),
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

/// `bos_token_id` and `eos_token_id` (a number or a list) of a `config.json`.
fn special_ids(root: &Value) -> (Option<u32>, Vec<u32>) {
    let id = |v: &Value| v.as_u64().filter(|&x| x <= u32::MAX as u64).map(|x| x as u32);
    let bos = root.get("bos_token_id").and_then(id);
    let eos = match root.get("eos_token_id") {
        Some(Value::Array(a)) => a.iter().filter_map(id).collect(),
        Some(v) => id(v).into_iter().collect(),
        None => Vec::new(),
    };
    (bos, eos)
}

#[derive(Deserialize)]
struct Gpt2Raw {
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
    scale_attn_weights: Option<bool>,
    scale_attn_by_inverse_layer_idx: Option<bool>,
    reorder_and_upcast_attn: Option<bool>,
}

#[derive(Deserialize)]
struct LlamaRaw {
    vocab_size: Option<usize>,
    max_position_embeddings: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    hidden_act: Option<String>,
    rms_norm_eps: Option<f64>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    rope_theta: Option<f64>,
    rope_scaling: Option<Value>,
    rope_parameters: Option<Value>,
    use_sliding_window: Option<bool>,
    pretraining_tp: Option<usize>,
}

fn need(v: Option<usize>, name: &str) -> Result<usize> {
    v.ok_or_else(|| Error::Config(format!("missing \"{name}\" (a positive integer)")))
}

impl Config {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let root: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::Config(format!("not valid JSON of a model config: {e}")))?;
        let cfg = match root.get("model_type").and_then(Value::as_str) {
            None | Some("gpt2") => Self::gpt2(&root)?,
            Some("llama") => Self::llama(&root, Family::Llama)?,
            Some("qwen2") => Self::llama(&root, Family::Qwen2)?,
            Some(t) => {
                return Err(Error::Config(format!(
                    "model_type is \"{t}\"; this engine runs the GPT-2 and Llama families (model_type \"gpt2\", \"llama\" or \"qwen2\")"
                )))
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn gpt2(root: &Value) -> Result<Self> {
        let raw: Gpt2Raw = serde_json::from_value(root.clone())
            .map_err(|e| Error::Config(format!("a GPT-2 config field has the wrong type: {e}")))?;
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
        let n_embd = need(raw.n_embd, "n_embd")?;
        let n_head = need(raw.n_head, "n_head")?;
        let (bos_token_id, eos_token_ids) = special_ids(root);
        Ok(Config {
            model_type: Family::Gpt2,
            vocab_size: need(raw.vocab_size, "vocab_size")?,
            n_positions: need(raw.n_positions.or(raw.n_ctx), "n_positions")?,
            n_embd,
            n_layer: need(raw.n_layer, "n_layer")?,
            n_head,
            n_kv_head: n_head,
            head_dim: n_embd.checked_div(n_head).unwrap_or(0),
            n_inner: raw.n_inner.unwrap_or(4 * n_embd),
            norm: Norm::LayerNorm,
            layer_norm_epsilon: raw.layer_norm_epsilon.unwrap_or(1e-5) as f32,
            activation: Activation::parse(raw.activation_function.as_deref().unwrap_or("gelu_new"), "activation_function")?,
            gated_mlp: false,
            rope_theta: None,
            qkv_bias: true,
            o_bias: true,
            mlp_bias: true,
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(true),
            bos_token_id,
            eos_token_ids,
        })
    }

    fn llama(root: &Value, family: Family) -> Result<Self> {
        let raw: LlamaRaw = serde_json::from_value(root.clone())
            .map_err(|e| Error::Config(format!("a Llama-family config field has the wrong type: {e}")))?;
        if raw.use_sliding_window == Some(true) {
            return Err(Error::Config("use_sliding_window = true is not supported; this engine attends to the whole context".into()));
        }
        if raw.pretraining_tp.is_some_and(|tp| tp > 1) {
            return Err(Error::Config("pretraining_tp > 1 (sliced projections) is not supported; expected 1".into()));
        }
        // transformers 5 writes the RoPE settings as `rope_parameters`; older hub files write
        // `rope_theta` and `rope_scaling` at the top level.
        let params = raw.rope_parameters.as_ref().filter(|v| v.is_object());
        let theta = params
            .and_then(|p| p.get("rope_theta"))
            .and_then(Value::as_f64)
            .or(raw.rope_theta)
            .unwrap_or(10000.0);
        let scaling = params.or(raw.rope_scaling.as_ref().filter(|v| v.is_object()));
        if let Some(s) = scaling {
            let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("default");
            if kind != "default" {
                return Err(Error::Config(format!(
                    "RoPE scaling \"{kind}\" is not supported; this engine implements the default RoPE (no scaling)"
                )));
            }
        }
        let n_embd = need(raw.hidden_size, "hidden_size")?;
        let n_head = need(raw.num_attention_heads, "num_attention_heads")?;
        let attention_bias = raw.attention_bias.unwrap_or(false);
        let (bos_token_id, eos_token_ids) = special_ids(root);
        Ok(Config {
            model_type: family,
            vocab_size: need(raw.vocab_size, "vocab_size")?,
            n_positions: need(raw.max_position_embeddings, "max_position_embeddings")?,
            n_embd,
            n_layer: need(raw.num_hidden_layers, "num_hidden_layers")?,
            n_head,
            n_kv_head: raw.num_key_value_heads.unwrap_or(n_head),
            head_dim: raw.head_dim.unwrap_or(n_embd.checked_div(n_head).unwrap_or(0)),
            n_inner: need(raw.intermediate_size, "intermediate_size")?,
            norm: Norm::RmsNorm,
            layer_norm_epsilon: raw.rms_norm_eps.unwrap_or(1e-6) as f32,
            activation: Activation::parse(raw.hidden_act.as_deref().unwrap_or("silu"), "hidden_act")?,
            gated_mlp: true,
            rope_theta: Some(theta as f32),
            // Qwen2 always has q/k/v biases and none on the output projection.
            qkv_bias: family == Family::Qwen2 || attention_bias,
            o_bias: family != Family::Qwen2 && attention_bias,
            mlp_bias: raw.mlp_bias.unwrap_or(false),
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            bos_token_id,
            eos_token_ids,
        })
    }

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
            return Err(Error::Config(format!(
                "describes a model of about {params} learned parameters, too large to run here"
            )));
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon > 0.0) {
            return Err(Error::Config(format!(
                "the norm's epsilon is {}; expected a small positive number",
                self.layer_norm_epsilon
            )));
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
