//! GPT-2 (Radford et al. 2019), as Hugging Face's `GPT2LMHeadModel` and llama.cpp's `gpt2`
//! GGUF files store it.
//!
//! The block: x += attn(LayerNorm₁(x)); x += MLP(LayerNorm₂(x)), where attention is causal
//! multi-head attention with one fused q|k|v projection and MLP(h) = GELU(h·W_fc + b)·W_proj + b
//! (the tanh form of GELU). Position enters as a learned table added to the token embedding;
//! every projection and norm has a bias; the unembedding is the token-embedding table (tied)
//! unless a checkpoint carries its own.

use super::{hf_special_ids, need, Common, GgufKeys, Names, QkvNames, TensorNames};
use crate::config::{Activation, Config, Family, Norm};
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

pub const TENSORS: TensorNames = TensorNames {
    hf_prefixes: ["transformer.", ""],
    hf_conv1d: true,
    gguf_qk_permuted: false,
    token_embedding: Names { hf: "wte", gguf: "token_embd" },
    position_embedding: Some(Names { hf: "wpe", gguf: "position_embd" }),
    ln_1: Names { hf: "h.{i}.ln_1", gguf: "blk.{i}.attn_norm" },
    qkv: QkvNames::Fused(Names { hf: "h.{i}.attn.c_attn", gguf: "blk.{i}.attn_qkv" }),
    o: Names { hf: "h.{i}.attn.c_proj", gguf: "blk.{i}.attn_output" },
    ln_2: Names { hf: "h.{i}.ln_2", gguf: "blk.{i}.ffn_norm" },
    up: Names { hf: "h.{i}.mlp.c_fc", gguf: "blk.{i}.ffn_up" },
    gate: None,
    down: Names { hf: "h.{i}.mlp.c_proj", gguf: "blk.{i}.ffn_down" },
    ln_f: Names { hf: "ln_f", gguf: "output_norm" },
    unembedding: Names { hf: "lm_head", gguf: "output" },
    q_norm: None,
    k_norm: None,
    post_attn_norm: None,
    post_mlp_norm: None,
    hf_norm_plus_one: false,
};

/// The `config.json` keys of a GPT-2 checkpoint.
#[derive(Deserialize)]
struct Raw {
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

pub fn config_from_hf(root: &Value) -> Result<Config> {
    let raw: Raw = serde_json::from_value(root.clone()).map_err(|e| Error::Config(format!("a GPT-2 config field has the wrong type: {e}")))?;
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
    let (bos_token_id, eos_token_ids) = hf_special_ids(root);
    Ok(Config {
        n_positions: need(raw.n_positions.or(raw.n_ctx), "n_positions")?,
        n_layer: need(raw.n_layer, "n_layer")?,
        n_inner: raw.n_inner.unwrap_or(4 * n_embd),
        layer_norm_epsilon: raw.layer_norm_epsilon.unwrap_or(1e-5) as f32,
        activation: Activation::parse(raw.activation_function.as_deref().unwrap_or("gelu_new"), "activation_function")?,
        tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(true),
        ..scheme(need(raw.vocab_size, "vocab_size")?, n_embd, n_head, bos_token_id, eos_token_ids)
    })
}

pub fn config_from_gguf(k: &GgufKeys, c: Common) -> Result<Config> {
    Ok(Config {
        n_positions: c.n_positions,
        n_layer: c.n_layer,
        n_inner: c.n_inner,
        n_kv_head: c.n_kv_head,
        head_dim: c.head_dim,
        layer_norm_epsilon: k.f32("attention.layer_norm_epsilon")?,
        tie_word_embeddings: !k.has_tensor("output.weight"),
        ..scheme(c.vocab_size, c.n_embd, c.n_head, c.bos_token_id, c.eos_token_ids)
    })
}

/// GPT-2's fixed choices; the counts a file gives (or the trainer's shape) are filled in by
/// the caller.
pub fn scheme(vocab_size: usize, n_embd: usize, n_head: usize, bos_token_id: Option<u32>, eos_token_ids: Vec<u32>) -> Config {
    Config {
        model_type: Family::Gpt2,
        vocab_size,
        n_positions: 0,
        n_embd,
        n_layer: 0,
        n_head,
        n_kv_head: n_head,
        head_dim: n_embd.checked_div(n_head).unwrap_or(0),
        n_inner: 4 * n_embd,
        norm: Norm::LayerNorm,
        layer_norm_epsilon: 1e-5,
        activation: Activation::GeluNew,
        gated_mlp: false,
        rope_theta: None,
        qkv_bias: true,
        o_bias: true,
        mlp_bias: true,
        tie_word_embeddings: true,
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
    }
}
