//! A trained model as the files of a Hugging Face GPT-2 folder, in f32: `config.json` and
//! `model.safetensors` (tensor names as `GPT2LMHeadModel.save_pretrained` writes them). The
//! bytes are made here, on any platform; the CLI writes them to disk (the page could offer
//! them as downloads). The caller adds the tokenizer's `tokenizer.json`.

use super::params::Layout;
use crate::config::Activation;
use crate::error::{Error, Result};
use crate::model::{CONFIG_FILE, WEIGHTS_FILE};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::json;

/// `config.json` of a GPT-2 of `layout`.
pub fn config_json(layout: &Layout) -> String {
    let c = &layout.config;
    let activation = match c.activation {
        Activation::GeluNew => "gelu_new",
        Activation::Relu => "relu",
        Activation::Silu => "silu",
    };
    let v = json!({
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": c.vocab_size,
        "n_positions": c.n_positions,
        "n_ctx": c.n_positions,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": if c.n_inner == 4 * c.n_embd { serde_json::Value::Null } else { json!(c.n_inner) },
        "activation_function": activation,
        "layer_norm_epsilon": c.layer_norm_epsilon,
        "tie_word_embeddings": layout.lm_head.is_none(),
        "initializer_range": 0.02,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": true,
        "bos_token_id": c.bos_token_id.unwrap_or(0),
        "eos_token_id": c.eos_token_ids.first().copied().unwrap_or(0),
        "torch_dtype": "float32",
        "dtype": "float32"
    });
    serde_json::to_string_pretty(&v).expect("a JSON value serialises") + "\n"
}

/// `model.safetensors` holding `params` (a buffer of `layout`) in f32.
pub fn safetensors_bytes(layout: &Layout, params: &[f32]) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = layout
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = if Some(i) == layout.lm_head { s.name.clone() } else { format!("transformer.{}", s.name) };
            let data: Vec<u8> = layout.get(params, i).iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, s.shape.clone(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            Ok((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), data).map_err(|e| Error::Weights(format!("tensor \"{name}\": {e}")))?))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Weights(format!("cannot serialise the trained weights: {e}")))
}

/// The folder's files but the tokenizer's: (file name, bytes).
pub fn hf_files(layout: &Layout, params: &[f32]) -> Result<Vec<(&'static str, Vec<u8>)>> {
    Ok(vec![(WEIGHTS_FILE, safetensors_bytes(layout, params)?), (CONFIG_FILE, config_json(layout).into_bytes())])
}
