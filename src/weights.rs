//! Learned parameters of a GPT-2 model, read from Hugging Face's `model.safetensors`.
//!
//! Linear layers keep HF's Conv1D layout, [in, out], so `x · W + b` needs no transpose.
//! Every tensor is converted to f32 on load (f16 and bf16 files are accepted), since both
//! backends compute in f32.

use crate::config::Config;
use crate::error::{Error, Result};
use ndarray::{Array1, Array2};
use safetensors::{Dtype, SafeTensors};
use serde::Serialize;

pub struct LayerWeights {
    pub ln_1_g: Array1<f32>,
    pub ln_1_b: Array1<f32>,
    /// Query, key and value projections side by side: [d, 3d].
    pub c_attn_w: Array2<f32>,
    pub c_attn_b: Array1<f32>,
    /// Attention output projection: [d, d].
    pub attn_proj_w: Array2<f32>,
    pub attn_proj_b: Array1<f32>,
    pub ln_2_g: Array1<f32>,
    pub ln_2_b: Array1<f32>,
    /// MLP up-projection: [d, n_inner].
    pub fc_w: Array2<f32>,
    pub fc_b: Array1<f32>,
    /// MLP down-projection: [n_inner, d].
    pub mlp_proj_w: Array2<f32>,
    pub mlp_proj_b: Array1<f32>,
}

pub struct Weights {
    /// Token embedding table [vocab_size, d].
    pub wte: Array2<f32>,
    /// Position embedding table [n_positions, d].
    pub wpe: Array2<f32>,
    pub layers: Vec<LayerWeights>,
    pub ln_f_g: Array1<f32>,
    pub ln_f_b: Array1<f32>,
    /// Unembedding [vocab_size, d] when untied; None means logits use `wte`.
    pub lm_head: Option<Array2<f32>>,
}

/// Learned-parameter count of one component of the model, for model cards and the page.
#[derive(Debug, Clone, Serialize)]
pub struct ParamCount {
    pub component: String,
    pub count: usize,
}

struct Reader<'a> {
    st: SafeTensors<'a>,
}

impl<'a> Reader<'a> {
    /// HF writes GPT2LMHeadModel keys as `transformer.h.0…` and GPT2Model keys as `h.0…`.
    fn find(&self, name: &str) -> Option<safetensors::tensor::TensorView<'a>> {
        self.st.tensor(&format!("transformer.{name}")).or_else(|_| self.st.tensor(name)).ok()
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self.find(name).ok_or_else(|| {
            Error::Weights(format!("tensor \"{name}\" (or \"transformer.{name}\") is missing; expected shape {shape:?}"))
        })?;
        if t.shape() != shape {
            return Err(Error::Weights(format!(
                "tensor \"{name}\" has shape {:?}; expected {shape:?} from config.json",
                t.shape()
            )));
        }
        let data = t.data();
        let values: Vec<f32> = match t.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => data.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::BF16 => data.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            other => {
                return Err(Error::Weights(format!(
                    "tensor \"{name}\" has dtype {other:?}; expected F32, F16 or BF16"
                )))
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Weights(format!("tensor \"{name}\" holds a non-finite value at flat index {i}")));
        }
        Ok(values)
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
    pub fn from_safetensors(bytes: &[u8], cfg: &Config) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Weights(format!("not a valid safetensors file ({e}); expected an 8-byte header length, a JSON header and the tensor data it describes")))?;
        let r = Reader { st };
        let (d, inner, v, p) = (cfg.n_embd, cfg.n_inner, cfg.vocab_size, cfg.n_positions);
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("h.{i}.{s}");
            layers.push(LayerWeights {
                ln_1_g: r.vec(&n("ln_1.weight"), d)?,
                ln_1_b: r.vec(&n("ln_1.bias"), d)?,
                c_attn_w: r.mat(&n("attn.c_attn.weight"), d, 3 * d)?,
                c_attn_b: r.vec(&n("attn.c_attn.bias"), 3 * d)?,
                attn_proj_w: r.mat(&n("attn.c_proj.weight"), d, d)?,
                attn_proj_b: r.vec(&n("attn.c_proj.bias"), d)?,
                ln_2_g: r.vec(&n("ln_2.weight"), d)?,
                ln_2_b: r.vec(&n("ln_2.bias"), d)?,
                fc_w: r.mat(&n("mlp.c_fc.weight"), d, inner)?,
                fc_b: r.vec(&n("mlp.c_fc.bias"), inner)?,
                mlp_proj_w: r.mat(&n("mlp.c_proj.weight"), inner, d)?,
                mlp_proj_b: r.vec(&n("mlp.c_proj.bias"), d)?,
            });
        }
        // `lm_head.weight` never carries the `transformer.` prefix; absent means tied to wte.
        let lm_head = match r.st.tensor("lm_head.weight") {
            Ok(_) => Some(r.mat("lm_head.weight", v, d)?),
            Err(_) => None,
        };
        Ok(Weights {
            wte: r.mat("wte.weight", v, d)?,
            wpe: r.mat("wpe.weight", p, d)?,
            layers,
            ln_f_g: r.vec("ln_f.weight", d)?,
            ln_f_b: r.vec("ln_f.bias", d)?,
            lm_head,
        })
    }

    /// The matrix that turns the final residual into logits: [vocab_size, d].
    pub fn unembedding(&self) -> &Array2<f32> {
        self.lm_head.as_ref().unwrap_or(&self.wte)
    }

    pub fn param_counts(&self) -> Vec<ParamCount> {
        let l = |f: &dyn Fn(&LayerWeights) -> usize| self.layers.iter().map(f).sum::<usize>();
        let mut out = vec![
            ("token embedding (wte)", self.wte.len()),
            ("position embedding (wpe)", self.wpe.len()),
            ("attention (q, k, v, output)", l(&|w| w.c_attn_w.len() + w.c_attn_b.len() + w.attn_proj_w.len() + w.attn_proj_b.len())),
            ("MLP", l(&|w| w.fc_w.len() + w.fc_b.len() + w.mlp_proj_w.len() + w.mlp_proj_b.len())),
            ("layer norms", l(&|w| 2 * w.ln_1_g.len() + 2 * w.ln_2_g.len()) + 2 * self.ln_f_g.len()),
        ];
        if let Some(h) = &self.lm_head {
            out.push(("unembedding (lm_head, untied)", h.len()));
        }
        out.into_iter().map(|(c, n)| ParamCount { component: c.to_string(), count: n }).collect()
    }
}
