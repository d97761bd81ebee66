//! Learned parameters, in one layout for every architecture. The loaders (`hf.rs`,
//! `from_gguf.rs`) fill it through each architecture's tensor names (`arch/`).
//!
//! Weight matrices are held as the file stores them where the engine has kernels that
//! read that form ([`Matrix`]): ggml blocks (quantized, F16, BF16) stay in the file's bytes,
//! [out, in]; f32 linear weights are held as `[in, out]` (GPT-2's Conv1D layout), so
//! `x · W + b` needs no transpose, and nn.Linear's f32 `[out, in]` is transposed on load.
//! The query, key and value projections are one fused projection for both families (GPT-2
//! stores it so; Llama's three are stacked), so attention starts with one matmul. Norms and
//! biases are f32. Activations and sums are f32 either way.

use crate::config::{Config, Norm as NormKind};
use crate::error::{Error, Result};
pub use crate::matrix::{Blocks, Bytes, Matrix};
use ndarray::{concatenate, s, Array1, Array2, Axis};
use serde::Serialize;

/// Reports loading progress: (layers done, layers in all).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// How the weights were stored in the file they came from, and how they are held in memory.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Storage {
    /// "safetensors" or "gguf".
    pub format: &'static str,
    /// Tensor types and how many tensors of each, most common first, e.g. [("Q4_1", 210),
    /// ("F32", 61), ("Q8_0", 1)].
    pub types: Vec<(String, usize)>,
    /// How the weight matrices are held in memory, for people, e.g. "Q4_1 blocks (Q8_0
    /// token embedding)" (see [`Weights::held`]).
    pub held: String,
    /// Bytes the learned parameters take in memory.
    pub held_bytes: u64,
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
        Storage { format, types, held: String::new(), held_bytes: 0 }
    }

    /// With how `w` holds the weights.
    pub fn holding(mut self, w: &Weights) -> Storage {
        (self.held, self.held_bytes) = w.held(&self.types);
        self
    }
}

/// `x · w + b`: `w` is [in, out] when f32, [out, in] when blocks ([`Matrix`]).
#[derive(Clone)]
pub struct Linear {
    pub w: Matrix,
    pub b: Option<Array1<f32>>,
}

impl Linear {
    /// An f32 layer from W [in, out].
    pub fn f32(w: Array2<f32>, b: Option<Array1<f32>>) -> Linear {
        Linear { w: Matrix::F32(w), b }
    }

    /// Inputs (`in`).
    pub fn n_in(&self) -> usize {
        match &self.w {
            Matrix::F32(w) => w.nrows(),
            m => m.cols(),
        }
    }

    /// Outputs (`out`).
    pub fn n_out(&self) -> usize {
        match &self.w {
            Matrix::F32(w) => w.ncols(),
            m => m.rows(),
        }
    }

    /// W as f32 [in, out]: the held array, or the blocks dequantized (and transposed), for
    /// the instruments that read a few of its rows and for the reference op.
    pub fn in_out(&self) -> std::borrow::Cow<'_, Array2<f32>> {
        match &self.w {
            Matrix::F32(w) => std::borrow::Cow::Borrowed(w),
            m => std::borrow::Cow::Owned(transpose(m.to_f32())),
        }
    }
}

/// A norm's gain, and its bias for LayerNorm (RMSNorm has none).
#[derive(Clone)]
pub struct NormWeights {
    pub g: Array1<f32>,
    pub b: Option<Array1<f32>>,
}

#[derive(Clone)]
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

#[derive(Clone)]
pub struct Weights {
    /// Token embedding table [vocab_size, d].
    pub wte: Matrix,
    /// Learned position table [n_positions, d]; None when position enters through RoPE.
    pub wpe: Option<Matrix>,
    pub layers: Vec<LayerWeights>,
    pub ln_f: NormWeights,
    /// Unembedding [vocab_size, d] when untied; None means logits use `wte`.
    pub lm_head: Option<Matrix>,
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
    pub fn unembedding(&self) -> &Matrix {
        self.lm_head.as_ref().unwrap_or(&self.wte)
    }

    /// Every linear layer's weight matrix, in order.
    fn layer_matrices(&self) -> impl Iterator<Item = &Matrix> {
        self.layers.iter().flat_map(|l| [Some(&l.qkv), Some(&l.o), Some(&l.up), l.gate.as_ref(), Some(&l.down)].into_iter().flatten().map(|x| &x.w))
    }

    /// How the weights are held, for people, and the bytes they take: the layers' types by
    /// the bytes they take, then the tables held otherwise, e.g. "Q4_1 blocks (Q8_0 token
    /// embedding)", "Q4_K, Q6_K blocks", "F16", "f32"; `file_types` (the file's tensor
    /// types) adds which were dequantized to f32 on load.
    pub fn held(&self, file_types: &[(String, usize)]) -> (String, u64) {
        let name = |ty: &str| match ty {
            "F32" => "f32".to_string(),
            "F16" | "BF16" => ty.to_string(),
            q => format!("{q} blocks"),
        };
        let describe = |m: &Matrix| -> Vec<&'static str> {
            let mut t = m.types();
            t.dedup();
            t
        };
        let mut by_type: Vec<(&str, usize)> = Vec::new();
        for m in self.layer_matrices() {
            let types = m.types();
            for (t, part) in types.iter().zip(match m {
                Matrix::Blocks(p) => p.iter().map(|b| b.data().len()).collect::<Vec<_>>(),
                Matrix::F32(a) => vec![4 * a.len()],
            }) {
                match by_type.iter_mut().find(|(x, _)| x == t) {
                    Some(e) => e.1 += part,
                    None => by_type.push((t, part)),
                }
            }
        }
        by_type.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let main: Vec<&str> = by_type.iter().map(|x| x.0).collect();
        let quantized: Vec<&str> = main.iter().copied().filter(|t| !matches!(*t, "F32" | "F16" | "BF16")).collect();
        let mut text = if quantized.len() == main.len() && !main.is_empty() {
            format!("{} blocks", main.join(", "))
        } else {
            main.iter().map(|t| name(t)).collect::<Vec<_>>().join(", ")
        };
        let tables = [("token embedding", Some(&self.wte)), ("position embedding", self.wpe.as_ref()), ("unembedding", self.lm_head.as_ref())];
        let odd: Vec<String> = tables
            .iter()
            .filter_map(|(what, m)| m.map(|m| (what, describe(m))))
            .filter(|(_, t)| t.iter().any(|t| !main.contains(t)))
            .map(|(what, t)| format!("{} {what}", t.iter().map(|t| if t.starts_with('Q') { t.to_string() } else { name(t) }).collect::<Vec<_>>().join(", ")))
            .collect();
        if !odd.is_empty() {
            text = format!("{text} ({})", odd.join(", "));
        }
        let widened: Vec<&str> = file_types.iter().map(|(t, _)| t.as_str()).filter(|t| matches!(*t, "Q2_K" | "Q3_K")).collect();
        if !widened.is_empty() {
            text = format!("{text}; {} dequantized to f32 on load", widened.join(", "));
        }
        let vectors = |n: &NormWeights| 4 * (n.g.len() + n.b.as_ref().map_or(0, |b| b.len()));
        let bias = |l: &Linear| 4 * l.b.as_ref().map_or(0, |b| b.len());
        let mut bytes: usize = self.layer_matrices().map(Matrix::bytes).sum();
        bytes += tables.iter().filter_map(|(_, m)| m.map(Matrix::bytes)).sum::<usize>();
        bytes += vectors(&self.ln_f);
        for l in &self.layers {
            bytes += vectors(&l.ln_1) + vectors(&l.ln_2) + bias(&l.qkv) + bias(&l.o) + bias(&l.up) + l.gate.as_ref().map_or(0, bias) + bias(&l.down);
        }
        (text, bytes as u64)
    }

    /// The same weights with every matrix dequantized to f32, as the engine held them before
    /// blocks stayed in memory: the baseline `llm-xray bench --f32` times against.
    pub fn dequantized(&self) -> Weights {
        let lin = |l: &Linear| Linear::f32(l.in_out().into_owned(), l.b.clone());
        let table = |m: &Matrix| Matrix::F32(m.to_f32());
        let mut w = self.clone();
        for l in &mut w.layers {
            l.qkv = lin(&l.qkv);
            l.o = lin(&l.o);
            l.up = lin(&l.up);
            l.gate = l.gate.as_ref().map(lin);
            l.down = lin(&l.down);
        }
        w.wte = table(&self.wte);
        w.wpe = self.wpe.as_ref().map(table);
        w.lm_head = self.lm_head.as_ref().map(table);
        w
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
/// (as both file formats store them) with its bias if it has one, as one projection: their
/// blocks stacked when all three are held in blocks (nothing is copied), else one f32
/// [in, q + 2·kv] matrix.
pub fn fuse_qkv(parts: [(Matrix, Option<Array1<f32>>); 3]) -> Linear {
    let b = match [&parts[0].1, &parts[1].1, &parts[2].1] {
        [Some(a), Some(b), Some(c)] => Some(concatenate(Axis(0), &[a.view(), b.view(), c.view()]).expect("1-D")),
        _ => None,
    };
    if parts.iter().all(|(w, _)| matches!(w, Matrix::Blocks(_))) {
        let stacked = parts
            .into_iter()
            .flat_map(|(w, _)| match w {
                Matrix::Blocks(p) => p,
                Matrix::F32(_) => unreachable!("all three are blocks"),
            })
            .collect();
        return Linear { w: Matrix::Blocks(stacked), b };
    }
    let ws = parts.map(|(w, _)| match w {
        Matrix::F32(a) => a,
        m => m.to_f32(),
    });
    Linear::f32(stack_transposed(ws), b)
}

/// Three f32 [out, in] matrices sharing `in`, as one [in, Σ out].
fn stack_transposed(parts: [Array2<f32>; 3]) -> Array2<f32> {
    let d = parts[0].ncols();
    let n = parts.iter().map(|w| w.nrows()).sum();
    // Each part is transposed straight into its columns: one copy, into the row-major
    // layout every matmul here wants. The loaders checked that the parts share `d`.
    let mut w = Array2::zeros((d, n));
    let mut at = 0;
    for p in &parts {
        w.slice_mut(s![.., at..at + p.nrows()]).assign(&p.t());
        at += p.nrows();
    }
    w
}
