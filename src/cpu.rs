//! The CPU backend: the reference forward pass, written to be read next to the GPT-2 paper.
//! Every other backend is held to agree with this one, and this one with HF `transformers`.
//!
//! Matmul route, chosen by measurement (one run, 2-core x86-64, GFLOP/s, see README):
//! shape T×in×out      matrixmultiply  gemm 0.19  row-axpy loop
//! 128×768×2304              54.8         43.5        20.0
//! 128×3072×768              64.4         42.3        14.8
//! 16×768×2304               38.1         38.1        14.6
//! 1×768×3072                 1.9         14.0        14.6
//! ndarray's `dot` (matrixmultiply's blocked SGEMM) wins from a few rows up, and it also has
//! a wasm32 simd128 kernel (the browser build enables simd128), where `gemm` has none. For
//! one or a few rows (every KV-cache step) its packing of W dominates, so those rows take a
//! plain loop over W's rows instead, which the compiler vectorises and which reads W once.

use crate::backend::Backend;
use crate::clock::now_ms;
use crate::config::Activation;
use crate::error::Result;
use crate::model::Model;
use crate::trace::{LayerTrace, Part, Parts, Tensor, Trace};
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use std::sync::Arc;

/// Keys and values of every token already in the context, per layer, as rows [Tk, d]
/// (head h owns columns h·hd .. (h+1)·hd).
struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    bytes_len: usize,
}

pub struct CpuBackend {
    model: Arc<Model>,
    cache: KvCache,
}

impl CpuBackend {
    pub fn new(model: Arc<Model>) -> Self {
        let n = model.config.n_layer;
        CpuBackend { model, cache: KvCache { k: vec![Vec::new(); n], v: vec![Vec::new(); n], len: 0, bytes_len: 0 } }
    }
}

pub fn layer_norm(x: &Array2<f32>, g: &Array1<f32>, b: &Array1<f32>, eps: f32) -> Array2<f32> {
    let mut out = x.clone();
    for mut row in out.rows_mut() {
        let n = row.len() as f32;
        let mean = row.sum() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
            *v = (*v - mean) * inv * g + b;
        }
    }
    out
}

/// GPT-2's GELU, tanh form (HF `gelu_new`).
pub fn gelu_new(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
}

fn activate(a: Activation, x: f32) -> f32 {
    match a {
        Activation::GeluNew => gelu_new(x),
        Activation::Relu => x.max(0.0),
    }
}

/// In-place softmax of one row; −∞ entries become exactly 0.
pub fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Below this many rows, the row loop beats SGEMM (table above).
const SMALL_T: usize = 4;

/// x · W + b, with x [T, in] and W [in, out] (HF's Conv1D layout).
fn linear(x: &Array2<f32>, w: &Array2<f32>, b: &Array1<f32>) -> Array2<f32> {
    if x.nrows() > SMALL_T {
        return x.dot(w) + b;
    }
    let mut out = Array2::from_shape_fn((x.nrows(), w.ncols()), |(_, j)| b[j]);
    for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
        let o = or.as_slice_mut().expect("fresh array is contiguous");
        for (xi, wr) in xr.iter().zip(w.rows()) {
            let wr = wr.to_slice().expect("weights are contiguous");
            for (o, w) in o.iter_mut().zip(wr) {
                *o += xi * w;
            }
        }
    }
    out
}

/// Dot product with eight partial sums, so the compiler can keep them in one SIMD register
/// (a single running sum has to be added in order and does not vectorise).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Logits x · Uᵀ for x [T, d] and the unembedding U [V, d].
fn unembed(x: ArrayView2<f32>, u: &Array2<f32>) -> Array2<f32> {
    if x.nrows() > SMALL_T {
        return x.dot(&u.t());
    }
    let u = u.as_slice().expect("weights are contiguous");
    let d = x.ncols();
    let mut out = Array2::zeros((x.nrows(), u.len() / d));
    for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
        let xr = xr.to_vec();
        for (o, ur) in or.iter_mut().zip(u.chunks_exact(d)) {
            *o = dot(&xr, ur);
        }
    }
    out
}

fn tensor2(a: &Array2<f32>) -> Tensor {
    Tensor::new(a.shape().to_vec(), a.iter().copied().collect())
}

/// [T, d] → [H, T, hd]: the layout of per-head tensors in the trace.
fn split_heads(x: ArrayView2<f32>, n_head: usize) -> Tensor {
    let (t, d) = x.dim();
    let hd = d / n_head;
    let mut data = Vec::with_capacity(t * d);
    for h in 0..n_head {
        data.extend(x.slice(s![.., h * hd..(h + 1) * hd]).iter());
    }
    Tensor::new(vec![n_head, t, hd], data)
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        "CPU (ndarray reference)".into()
    }

    fn model(&self) -> &Arc<Model> {
        &self.model
    }

    fn context_len(&self) -> usize {
        self.cache.len
    }

    fn reset(&mut self) {
        let c = &mut self.cache;
        c.k.iter_mut().chain(c.v.iter_mut()).for_each(Vec::clear);
        c.len = 0;
        c.bytes_len = 0;
    }

    fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        let started = now_ms();
        let m = &*self.model;
        m.check_ids(ids, self.cache.len)?;
        let cfg = &m.config;
        let w = &m.weights;
        let (t, d, nh) = (ids.len(), cfg.n_embd, cfg.n_head);
        let hd = cfg.head_dim();
        let start = self.cache.len;
        let tk = start + t;
        let rec = |p: Part| parts.has(p);

        let tok_emb = Array2::from_shape_fn((t, d), |(i, j)| w.wte[[ids[i] as usize, j]]);
        let pos_emb = w.wpe.slice(s![start..tk, ..]).to_owned();
        let mut x = &tok_emb + &pos_emb;

        let mut layers = Vec::with_capacity(cfg.n_layer);
        let scale = 1.0 / (hd as f32).sqrt();
        for (l, lw) in w.layers.iter().enumerate() {
            let mut lt = LayerTrace::default();
            let ln_1 = layer_norm(&x, &lw.ln_1_g, &lw.ln_1_b, cfg.layer_norm_epsilon);
            let qkv = linear(&ln_1, &lw.c_attn_w, &lw.c_attn_b);
            let q = qkv.slice(s![.., 0..d]);
            self.cache.k[l].extend(qkv.slice(s![.., d..2 * d]).iter());
            self.cache.v[l].extend(qkv.slice(s![.., 2 * d..3 * d]).iter());
            let keys = ArrayView2::from_shape((tk, d), &self.cache.k[l][..]).expect("cache rows are [Tk, d]");
            let values = ArrayView2::from_shape((tk, d), &self.cache.v[l][..]).expect("cache rows are [Tk, d]");

            let mut scores_all = Vec::with_capacity(if rec(Part::AttnScores) { nh * t * tk } else { 0 });
            let mut probs_all = Vec::with_capacity(if rec(Part::AttnProbs) { nh * t * tk } else { 0 });
            let mut heads_out = Array2::<f32>::zeros((t, d));
            for h in 0..nh {
                let cols = s![.., h * hd..(h + 1) * hd];
                let mut scores = q.slice(cols).dot(&keys.slice(cols).t()) * scale;
                // Causal mask: the token at position start+i sees keys 0..=start+i only.
                for (i, mut row) in scores.rows_mut().into_iter().enumerate() {
                    row.slice_mut(s![start + i + 1..]).fill(f32::NEG_INFINITY);
                }
                if rec(Part::AttnScores) {
                    scores_all.extend(scores.iter());
                }
                for mut row in scores.rows_mut() {
                    softmax(row.as_slice_mut().expect("fresh array is contiguous"));
                }
                if rec(Part::AttnProbs) {
                    probs_all.extend(scores.iter());
                }
                heads_out.slice_mut(cols).assign(&scores.dot(&values.slice(cols)));
            }
            let attn_out = linear(&heads_out, &lw.attn_proj_w, &lw.attn_proj_b);
            let resid_mid = &x + &attn_out;
            let ln_2 = layer_norm(&resid_mid, &lw.ln_2_g, &lw.ln_2_b, cfg.layer_norm_epsilon);
            let mlp_pre = linear(&ln_2, &lw.fc_w, &lw.fc_b);
            let mlp_post = mlp_pre.mapv(|v| activate(cfg.activation, v));
            let mlp_out = linear(&mlp_post, &lw.mlp_proj_w, &lw.mlp_proj_b);
            x = &resid_mid + &mlp_out;

            let keep = |p: Part, a: &Array2<f32>| rec(p).then(|| tensor2(a));
            lt.ln_1 = keep(Part::Ln1, &ln_1);
            lt.q = rec(Part::Q).then(|| split_heads(q, nh));
            lt.k = rec(Part::K).then(|| split_heads(qkv.slice(s![.., d..2 * d]), nh));
            lt.v = rec(Part::V).then(|| split_heads(qkv.slice(s![.., 2 * d..3 * d]), nh));
            lt.attention_scores = rec(Part::AttnScores).then(|| Tensor::new(vec![nh, t, tk], scores_all));
            lt.attentions = rec(Part::AttnProbs).then(|| Tensor::new(vec![nh, t, tk], probs_all));
            lt.attention_output = keep(Part::AttnOut, &attn_out);
            lt.residual_after_attention = keep(Part::ResidMid, &resid_mid);
            lt.ln_2 = keep(Part::Ln2, &ln_2);
            lt.mlp_pre_activation = keep(Part::MlpPre, &mlp_pre);
            lt.mlp_activation = keep(Part::MlpPost, &mlp_post);
            lt.mlp_output = keep(Part::MlpOut, &mlp_out);
            lt.residual_after_mlp = keep(Part::ResidPost, &x);
            layers.push(lt);
        }

        let ln_f = layer_norm(&x, &w.ln_f_g, &w.ln_f_b, cfg.layer_norm_epsilon);
        let all_rows = rec(Part::Logits) || rec(Part::Probs);
        let rows = if all_rows { ln_f.view() } else { ln_f.slice(s![t - 1.., ..]) };
        let logits = unembed(rows, w.unembedding());
        let next_logits = logits.index_axis(Axis(0), logits.nrows() - 1).to_vec();
        let probabilities = rec(Part::Probs).then(|| {
            let mut p = logits.clone();
            for mut row in p.rows_mut() {
                softmax(row.as_slice_mut().expect("fresh array is contiguous"));
            }
            tensor2(&p)
        });

        let tokens = m.token_infos(ids, self.cache.bytes_len);
        self.cache.len = tk;
        self.cache.bytes_len = tokens.last().map_or(self.cache.bytes_len, |t| t.span.1);
        Ok(Trace {
            tokens,
            start_position: start,
            token_embeddings: rec(Part::TokEmb).then(|| tensor2(&tok_emb)),
            position_embeddings: rec(Part::PosEmb).then(|| tensor2(&pos_emb)),
            layers,
            ln_f: rec(Part::LnF).then(|| tensor2(&ln_f)),
            logits: rec(Part::Logits).then(|| tensor2(&logits)),
            probabilities,
            next_logits,
            elapsed_ms: now_ms() - started,
        })
    }
}

