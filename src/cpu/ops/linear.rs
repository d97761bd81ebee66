//! Linear layers and matrix products.

use crate::weights::{Linear, Matrix};
use ndarray::{Array2, ArrayView2};

/// x · W + b, with x [T, in] and W [in, out] (f32), or W [out, in] held in blocks: each
/// block dequantized (ggml's reference dequantization), then the same plain product in f32.
pub fn linear(x: &Array2<f32>, l: &Linear) -> Array2<f32> {
    let mut y = match &l.w {
        Matrix::F32(w) => matmul(x.view(), w.view()),
        blocks => matmul(x.view(), blocks.to_f32().t()),
    };
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

/// The gradients of [`linear`] for upstream gradient dy [T, out].
pub struct LinearGrads {
    /// dy · Wᵀ: [T, in].
    pub dx: Array2<f32>,
    /// xᵀ · dy: [in, out].
    pub dw: Array2<f32>,
    /// Σ_rows dy, when the layer has a bias.
    pub db: Option<ndarray::Array1<f32>>,
}

pub fn linear_backward(x: &Array2<f32>, l: &Linear, dy: &Array2<f32>) -> LinearGrads {
    LinearGrads { dx: matmul(dy.view(), l.in_out().t()), dw: matmul(x.t(), dy.view()), db: l.b.as_ref().map(|_| dy.sum_axis(ndarray::Axis(0))) }
}
