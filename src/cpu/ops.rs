//! The reference ops: one plain function per op of the transformer, written for reading
//! rather than speed (loops over indices, sums in order, libm's `exp` and `tanh`). The fast
//! CPU kernels (`fast/`) and every GPU kernel are tested against these; the forward pass
//! built from the fast kernels is held to Hugging Face `transformers`.

use crate::config::{Activation, Norm};
use crate::weights::{Linear, NormWeights};
use ndarray::{Array1, Array2, ArrayView2};

/// x · W + b, with x [T, in] and W [in, out].
pub fn linear(x: &Array2<f32>, l: &Linear) -> Array2<f32> {
    let mut y = matmul(x.view(), l.w.view());
    if let Some(b) = &l.b {
        for mut row in y.rows_mut() {
            row += b;
        }
    }
    y
}

/// A · B for A [m, k] and B [k, n], each sum taken in order of k.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    assert_eq!(b.nrows(), k, "matmul inner dimensions");
    Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
}

/// LayerNorm of each row: (x − mean) / √(var + ε) · g + b, the variance around the mean.
pub fn layer_norm(x: &Array2<f32>, g: &Array1<f32>, b: &Array1<f32>, eps: f32) -> Array2<f32> {
    let mut out = x.to_owned();
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

/// √(mean(x²) + ε), the divisor RMSNorm applies to a row.
pub fn rms_scale(x: &[f32], eps: f32) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32 + eps).sqrt()
}

/// RMSNorm of each row: x / √(mean(x²) + ε) · g, in HF's order (normalise, then scale).
pub fn rms_norm(x: &Array2<f32>, g: &Array1<f32>, eps: f32) -> Array2<f32> {
    let mut out = x.to_owned();
    for mut row in out.rows_mut() {
        let inv = 1.0 / rms_scale(row.as_slice().expect("fresh array is contiguous"), eps);
        for (v, g) in row.iter_mut().zip(g) {
            *v = g * (*v * inv);
        }
    }
    out
}

/// The model's norm (LayerNorm or RMSNorm) with these weights.
pub fn norm(x: &Array2<f32>, w: &NormWeights, kind: Norm, eps: f32) -> Array2<f32> {
    match kind {
        Norm::LayerNorm => layer_norm(x, &w.g, w.b.as_ref().expect("the loaders give every LayerNorm a bias"), eps),
        Norm::RmsNorm => rms_norm(x, &w.g, eps),
    }
}

/// GPT-2's GELU, tanh form (HF `gelu_new`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
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

/// In-place softmax of one row, shifted by its maximum; −∞ entries become exactly 0.
pub fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum: f32 = row.iter().sum();
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

/// (sin, cos) of every angle RoPE uses for T tokens from `start`: [T, hd/2], the angle of
/// pair i at position p being p·inv_freq[i] (inv_freq as `Config::rope_inv_freq` computes it).
pub fn rope_angles(start: usize, t: usize, inv_freq: &[f32]) -> Vec<(f32, f32)> {
    (start..start + t).flat_map(|pos| inv_freq.iter().map(move |f| (pos as f32 * f).sin_cos())).collect()
}

/// RoPE, HF's rotate-half convention: in each head of x [T, heads·hd], the pair
/// (x[i], x[i + hd/2]) of the token at position start + t is rotated by the angle
/// (start + t)·inv_freq[i].
pub fn rope(x: &mut Array2<f32>, hd: usize, start: usize, inv_freq: &[f32]) {
    let half = hd / 2;
    let angles = rope_angles(start, x.nrows(), inv_freq);
    for (t, mut row) in x.rows_mut().into_iter().enumerate() {
        for h in 0..row.len() / hd {
            for i in 0..half {
                let (sin, cos) = angles[t * half + i];
                let (a, b) = (row[h * hd + i], row[h * hd + i + half]);
                row[h * hd + i] = a * cos - b * sin;
                row[h * hd + i + half] = b * cos + a * sin;
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
/// Query head h reads key/value head h / (H / Hkv) (grouped-query attention). `keep` asks
/// for the scores and the probabilities to be returned.
pub fn attention(
    q: ArrayView2<f32>,
    keys: ArrayView2<f32>,
    values: ArrayView2<f32>,
    start: usize,
    n_head: usize,
    n_kv_head: usize,
    keep: (bool, bool),
) -> AttentionOut {
    let (t, tk) = (q.nrows(), keys.nrows());
    let hd = q.ncols() / n_head;
    let group = n_head / n_kv_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut heads = Array2::zeros((t, n_head * hd));
    let (mut scores, mut probs) = (vec![0.0; n_head * t * tk], vec![0.0; n_head * t * tk]);
    for h in 0..n_head {
        let kv = h / group;
        for i in 0..t {
            let row = (h * t + i) * tk;
            // The token at position start + i sees keys 0..=start + i.
            let seen = (start + i + 1).min(tk);
            for j in 0..tk {
                scores[row + j] = if j < seen { (0..hd).map(|c| q[[i, h * hd + c]] * keys[[j, kv * hd + c]]).sum::<f32>() * scale } else { f32::NEG_INFINITY };
            }
            let p = &mut probs[row..row + tk];
            p.copy_from_slice(&scores[row..row + tk]);
            softmax(&mut p[..seen]);
            p[seen..].fill(0.0);
            for c in 0..hd {
                heads[[i, h * hd + c]] = (0..seen).map(|j| p[j] * values[[j, kv * hd + c]]).sum();
            }
        }
    }
    let kept = |v: Vec<f32>, k: bool| if k { v } else { Vec::new() };
    AttentionOut { heads, scores: kept(scores, keep.0), probs: kept(probs, keep.1) }
}

/// Logits x · Uᵀ for x [T, d] and the unembedding U [V, d].
pub fn unembed(x: ArrayView2<f32>, u: &Array2<f32>) -> Array2<f32> {
    matmul(x, u.t())
}

/// [T, n·hd] → [n, T, hd]: the layout of per-head tensors in the trace.
pub fn split_heads(x: ArrayView2<f32>, n: usize) -> Vec<f32> {
    let (t, w) = x.dim();
    let hd = w / n;
    let mut data = Vec::with_capacity(t * w);
    for h in 0..n {
        for i in 0..t {
            data.extend((0..hd).map(|c| x[[i, h * hd + c]]));
        }
    }
    data
}
