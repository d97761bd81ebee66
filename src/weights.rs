//! Learned parameters, in one layout for every architecture, and the loader from Hugging
//! Face's `model.safetensors` (GPT-2 and Llama names). GGUF files map onto the same layout
//! in `from_gguf.rs`.
//!
//! Linear layers are stored as `[in, out]` (GPT-2's Conv1D layout), so `x · W + b` needs no
//! transpose; nn.Linear weights (`[out, in]`, Llama) are transposed on load. The query, key
//! and value projections are one fused `[d, q_width + 2·kv_width]` matrix for both families
//! (GPT-2 stores it so; Llama's three are concatenated), so attention starts with one
//! matmul. Every tensor is converted to f32 on load, since both backends compute in f32.

use crate::config::{Config, Family, Norm as NormKind};
use crate::error::{Error, Result};
use crate::quant::{self, GgmlType};
use ndarray::{concatenate, s, Array1, Array2, Axis};
use safetensors::{Dtype, SafeTensors};
use serde::Serialize;

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
    /// Attention output projection: [q_width, d].
    pub o: Linear,
    /// The norm before the MLP (GPT-2 `ln_2`, Llama `post_attention_layernorm`).
    pub ln_2: NormWeights,
    /// MLP input projection [d, n_inner] (GPT-2 `c_fc`, Llama `up_proj`).
    pub up: Linear,
    /// The gate of a gated MLP [d, n_inner] (Llama `gate_proj`).
    pub gate: Option<Linear>,
    /// MLP output projection [n_inner, d].
    pub down: Linear,
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

struct Reader<'a> {
    st: SafeTensors<'a>,
    /// Prefixes tried in order: HF writes GPT2LMHeadModel keys as `transformer.h.0…` and
    /// GPT2Model keys as `h.0…`; LlamaForCausalLM as `model.layers.0…`, LlamaModel bare.
    prefixes: [&'static str; 2],
}

impl<'a> Reader<'a> {
    fn find(&self, name: &str) -> Option<safetensors::tensor::TensorView<'a>> {
        self.prefixes.iter().find_map(|p| self.st.tensor(&format!("{p}{name}")).ok())
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self.find(name).ok_or_else(|| {
            Error::Weights(format!(
                "tensor \"{name}\" (or \"{}{name}\") is missing; expected shape {shape:?}",
                self.prefixes[0]
            ))
        })?;
        if t.shape() != shape {
            return Err(Error::Weights(format!(
                "tensor \"{name}\" has shape {:?}; expected {shape:?} from config.json",
                t.shape()
            )));
        }
        let ty = match t.dtype() {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            other => {
                return Err(Error::Weights(format!(
                    "tensor \"{name}\" has dtype {other:?}; expected F32, F16 or BF16"
                )))
            }
        };
        // safetensors checked the data's length against shape and dtype, so this cannot fail;
        // it is reported all the same rather than trusted.
        let values = quant::dequantize(ty, t.data(), shape.iter().product()).map_err(|e| {
            Error::Weights(format!("tensor \"{name}\": {}", e.to_string().trim_start_matches("GGUF: ")))
        })?;
        check_finite(name, &values, Error::Weights)?;
        Ok(values)
    }

    fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn vec(&self, name: &str, n: usize) -> Result<Array1<f32>> {
        Ok(Array1::from_vec(self.read(name, &[n])?))
    }

    fn mat(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>> {
        let v = self.read(name, &[rows, cols])?;
        Ok(Array2::from_shape_vec((rows, cols), v).expect("length checked against shape"))
    }
}

impl Weights {
    pub fn from_safetensors(bytes: &[u8], cfg: &Config, progress: crate::model::Progress) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Weights(format!("not a valid safetensors file ({e}); expected an 8-byte header length, a JSON header and the tensor data it describes")))?;
        match cfg.model_type {
            Family::Gpt2 => Self::gpt2(Reader { st, prefixes: ["transformer.", ""] }, cfg, progress),
            Family::Llama | Family::Qwen2 => Self::llama(Reader { st, prefixes: ["model.", ""] }, cfg, progress),
        }
    }

    fn gpt2(r: Reader, cfg: &Config, progress: crate::model::Progress) -> Result<Self> {
        let (d, inner, v, p) = (cfg.n_embd, cfg.n_inner, cfg.vocab_size, cfg.n_positions);
        let linear = |name: &str, i: usize, o: usize| -> Result<Linear> {
            Ok(Linear { w: r.mat(&format!("{name}.weight"), i, o)?, b: Some(r.vec(&format!("{name}.bias"), o)?) })
        };
        let norm = |name: &str| -> Result<NormWeights> {
            Ok(NormWeights { g: r.vec(&format!("{name}.weight"), d)?, b: Some(r.vec(&format!("{name}.bias"), d)?) })
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("h.{i}.{s}");
            layers.push(LayerWeights {
                ln_1: norm(&n("ln_1"))?,
                qkv: linear(&n("attn.c_attn"), d, 3 * d)?,
                o: linear(&n("attn.c_proj"), d, d)?,
                ln_2: norm(&n("ln_2"))?,
                up: linear(&n("mlp.c_fc"), d, inner)?,
                gate: None,
                down: linear(&n("mlp.c_proj"), inner, d)?,
            });
            progress(i + 1, cfg.n_layer);
        }
        // `lm_head.weight` never carries the `transformer.` prefix; absent means tied to wte.
        let lm_head = match r.st.tensor("lm_head.weight") {
            Ok(_) => Some(r.mat("lm_head.weight", v, d)?),
            Err(_) => None,
        };
        Ok(Weights { wte: r.mat("wte.weight", v, d)?, wpe: Some(r.mat("wpe.weight", p, d)?), layers, ln_f: norm("ln_f")?, lm_head })
    }

    fn llama(r: Reader, cfg: &Config, progress: crate::model::Progress) -> Result<Self> {
        let (d, f, v) = (cfg.n_embd, cfg.n_inner, cfg.vocab_size);
        let (qw, kvw) = (cfg.q_width(), cfg.kv_width());
        // nn.Linear weights as the file stores them, [out, in], with their biases.
        let rows = |name: &str, out: usize, inp: usize, bias: bool| -> Result<(Array2<f32>, Option<Array1<f32>>)> {
            let w = r.mat(&format!("{name}.weight"), out, inp)?;
            let b = if bias { Some(r.vec(&format!("{name}.bias"), out)?) } else { None };
            Ok((w, b))
        };
        let linear = |name: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
            let (w, b) = rows(name, out, inp, bias)?;
            Ok(Linear { w: transpose(w), b })
        };
        let norm = |name: &str| -> Result<NormWeights> { Ok(NormWeights { g: r.vec(&format!("{name}.weight"), d)?, b: None }) };
        if !r.has("embed_tokens.weight") && r.has("wte.weight") {
            return Err(Error::Weights("holds GPT-2 tensor names (wte.weight), but config.json describes a Llama-family model".into()));
        }
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("layers.{i}.{s}");
            let qkv = fuse_qkv([
                rows(&n("self_attn.q_proj"), qw, d, cfg.qkv_bias)?,
                rows(&n("self_attn.k_proj"), kvw, d, cfg.qkv_bias)?,
                rows(&n("self_attn.v_proj"), kvw, d, cfg.qkv_bias)?,
            ]);
            layers.push(LayerWeights {
                ln_1: norm(&n("input_layernorm"))?,
                qkv,
                o: linear(&n("self_attn.o_proj"), d, qw, cfg.o_bias)?,
                ln_2: norm(&n("post_attention_layernorm"))?,
                up: linear(&n("mlp.up_proj"), f, d, cfg.mlp_bias)?,
                gate: Some(linear(&n("mlp.gate_proj"), f, d, cfg.mlp_bias)?),
                down: linear(&n("mlp.down_proj"), d, f, cfg.mlp_bias)?,
            });
            progress(i + 1, cfg.n_layer);
        }
        // `lm_head.weight` sits outside `model.`; a tied checkpoint may still carry a copy.
        let lm_head = match r.st.tensor("lm_head.weight") {
            Ok(_) if !cfg.tie_word_embeddings => Some(r.mat("lm_head.weight", v, d)?),
            Ok(_) => None,
            Err(_) if cfg.tie_word_embeddings => None,
            Err(_) => {
                return Err(Error::Weights(format!(
                    "tensor \"lm_head.weight\" is missing; expected shape [{v}, {d}] (config.json says tie_word_embeddings is false)"
                )))
            }
        };
        Ok(Weights { wte: r.mat("embed_tokens.weight", v, d)?, wpe: None, layers, ln_f: norm("norm")?, lm_head })
    }

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
            (norms, l(&|w| nrm(&w.ln_1) + nrm(&w.ln_2)) + nrm(&self.ln_f)),
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
