//! Gemma 3 (Gemma Team 2025), the text model, as Hugging Face's `Gemma3ForCausalLM`
//! (`model_type` "gemma3_text") and llama.cpp's `gemma3` GGUF files store it.
//!
//! The block, with "sandwich" norms: x += RMSNorm₂(attn(RMSNorm₁(x))); x +=
//! RMSNorm₄(MLP(RMSNorm₃(x))). The token embedding is multiplied by √width before the first
//! block. Attention normalises each query and key head by its own RMSNorm (QK-norm) before
//! RoPE, scales scores by query_pre_attn_scalar^−½, lets query heads share key/value heads,
//! and on five of every six layers sees only the last `sliding_window` tokens (itself
//! included), with RoPE base 10,000 there and 1,000,000 on the global layers. MLP(h) =
//! (GELU(h·W_gate) ⊙ h·W_up)·W_down, GELU in its tanh form (GeGLU). Every RMSNorm scales by
//! (1 + w); the unembedding is the token-embedding table. No biases, no soft-capping (Gemma
//! 2 had it; a file that asks for it is refused).
//!
//! A GGUF file carries fewer hyperparameters than a `config.json`: where it lacks one, this
//! module takes transformers' Gemma 3 default and records it in [`Config::defaulted`].

use super::{hf_special_ids, need, Common, GgufKeys, Names, QkvNames, TensorNames};
use crate::config::{Activation, Config, Defaulted, Family, LayerType, Norm};
use crate::error::{Error, Result};
use crate::gguf::{gguf_error, Array, Value as GgufValue};
use serde::Deserialize;
use serde_json::Value;

pub const TENSORS: TensorNames = TensorNames {
    hf_prefixes: ["model.", ""],
    hf_conv1d: false,
    // llama.cpp rotates Gemma's heads in halves (NEOX order), as transformers does: no permutation.
    gguf_qk_permuted: false,
    token_embedding: Names { hf: "embed_tokens", gguf: "token_embd" },
    position_embedding: None,
    ln_1: Names { hf: "layers.{i}.input_layernorm", gguf: "blk.{i}.attn_norm" },
    qkv: QkvNames::Split([
        Names { hf: "layers.{i}.self_attn.q_proj", gguf: "blk.{i}.attn_q" },
        Names { hf: "layers.{i}.self_attn.k_proj", gguf: "blk.{i}.attn_k" },
        Names { hf: "layers.{i}.self_attn.v_proj", gguf: "blk.{i}.attn_v" },
    ]),
    o: Names { hf: "layers.{i}.self_attn.o_proj", gguf: "blk.{i}.attn_output" },
    ln_2: Names { hf: "layers.{i}.pre_feedforward_layernorm", gguf: "blk.{i}.ffn_norm" },
    up: Names { hf: "layers.{i}.mlp.up_proj", gguf: "blk.{i}.ffn_up" },
    gate: Some(Names { hf: "layers.{i}.mlp.gate_proj", gguf: "blk.{i}.ffn_gate" }),
    down: Names { hf: "layers.{i}.mlp.down_proj", gguf: "blk.{i}.ffn_down" },
    ln_f: Names { hf: "norm", gguf: "output_norm" },
    unembedding: Names { hf: "lm_head", gguf: "output" },
    q_norm: Some(Names { hf: "layers.{i}.self_attn.q_norm", gguf: "blk.{i}.attn_q_norm" }),
    k_norm: Some(Names { hf: "layers.{i}.self_attn.k_norm", gguf: "blk.{i}.attn_k_norm" }),
    post_attn_norm: Some(Names { hf: "layers.{i}.post_attention_layernorm", gguf: "blk.{i}.post_attention_norm" }),
    post_mlp_norm: Some(Names { hf: "layers.{i}.post_feedforward_layernorm", gguf: "blk.{i}.post_ffw_norm" }),
    hf_norm_plus_one: true,
};

/// transformers' Gemma 3 defaults, for what a file leaves out.
const GLOBAL_THETA: f32 = 1_000_000.0;
const LOCAL_THETA: f32 = 10_000.0;
/// Every sixth layer is global (1-based layers 6, 12, 18, …).
const PATTERN: usize = 6;
const WINDOW: usize = 4096;
const QUERY_PRE_ATTN_SCALAR: f32 = 256.0;
const EPS: f32 = 1e-6;

/// Why another Gemma (named as a `model_type` or GGUF architecture) is refused; None for a
/// name that is no Gemma.
pub fn other_gemma(name: &str) -> Option<&'static str> {
    Some(match name {
        "gemma" => "Gemma 1 is not supported; this engine runs Gemma 3 (Gemma 1 has no sliding window, no QK-norm and no norms after attention and the MLP)",
        "gemma2" => "Gemma 2 is not supported; this engine runs Gemma 3 (Gemma 2 soft-caps its attention scores and logits and has no QK-norm)",
        "gemma3" => "the Gemma 3 vision-language model (Gemma3ForConditionalGeneration) is not supported; this engine runs Gemma 3's text model (model_type \"gemma3_text\", Gemma3ForCausalLM)",
        "gemma3n" | "gemma4" | "gemma4_text" | "gemma-embedding" | "gemma3n_text" => {
            "this Gemma variant is not supported; this engine runs Gemma 3's text model (gemma3_text, GGUF gemma3)"
        }
        _ => return None,
    })
}

/// Layers 1..=n as sliding or global: every `pattern`-th global (transformers'
/// `sliding_window_pattern`).
fn every_nth_global(n_layer: usize, pattern: usize) -> Vec<LayerType> {
    (0..n_layer).map(|i| if (i + 1) % pattern.max(1) == 0 { LayerType::Global } else { LayerType::Sliding }).collect()
}

/// The `config.json` keys of a Gemma 3 text checkpoint.
#[derive(Deserialize)]
struct Raw {
    vocab_size: Option<usize>,
    max_position_embeddings: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    hidden_activation: Option<String>,
    rms_norm_eps: Option<f64>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    query_pre_attn_scalar: Option<f64>,
    sliding_window: Option<usize>,
    sliding_window_pattern: Option<usize>,
    layer_types: Option<Vec<String>>,
    rope_parameters: Option<Value>,
    rope_theta: Option<f64>,
    rope_local_base_freq: Option<f64>,
    rope_scaling: Option<Value>,
    final_logit_softcapping: Option<f64>,
    attn_logit_softcapping: Option<f64>,
    use_bidirectional_attention: Option<bool>,
}

pub fn config_from_hf(root: &Value) -> Result<Config> {
    let raw: Raw = serde_json::from_value(root.clone()).map_err(|e| Error::Config(format!("a Gemma 3 config field has the wrong type: {e}")))?;
    for (name, v) in [("final_logit_softcapping", raw.final_logit_softcapping), ("attn_logit_softcapping", raw.attn_logit_softcapping)] {
        if let Some(v) = v {
            return Err(Error::Config(format!("{name} is {v}; soft-capping is not implemented (Gemma 3 has none; expected null)")));
        }
    }
    if raw.use_bidirectional_attention == Some(true) {
        return Err(Error::Config("use_bidirectional_attention is true; this engine runs causal language models (expected false)".into()));
    }
    let mut defaulted = Vec::new();
    let d = &mut defaulted;
    let n_layer = need(raw.num_hidden_layers, "num_hidden_layers")?;
    let n_embd = need(raw.hidden_size, "hidden_size")?;
    let n_head = need(raw.num_attention_heads, "num_attention_heads")?;
    let head_dim = or_default(raw.head_dim, "head_dim", 256, d);
    let activation = or_default(raw.hidden_activation, "hidden_activation", "gelu_pytorch_tanh".to_string(), d);
    let eps = or_default(raw.rms_norm_eps, "rms_norm_eps", EPS as f64, d);
    let scalar = or_default(raw.query_pre_attn_scalar, "query_pre_attn_scalar", QUERY_PRE_ATTN_SCALAR as f64, d);
    let window = or_default(raw.sliding_window, "sliding_window", WINDOW, d);
    let layer_types = match raw.layer_types {
        Some(types) => types
            .iter()
            .map(|t| match t.as_str() {
                "sliding_attention" => Ok(LayerType::Sliding),
                "full_attention" => Ok(LayerType::Global),
                other => Err(Error::Config(format!("layer_types holds \"{other}\"; expected \"sliding_attention\" or \"full_attention\""))),
            })
            .collect::<Result<Vec<_>>>()?,
        None => every_nth_global(n_layer, or_default(raw.sliding_window_pattern, "sliding_window_pattern", PATTERN, d)),
    };
    // transformers 5 writes `rope_parameters` per layer type; older files write `rope_theta`
    // (global), `rope_local_base_freq` and `rope_scaling` (global) at the top level.
    let params = raw.rope_parameters.as_ref().filter(|v| v.is_object());
    let theta_of = |kind: &str| params.and_then(|p| p.get(kind)).and_then(|p| p.get("rope_theta")).and_then(Value::as_f64);
    for kind in ["full_attention", "sliding_attention"] {
        let scaling = params.and_then(|p| p.get(kind)).or(raw.rope_scaling.as_ref().filter(|_| kind == "full_attention"));
        if let Some(s) = scaling.filter(|v| v.is_object()) {
            let t = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("default");
            if t != "default" {
                return Err(Error::Config(format!(
                    "RoPE scaling \"{t}\" on {kind} layers is not supported; this engine implements the default RoPE (no scaling)"
                )));
            }
        }
    }
    let global = or_default(theta_of("full_attention").or(raw.rope_theta), "rope_theta", GLOBAL_THETA as f64, d);
    let local = or_default(theta_of("sliding_attention").or(raw.rope_local_base_freq), "rope_local_base_freq", LOCAL_THETA as f64, d);
    let attention_bias = raw.attention_bias.unwrap_or(false);
    let (bos_token_id, eos_token_ids) = hf_special_ids(root);
    Ok(Config {
        model_type: Family::Gemma3,
        vocab_size: need(raw.vocab_size, "vocab_size")?,
        n_positions: need(raw.max_position_embeddings, "max_position_embeddings")?,
        n_embd,
        n_layer,
        n_head,
        n_kv_head: raw.num_key_value_heads.unwrap_or(n_head),
        head_dim,
        n_inner: need(raw.intermediate_size, "intermediate_size")?,
        norm: Norm::RmsNorm,
        layer_norm_epsilon: eps as f32,
        activation: Activation::parse(&activation, "hidden_activation")?,
        gated_mlp: true,
        rope_theta: Some(global as f32),
        qkv_bias: attention_bias,
        o_bias: attention_bias,
        mlp_bias: false,
        tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(true),
        bos_token_id,
        eos_token_ids,
        embedding_scale: Some(embedding_scale(n_embd)),
        query_pre_attn_scalar: Some(scalar as f32),
        qk_norm: true,
        post_norms: true,
        sliding_window: Some(window),
        layer_types,
        rope_local_theta: Some(local as f32),
        defaulted,
    })
}

/// `v`, or the default (recorded in `defaulted` as taken).
fn or_default<T: std::fmt::Display>(v: Option<T>, name: &'static str, default: T, defaulted: &mut Vec<Defaulted>) -> T {
    v.unwrap_or_else(|| {
        defaulted.push(Defaulted { name, value: default.to_string() });
        default
    })
}

/// √width, as transformers computes it (`hidden_size ** 0.5` in Python, then f32).
fn embedding_scale(n_embd: usize) -> f32 {
    (n_embd as f64).sqrt() as f32
}

pub fn config_from_gguf(k: &GgufKeys, c: Common) -> Result<Config> {
    for name in ["attn_logit_softcapping", "final_logit_softcapping"] {
        if let Some(v) = k.opt_f32(name)?.filter(|&v| v != 0.0) {
            return Err(gguf_error(format!("{} is {v}; soft-capping is not implemented (Gemma 3 has none)", k.key(name))));
        }
    }
    if let Some(kind) = k.opt_str("rope.scaling.type")? {
        if kind != "none" {
            return Err(gguf_error(format!("{} is \"{kind}\"; this engine implements the default RoPE (no scaling)", k.key("rope.scaling.type"))));
        }
    }
    if let Some(v) = k.opt_usize("attention.value_length")? {
        if v != c.head_dim {
            return Err(gguf_error(format!(
                "{} is {v}, but keys are {} wide; values as wide as keys are expected",
                k.key("attention.value_length"),
                c.head_dim
            )));
        }
    }
    let mut defaulted = Vec::new();
    let d = &mut defaulted;
    let global = or_default(k.opt_f32("rope.freq_base")?, "rope_theta", GLOBAL_THETA, d);
    let local = or_default(k.opt_f32("rope.freq_base_swa")?, "rope_local_base_freq", LOCAL_THETA, d);
    // llama.cpp's converter writes no attention scale for Gemma 3, and llama.cpp scales by
    // the head size then (transformers by its default 256, the head size of every released
    // Gemma 3).
    let scalar = or_default(None, "query_pre_attn_scalar", c.head_dim as f32, d);
    let window = or_default(k.opt_usize("attention.sliding_window")?, "sliding_window", WINDOW, d);
    let pattern_key = k.key("attention.sliding_window_pattern");
    let layer_types = match k.get("attention.sliding_window_pattern") {
        None => every_nth_global(c.n_layer, or_default(None, "sliding_window_pattern", PATTERN, d)),
        Some(GgufValue::Array(Array::Bool(sliding))) if sliding.len() == c.n_layer => {
            sliding.iter().map(|&s| if s { LayerType::Sliding } else { LayerType::Global }).collect()
        }
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => every_nth_global(c.n_layer, n as usize),
            _ => {
                return Err(gguf_error(format!(
                    "{pattern_key} is {}; expected a positive integer (every n-th layer global) or {} bools (true: sliding window)",
                    v.describe(),
                    c.n_layer
                )))
            }
        },
    };
    let bias = k.has_tensor("blk.0.attn_q.bias");
    Ok(Config {
        model_type: Family::Gemma3,
        vocab_size: c.vocab_size,
        n_positions: c.n_positions,
        n_embd: c.n_embd,
        n_layer: c.n_layer,
        n_head: c.n_head,
        n_kv_head: c.n_kv_head,
        head_dim: c.head_dim,
        n_inner: c.n_inner,
        norm: Norm::RmsNorm,
        layer_norm_epsilon: k.f32("attention.layer_norm_rms_epsilon")?,
        activation: Activation::GeluNew,
        gated_mlp: true,
        rope_theta: Some(global),
        qkv_bias: bias,
        o_bias: k.has_tensor("blk.0.attn_output.bias"),
        mlp_bias: false,
        tie_word_embeddings: !k.has_tensor("output.weight"),
        bos_token_id: c.bos_token_id,
        eos_token_ids: c.eos_token_ids,
        embedding_scale: Some(embedding_scale(c.n_embd)),
        query_pre_attn_scalar: Some(scalar),
        qk_norm: true,
        post_norms: true,
        sliding_window: Some(window),
        layer_types,
        rope_local_theta: Some(local),
        defaulted,
    })
}
