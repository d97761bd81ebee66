//! Learned parameters, in one layout for every architecture. The loaders (`hf.rs`,
//! `from_gguf.rs`) fill it through each architecture's tensor names (`arch/`).
//!
//! Linear layers are stored as `[in, out]` (GPT-2's Conv1D layout), so `x · W + b` needs no
//! transpose; nn.Linear weights (`[out, in]`, Llama) are transposed on load. The query, key
//! and value projections are one fused `[d, q_width + 2·kv_width]` matrix for both families
//! (GPT-2 stores it so; Llama's three are concatenated), so attention starts with one
//! matmul. Every tensor is converted to f32 on load, since both backends compute in f32.

use crate::config::{Config, Norm as NormKind};
use crate::error::{Error, Result};
use ndarray::{concatenate, s, Array1, Array2, Axis};
use serde::Serialize;

/// Reports loading progress: (layers done, layers in all).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// How the weights were stored in the file they came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Storage {
    /// "safetensors" or "gguf".
    pub format: &'static str,
    /// Tensor types and how many tensors of each, most common first, e.g. [("Q4_1", 210),
    /// ("F32", 61), ("Q8_0", 1)]. Every type is dequantized to f32 on load.
    pub types: Vec<(String, usize)>,
}

impl Storage {
    pub fn new(format: &'static str, names: impl IntoIterator<Item = String>) -> Storage {
        let mut types: Vec<(String, usize)> = Vec::new();
        for n in names {
            match types.iter_mut().find(|(t, _)| *t == n) {
                Some(e) => e.1 += 1,
                None => types.push((n, 1)),
            }
        }
        types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Storage { format, types }
    }
}

/// `x · w + b` with `w` [in, out].
pub struct Linear {
    pub w: Array2<f32>,
    pub b: Option<Array1<f32>>,
}

/// A norm's gain, and its bias for LayerNorm (RMSNorm has none).
pub struct NormWeights {
    pub g: Array1<f32>,
    pub b: Option<Array1<f32>>,
}

pub struct LayerWeights {
    /// The norm before attention (GPT-2 `ln_1`, Llama `input_layernorm`).
    pub ln_1: NormWeights,
    /// q | k | v projections side by side: [d, q_width + 2·kv_width].
    pub qkv: Linear,
    /// Gemma 3's QK-norm gains [head_dim], applied to every query head and every key head.
    pub q_norm: Option<Array1<f32>>,
    pub k_norm: Option<Array1<f32>>,
    /// Attention output projection: [q_width, d].
    pub o: Linear,
    /// Gemma's norm of the attention output, before it is added to the residual stream
    /// (HF `post_attention_layernorm`, GGUF `post_attention_norm`).
    pub post_attn_norm: Option<NormWeights>,
    /// The norm before the MLP (GPT-2 `ln_2`, Llama `post_attention_layernorm`, Gemma
    /// `pre_feedforward_layernorm`).
    pub ln_2: NormWeights,
    /// MLP input projection [d, n_inner] (GPT-2 `c_fc`, Llama `up_proj`).
    pub up: Linear,
    /// The gate of a gated MLP [d, n_inner] (Llama `gate_proj`).
    pub gate: Option<Linear>,
    /// MLP output projection [n_inner, d].
    pub down: Linear,
    /// Gemma's norm of the MLP output, before it is added to the residual stream (HF
    /// `post_feedforward_layernorm`, GGUF `post_ffw_norm`).
    pub post_mlp_norm: Option<NormWeights>,
}

pub struct Weights {
    /// Token embedding table [vocab_size, d].
    pub wte: Array2<f32>,
    /// Learned position table [n_positions, d]; None when position enters through RoPE.
    pub wpe: Option<Array2<f32>>,
    pub layers: Vec<LayerWeights>,
    pub ln_f: NormWeights,
    /// Unembedding [vocab_size, d] when untied; None means logits use `wte`.
    pub lm_head: Option<Array2<f32>>,
}

/// Learned-parameter count of one component of the model, for model cards and the page.
#[derive(Debug, Clone, Serialize)]
pub struct ParamCount {
    pub component: String,
    pub count: usize,
}

/// Checks a tensor's values before they enter the model: a NaN in a weight would silently
/// poison every activation.
pub fn check_finite(name: &str, values: &[f32], file: fn(String) -> Error) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(file(format!("tensor \"{name}\" holds a non-finite value at flat index {i}"))),
        None => Ok(()),
    }
}

impl Weights {
    /// The matrix that turns the final residual into logits: [vocab_size, d].
    pub fn unembedding(&self) -> &Array2<f32> {
        self.lm_head.as_ref().unwrap_or(&self.wte)
    }

    pub fn param_counts(&self, cfg: &Config) -> Vec<ParamCount> {
        let l = |f: &dyn Fn(&LayerWeights) -> usize| self.layers.iter().map(f).sum::<usize>();
        let lin = |x: &Linear| x.w.len() + x.b.as_ref().map_or(0, |b| b.len());
        let nrm = |x: &NormWeights| x.g.len() + x.b.as_ref().map_or(0, |b| b.len());
        let norms = if cfg.norm == NormKind::RmsNorm { "RMSNorm gains" } else { "layer norms" };
        let mut out = vec![("token embedding", self.wte.len())];
        if let Some(p) = &self.wpe {
            out.push(("position embedding", p.len()));
        }
        out.extend([
            ("attention (q, k, v, output)", l(&|w| lin(&w.qkv) + lin(&w.o))),
            ("MLP", l(&|w| lin(&w.up) + w.gate.as_ref().map_or(0, lin) + lin(&w.down))),
            (
                norms,
                l(&|w| {
                    let opt = |n: &Option<NormWeights>| n.as_ref().map_or(0, nrm);
                    let head = |g: &Option<Array1<f32>>| g.as_ref().map_or(0, |g| g.len());
                    nrm(&w.ln_1) + nrm(&w.ln_2) + opt(&w.post_attn_norm) + opt(&w.post_mlp_norm) + head(&w.q_norm) + head(&w.k_norm)
                }) + nrm(&self.ln_f),
            ),
        ]);
        if let Some(h) = &self.lm_head {
            out.push(("unembedding (untied)", h.len()));
        }
        out.into_iter().map(|(c, n)| ParamCount { component: c.to_string(), count: n }).collect()
    }
}

/// An nn.Linear weight [out, in] as a row-major [in, out].
pub fn transpose(w: Array2<f32>) -> Array2<f32> {
    w.reversed_axes().as_standard_layout().into_owned()
}

/// The q, k and v projections of a Llama-family model, each an nn.Linear weight [out, in]
/// (as both file formats store them) with its bias if it has one, as one [in, q + 2·kv]
/// projection.
pub fn fuse_qkv(parts: [(Array2<f32>, Option<Array1<f32>>); 3]) -> Linear {
    let d = parts[0].0.ncols();
    let n = parts.iter().map(|(w, _)| w.nrows()).sum();
    // Each part is transposed straight into its columns: one copy, into the row-major
    // layout every matmul here wants. The loaders checked that the parts share `d`.
    let mut w = Array2::zeros((d, n));
    let mut at = 0;
    for (p, _) in &parts {
        w.slice_mut(s![.., at..at + p.nrows()]).assign(&p.t());
        at += p.nrows();
    }
    let b = match parts.map(|(_, b)| b) {
        [Some(a), Some(b), Some(c)] => Some(concatenate(Axis(0), &[a.view(), b.view(), c.view()]).expect("1-D")),
        _ => None,
    };
    Linear { w, b }
}
