//! The residual stream's addition: each block adds its output to what flows past it.

use ndarray::Array2;

/// x + y, elementwise: a block's output added to the residual stream.
pub fn residual_add(x: &Array2<f32>, y: &Array2<f32>) -> Array2<f32> {
    x + y
}

/// The gradients of `residual_add` with respect to x and to y: the upstream gradient,
/// unchanged, to each (the stream carries a block's gradient past it untouched).
pub fn residual_add_backward(dy: &Array2<f32>) -> (Array2<f32>, Array2<f32>) {
    (dy.clone(), dy.clone())
}
