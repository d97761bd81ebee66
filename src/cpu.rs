//! The CPU backend: the reference forward pass, written to be read next to the GPT-2 and
//! Llama papers. Every other backend is held to agree with this one, and this one with HF
//! `transformers`. Each op is one public function here; the GPU kernel tests compare each
//! kernel with the same function.
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

use crate::backend::Ablation;
use crate::clock::now_ms;
use crate::config::{Activation, Config, Norm};
use crate::error::Result;
use crate::model::Model;
use crate::trace::{Dims, Part, Parts, Recorder, Trace};
use crate::weights::{Linear, NormWeights};
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use std::sync::Arc;

/// x · W + b, with x [T, in] and W [in, out].
pub fn linear(x: &Array2<f32>, l: &Linear) -> Array2<f32> {
    let mut out = if x.nrows() > SMALL_T { x.dot(&l.w) } else { rows_times(x.view(), &l.w) };
    if let Some(b) = &l.b {
        out += b;
    }
    out
}

/// Below this many rows, the row loop beats SGEMM (table above).
const SMALL_T: usize = 4;

/// x · W for few rows: each row of W is read once and added, scaled, into the output row.
fn rows_times(x: ArrayView2<f32>, w: &Array2<f32>) -> Array2<f32> {
    let mut out = Array2::zeros((x.nrows(), w.ncols()));
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

/// LayerNorm of each row: (x − mean) / √(var + ε) · g + b, the variance around the mean
/// (two passes, so a large mean cannot cancel the variance away).
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

/// RMSNorm of each row: x / √(mean(x²) + ε) · g, in HF's order (normalise, then scale).
pub fn rms_norm(x: &Array2<f32>, g: &Array1<f32>, eps: f32) -> Array2<f32> {
    let mut out = x.clone();
    for mut row in out.rows_mut() {
        let inv = 1.0 / (rms_scale(row.as_slice().expect("fresh array is contiguous"), eps));
        for (v, g) in row.iter_mut().zip(g) {
            *v = g * (*v * inv);
        }
    }
    out
}

/// √(mean(x²) + ε), the divisor RMSNorm applies to a row.
pub fn rms_scale(x: &[f32], eps: f32) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32 + eps).sqrt()
}

/// The model's norm (LayerNorm or RMSNorm) with these weights.
pub fn norm(x: &Array2<f32>, w: &NormWeights, kind: Norm, eps: f32) -> Array2<f32> {
    match (kind, &w.b) {
        (Norm::LayerNorm, Some(b)) => layer_norm(x, &w.g, b, eps),
        (Norm::LayerNorm, None) => layer_norm(x, &w.g, &Array1::zeros(w.g.len()), eps),
        (Norm::RmsNorm, _) => rms_norm(x, &w.g, eps),
    }
}

/// GPT-2's GELU, tanh form (HF `gelu_new`).
pub fn gelu_new(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
}

/// x·sigmoid(x) (HF `silu`).
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

pub fn activate(a: Activation, x: f32) -> f32 {
    match a {
        Activation::GeluNew => gelu_new(x),
        Activation::Relu => x.max(0.0),
        Activation::Silu => silu(x),
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

/// Rows `rows` of an embedding table.
pub fn embedding(table: &Array2<f32>, rows: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
    let mut out = Array2::zeros((rows.len(), table.ncols()));
    for (mut o, r) in out.rows_mut().into_iter().zip(rows) {
        o.assign(&table.row(r));
    }
    out
}

/// RoPE, HF's rotate-half convention: in each head of x [T, heads·hd], the pair
/// (x[i], x[i + hd/2]) of the token at position start + t is rotated by the angle
/// (start + t)·inv_freq[i].
pub fn rope(x: &mut Array2<f32>, hd: usize, start: usize, inv_freq: &[f32]) {
    let half = hd / 2;
    for (t, mut row) in x.rows_mut().into_iter().enumerate() {
        let pos = (start + t) as f32;
        let row = row.as_slice_mut().expect("fresh array is contiguous");
        for head in row.chunks_exact_mut(hd) {
            for (i, f) in inv_freq.iter().enumerate() {
                let (sin, cos) = (pos * f).sin_cos();
                let (a, b) = (head[i], head[i + half]);
                head[i] = a * cos - b * sin;
                head[i + half] = b * cos + a * sin;
            }
        }
    }
}

/// What causal attention computes for T new queries.
pub struct AttentionOut {
    /// Each head's probability-weighted sum of values, side by side: [T, H·hd].
    pub heads: Array2<f32>,
    /// Scores q·k/√hd with the causal mask (−∞), [H, T, Tk]; empty unless asked for.
    pub scores: Vec<f32>,
    /// Softmax of the scores, [H, T, Tk]; empty unless asked for.
    pub probs: Vec<f32>,
}

/// Causal attention of queries q [T, H·hd] for the tokens at positions start.. over keys
/// and values [Tk, Hkv·hd] of the whole context (the KV cache, these tokens included).
/// Query head h reads key/value head h / (H / Hkv) (grouped-query attention).
pub fn attention(q: ArrayView2<f32>, keys: ArrayView2<f32>, values: ArrayView2<f32>, start: usize, n_head: usize, n_kv_head: usize, keep: (bool, bool)) -> AttentionOut {
    let (t, tk) = (q.nrows(), keys.nrows());
    let hd = q.ncols() / n_head;
    let group = n_head / n_kv_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = AttentionOut { heads: Array2::zeros((t, n_head * hd)), scores: Vec::new(), probs: Vec::new() };
    for h in 0..n_head {
        let qc = s![.., h * hd..(h + 1) * hd];
        let kc = s![.., (h / group) * hd..(h / group + 1) * hd];
        let mut scores = q.slice(qc).dot(&keys.slice(kc).t()) * scale;
        // Causal mask: the token at position start+i sees keys 0..=start+i only.
        for (i, mut row) in scores.rows_mut().into_iter().enumerate() {
            row.slice_mut(s![(start + i + 1).min(tk)..]).fill(f32::NEG_INFINITY);
        }
        if keep.0 {
            out.scores.extend(scores.iter());
        }
        for mut row in scores.rows_mut() {
            softmax(row.as_slice_mut().expect("fresh array is contiguous"));
        }
        if keep.1 {
            out.probs.extend(scores.iter());
        }
        out.heads.slice_mut(qc).assign(&scores.dot(&values.slice(kc)));
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
pub fn unembed(x: ArrayView2<f32>, u: &Array2<f32>) -> Array2<f32> {
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

/// [T, n·hd] → [n, T, hd]: the layout of per-head tensors in the trace.
pub fn split_heads(x: ArrayView2<f32>, n: usize) -> Vec<f32> {
    let (t, w) = x.dim();
    let hd = w / n;
    let mut data = Vec::with_capacity(t * w);
    for h in 0..n {
        data.extend(x.slice(s![.., h * hd..(h + 1) * hd]).iter());
    }
    data
}

fn flat(a: &Array2<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

/// Keys and values of every token already in the context, per layer, as rows [Tk, kv_width]
/// (key/value head j owns columns j·hd .. (j+1)·hd). Llama's keys are stored rotated.
#[derive(Default)]
struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

pub struct CpuBackend {
    model: Arc<Model>,
    cache: KvCache,
    /// The context's token ids (what the cache holds).
    ids: Vec<u32>,
    ablation: Ablation,
}

impl CpuBackend {
    pub fn new(model: Arc<Model>) -> Self {
        let n = model.config.n_layer;
        CpuBackend { model, cache: KvCache { k: vec![Vec::new(); n], v: vec![Vec::new(); n] }, ids: Vec::new(), ablation: Ablation::default() }
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Tokens currently in the context (the KV cache).
    pub fn context(&self) -> &[u32] {
        &self.ids
    }

    pub fn context_len(&self) -> usize {
        self.ids.len()
    }

    /// Keeps the first `n` tokens of the context: their keys and values stay valid, since
    /// attention is causal.
    pub fn truncate(&mut self, n: usize) {
        let w = self.model.config.kv_width();
        self.ids.truncate(n);
        let c = &mut self.cache;
        c.k.iter_mut().chain(c.v.iter_mut()).for_each(|x| x.truncate(n * w));
    }

    /// Empties the context.
    pub fn reset(&mut self) {
        self.truncate(0)
    }

    /// Heads to ablate from now on; the context is emptied, since its cached keys and values
    /// were computed without it.
    pub fn set_ablation(&mut self, a: Ablation) {
        self.ablation = a;
        self.reset();
    }

    /// A fresh run of a whole prompt (the context is emptied first).
    pub fn trace(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.reset();
        self.run(ids, parts)
    }

    /// Runs `ids` after the tokens already in the context and records `parts`: a fresh
    /// prompt and a one-token step are the same call.
    pub fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        let started = now_ms();
        let model = self.model.clone();
        let (m, start) = (&*model, self.ids.len());
        m.check_ids(ids, start)?;
        let (cfg, w) = (&m.config, &m.weights);
        let t = ids.len();
        let mut rec = Recorder::new(cfg, parts, Dims::new(cfg, start, t));
        let eps = cfg.layer_norm_epsilon;
        let inv_freq = cfg.rope_inv_freq();

        let tok_emb = embedding(&w.wte, ids.iter().map(|&i| i as usize));
        rec.put(None, Part::TokEmb, || flat(&tok_emb));
        let mut x = match &w.wpe {
            Some(wpe) => {
                let pos_emb = embedding(wpe, start..start + t);
                rec.put(None, Part::PosEmb, || flat(&pos_emb));
                &tok_emb + &pos_emb
            }
            None => tok_emb,
        };

        for (l, lw) in w.layers.iter().enumerate() {
            let at = Some(l);
            let h = norm(&x, &lw.ln_1, cfg.norm, eps);
            rec.put(at, Part::Ln1, || flat(&h));

            let qkv = linear(&h, &lw.qkv);
            let (qw, kvw) = (cfg.q_width(), cfg.kv_width());
            let mut q = qkv.slice(s![.., ..qw]).to_owned();
            let mut k = qkv.slice(s![.., qw..qw + kvw]).to_owned();
            let v = qkv.slice(s![.., qw + kvw..]);
            rec.put(at, Part::Q, || split_heads(q.view(), cfg.n_head));
            rec.put(at, Part::K, || split_heads(k.view(), cfg.n_kv_head));
            rec.put(at, Part::V, || split_heads(v, cfg.n_kv_head));
            if cfg.rope_theta.is_some() {
                rope(&mut q, cfg.head_dim, start, &inv_freq);
                rope(&mut k, cfg.head_dim, start, &inv_freq);
                rec.put(at, Part::QRot, || split_heads(q.view(), cfg.n_head));
                rec.put(at, Part::KRot, || split_heads(k.view(), cfg.n_kv_head));
            }
            self.cache.k[l].extend(k.iter());
            self.cache.v[l].extend(v.iter());
            let keys = ArrayView2::from_shape((start + t, kvw), &self.cache.k[l][..]).expect("cache rows are [Tk, kv_width]");
            let values = ArrayView2::from_shape((start + t, kvw), &self.cache.v[l][..]).expect("cache rows are [Tk, kv_width]");

            let keep = (rec.wants(Part::AttnScores), rec.wants(Part::AttnProbs));
            let mut a = attention(q.view(), keys, values, start, cfg.n_head, cfg.n_kv_head, keep);
            rec.put(at, Part::AttnScores, || std::mem::take(&mut a.scores));
            rec.put(at, Part::AttnProbs, || std::mem::take(&mut a.probs));
            self.ablation.apply(l, &mut a.heads, cfg.head_dim);
            rec.put(at, Part::HeadOutputs, || flat(&a.heads));
            let attn_out = linear(&a.heads, &lw.o);
            rec.put(at, Part::AttnOut, || flat(&attn_out));
            x += &attn_out;
            rec.put(at, Part::ResidMid, || flat(&x));

            let h = norm(&x, &lw.ln_2, cfg.norm, eps);
            rec.put(at, Part::Ln2, || flat(&h));
            let hidden = mlp_hidden(cfg, lw, &h, &mut rec, l);
            let mlp_out = linear(&hidden, &lw.down);
            rec.put(at, Part::MlpOut, || flat(&mlp_out));
            x += &mlp_out;
            rec.put(at, Part::ResidPost, || flat(&x));
        }

        let ln_f = norm(&x, &w.ln_f, cfg.norm, eps);
        rec.put(None, Part::LnF, || flat(&ln_f));
        let all_rows = rec.wants(Part::Logits) || rec.wants(Part::Probs);
        let rows = if all_rows { ln_f.view() } else { ln_f.slice(s![t - 1.., ..]) };
        let logits = unembed(rows, w.unembedding());
        let next_logits = logits.index_axis(Axis(0), logits.nrows() - 1).to_vec();
        rec.put(None, Part::Probs, || {
            let mut p = flat(&logits);
            p.chunks_mut(cfg.vocab_size).for_each(softmax);
            p
        });
        rec.put(None, Part::Logits, || logits.into_raw_vec_and_offset().0);

        let tokens = m.token_infos(ids, m.tokenizer.bytes_len(&self.ids));
        self.ids.extend_from_slice(ids);
        Ok(rec.finish(tokens, start, next_logits, now_ms() - started))
    }
}

/// The MLP's hidden neurons for input h (after ln_2): act(h·W_in) for a plain MLP, or
/// act(h·W_gate) ⊙ h·W_up for a gated one; the input of the down projection.
fn mlp_hidden(cfg: &Config, lw: &crate::weights::LayerWeights, h: &Array2<f32>, rec: &mut Recorder, l: usize) -> Array2<f32> {
    let at = Some(l);
    let up = linear(h, &lw.up);
    match &lw.gate {
        None => {
            rec.put(at, Part::MlpPre, || flat(&up));
            let act = up.mapv(|v| activate(cfg.activation, v));
            rec.put(at, Part::MlpPost, || flat(&act));
            act
        }
        Some(gate) => {
            let g = linear(h, gate);
            rec.put(at, Part::MlpGate, || flat(&g));
            rec.put(at, Part::MlpUp, || flat(&up));
            let mut act = g.mapv(|v| activate(cfg.activation, v));
            act *= &up;
            rec.put(at, Part::MlpPost, || flat(&act));
            act
        }
    }
}
