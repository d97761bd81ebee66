//! Llama (Touvron et al. 2023) and its variant Qwen2, as Hugging Face's
//! `LlamaForCausalLM`/`Qwen2ForCausalLM` and llama.cpp's `llama`/`qwen2` GGUF files store
//! them. (Mistral without a sliding window is Llama.)
//!
//! The block: x += attn(RMSNorm₁(x)); x += MLP(RMSNorm₂(x)), where attention rotates each
//! query and key by its position (RoPE, rotate-half convention), lets groups of query heads
//! share a key/value head (grouped-query attention), and MLP(h) = (SiLU(h·W_gate) ⊙ h·W_up)·W_down
//! (SwiGLU). No learned position table; no biases, except Qwen2's on q, k and v; RMSNorm has
//! a gain and no bias.

use super::{hf_special_ids, need, Common, GgufKeys, Names, QkvNames, TensorNames};
use crate::config::{Activation, Config, Family, Norm};
use crate::error::{Error, Result};
use crate::gguf::gguf_error;
use serde::Deserialize;
use serde_json::Value;

pub const TENSORS: TensorNames = TensorNames {
    hf_prefixes: ["model.", ""],
    hf_conv1d: false,
    gguf_qk_permuted: true,
    token_embedding: Names { hf: "embed_tokens", gguf: "token_embd" },
    position_embedding: None,
    ln_1: Names { hf: "layers.{i}.input_layernorm", gguf: "blk.{i}.attn_norm" },
    qkv: QkvNames::Split([
        Names { hf: "layers.{i}.self_attn.q_proj", gguf: "blk.{i}.attn_q" },
        Names { hf: "layers.{i}.self_attn.k_proj", gguf: "blk.{i}.attn_k" },
        Names { hf: "layers.{i}.self_attn.v_proj", gguf: "blk.{i}.attn_v" },
    ]),
    o: Names { hf: "layers.{i}.self_attn.o_proj", gguf: "blk.{i}.attn_output" },
    ln_2: Names { hf: "layers.{i}.post_attention_layernorm", gguf: "blk.{i}.ffn_norm" },
    up: Names { hf: "layers.{i}.mlp.up_proj", gguf: "blk.{i}.ffn_up" },
    gate: Some(Names { hf: "layers.{i}.mlp.gate_proj", gguf: "blk.{i}.ffn_gate" }),
    down: Names { hf: "layers.{i}.mlp.down_proj", gguf: "blk.{i}.ffn_down" },
    ln_f: Names { hf: "norm", gguf: "output_norm" },
    unembedding: Names { hf: "lm_head", gguf: "output" },
    q_norm: None,
    k_norm: None,
    post_attn_norm: None,
    post_mlp_norm: None,
    hf_norm_plus_one: false,
};

/// Qwen2's names are Llama's; only llama.cpp's Llama converter permutes q and k.
pub const QWEN2_TENSORS: TensorNames = TensorNames { gguf_qk_permuted: false, ..TENSORS };

/// The `config.json` keys of a Llama-family checkpoint.
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
    hidden_act: Option<String>,
    rms_norm_eps: Option<f64>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    rope_theta: Option<f64>,
    rope_scaling: Option<Value>,
    rope_parameters: Option<Value>,
    use_sliding_window: Option<bool>,
    sliding_window: Option<Value>,
    pretraining_tp: Option<usize>,
}

pub fn config_from_hf(root: &Value, family: Family) -> Result<Config> {
    let raw: Raw = serde_json::from_value(root.clone()).map_err(|e| Error::Config(format!("a Llama-family config field has the wrong type: {e}")))?;
    // Qwen2 switches its window on with `use_sliding_window` (and writes a size either way);
    // Mistral writes a size, null when it attends to the whole context.
    let windowed = match family {
        Family::Qwen2 => raw.use_sliding_window == Some(true),
        _ => raw.use_sliding_window == Some(true) || raw.sliding_window.as_ref().is_some_and(|w| !w.is_null()),
    };
    if windowed {
        return Err(Error::Config(
            "a sliding window (use_sliding_window / sliding_window) is not supported for this family; this engine attends to the whole context".into(),
        ));
    }
    if raw.pretraining_tp.is_some_and(|tp| tp > 1) {
        return Err(Error::Config("pretraining_tp > 1 (sliced projections) is not supported; expected 1".into()));
    }
    // transformers 5 writes the RoPE settings as `rope_parameters`; older hub files write
    // `rope_theta` and `rope_scaling` at the top level.
    let params = raw.rope_parameters.as_ref().filter(|v| v.is_object());
    let theta = params.and_then(|p| p.get("rope_theta")).and_then(Value::as_f64).or(raw.rope_theta).unwrap_or(10000.0);
    if let Some(s) = params.or(raw.rope_scaling.as_ref().filter(|v| v.is_object())) {
        let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("default");
        if kind != "default" {
            return Err(Error::Config(format!("RoPE scaling \"{kind}\" is not supported; this engine implements the default RoPE (no scaling)")));
        }
    }
    let n_embd = need(raw.hidden_size, "hidden_size")?;
    let n_head = need(raw.num_attention_heads, "num_attention_heads")?;
    let attention_bias = raw.attention_bias.unwrap_or(false);
    let (bos_token_id, eos_token_ids) = hf_special_ids(root);
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
        embedding_scale: None,
        query_pre_attn_scalar: None,
        qk_norm: false,
        post_norms: false,
        sliding_window: None,
        layer_types: Vec::new(),
        rope_local_theta: None,
        defaulted: Vec::new(),
    })
}

pub fn config_from_gguf(k: &GgufKeys, c: Common, family: Family) -> Result<Config> {
    if let Some(kind) = k.opt_str("rope.scaling.type")? {
        if kind != "none" {
            return Err(gguf_error(format!("{} is \"{kind}\"; this engine implements the default RoPE (no scaling)", k.key("rope.scaling.type"))));
        }
    }
    Ok(Config {
        model_type: family,
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
        activation: Activation::Silu,
        gated_mlp: true,
        rope_theta: Some(k.opt_f32("rope.freq_base")?.unwrap_or(10000.0)),
        // Biases are where the converter found them.
        qkv_bias: k.has_tensor("blk.0.attn_q.bias"),
        o_bias: k.has_tensor("blk.0.attn_output.bias"),
        mlp_bias: k.has_tensor("blk.0.ffn_up.bias"),
        tie_word_embeddings: !k.has_tensor("output.weight"),
        bos_token_id: c.bos_token_id,
        eos_token_ids: c.eos_token_ids,
        embedding_scale: None,
        query_pre_attn_scalar: None,
        qk_norm: false,
        post_norms: false,
        sliding_window: None,
        layer_types: Vec::new(),
        rope_local_theta: None,
        defaulted: Vec::new(),
    })
}
