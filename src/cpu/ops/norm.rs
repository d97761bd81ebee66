//! LayerNorm (GPT-2) and RMSNorm (Llama, Gemma; Gemma 3 also per attention head).

use crate::config::Norm;
use crate::weights::NormWeights;
use ndarray::{Array1, Array2, ArrayViewMut2};

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

/// RMSNorm of every `g.len()`-wide head of every row of x [T, heads·hd], in place, with the
/// one gain g [hd] (Gemma 3's QK-norm).
pub fn rms_norm_heads(mut x: ArrayViewMut2<f32>, g: &Array1<f32>, eps: f32) {
    let hd = g.len();
    for mut row in x.rows_mut() {
        for h in 0..row.len() / hd {
            let head: Vec<f32> = (0..hd).map(|c| row[h * hd + c]).collect();
            let inv = 1.0 / rms_scale(&head, eps);
            for c in 0..hd {
                row[h * hd + c] = g[c] * (head[c] * inv);
            }
        }
    }
}

/// The model's norm (LayerNorm or RMSNorm) with these weights.
pub fn norm(x: &Array2<f32>, w: &NormWeights, kind: Norm, eps: f32) -> Array2<f32> {
    match kind {
        Norm::LayerNorm => layer_norm(x, &w.g, w.b.as_ref().expect("the loaders give every LayerNorm a bias"), eps),
        Norm::RmsNorm => rms_norm(x, &w.g, eps),
    }
}
