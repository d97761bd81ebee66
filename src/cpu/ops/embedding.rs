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

/// The gradient of [`embedding`] with respect to the table of `n_rows` rows: each row of
/// d_out added to the row of the table it was read from (a row read twice gets both).
pub fn embedding_backward(d_out: &Array2<f32>, rows: impl ExactSizeIterator<Item = usize>, n_rows: usize) -> Array2<f32> {
    let mut d = Array2::zeros((n_rows, d_out.ncols()));
    for (g, r) in d_out.rows().into_iter().zip(rows) {
        let mut row = d.row_mut(r);
        row += &g;
    }
    d
}

/// The gradients of [`unembed`] for upstream gradient dlogits [T, V]: (dx = dlogits · U,
/// dU = dlogitsᵀ · x). With a tied unembedding, dU adds to the token embedding's gradient.
pub fn unembed_backward(x: ArrayView2<f32>, u: &Array2<f32>, dlogits: ArrayView2<f32>) -> (Array2<f32>, Array2<f32>) {
    (matmul(dlogits, u.view()), matmul(dlogits.t(), x))
}
