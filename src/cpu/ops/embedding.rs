//! Embedding lookups, the unembedding, and the per-head layout of the trace.

use super::matmul;
use crate::weights::Matrix;
use ndarray::{Array2, ArrayView2};

/// Rows `rows` of an embedding table (dequantized, when held in blocks).
pub fn embedding(table: &Matrix, rows: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
    table.gather(rows)
}

/// Logits x · Uᵀ for x [T, d] and the unembedding U [V, d] (dequantized, when held in
/// blocks).
pub fn unembed(x: ArrayView2<f32>, u: &Matrix) -> Array2<f32> {
    match u {
        Matrix::F32(u) => matmul(x, u.t()),
        blocks => matmul(x, blocks.to_f32().t()),
    }
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
