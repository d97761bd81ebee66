//! x · Wᵀ for few rows of x (a KV-cache step has one) and W held in ggml blocks: each row
//! of W is read once, as one sequential stream, a stretch of blocks at a time dequantized
//! into a buffer that stays in L1, and dotted with every row of x. (Many rows go through
//! the blocked SGEMM, which dequantizes while packing: `gemm::matmul_blocks`.)
//!
//! Per weight, a KV-cache step of a 4-bit model reads 5/8 of a byte instead of the 4 bytes
//! of f32, and spends a few vector operations turning it back into the f32 the file means.

use super::dot;
#[cfg(target_arch = "x86_64")]
use super::{simd_level, Simd};
use crate::matrix::Blocks;
use crate::quant;
use ndarray::{Array2, ArrayView2};

/// Values of W dequantized at a time: a whole number of blocks of every type (32 or 256).
const STRETCH: usize = 256;

multiversion! {
    /// out[i, j] = x[i] · W[j] for W the rows of `parts`, stacked.
    pub(super) fn rows_dot(x: ArrayView2<f32>, parts: &[Blocks], out: &mut Array2<f32>) => rows_dot_body
}

#[inline(always)]
fn rows_dot_body(x: ArrayView2<f32>, parts: &[Blocks], out: &mut Array2<f32>) {
    let x = x.as_standard_layout();
    let k = x.ncols();
    let xs: Vec<&[f32]> = x.rows().into_iter().map(|r| r.to_slice().expect("standard layout")).collect();
    let mut w = [0.0f32; STRETCH];
    let mut sums = vec![0.0f32; xs.len()];
    let mut j = 0;
    for p in parts {
        let (bs, ts) = (p.ty.block_size(), p.ty.type_size());
        for r in 0..p.rows {
            let row = p.row(r);
            sums.fill(0.0);
            for k0 in (0..k).step_by(STRETCH) {
                let n = STRETCH.min(k - k0);
                let w = &mut w[..n];
                quant::decode_blocks(p.ty, &row[k0 / bs * ts..(k0 + n) / bs * ts], w);
                for (s, xr) in sums.iter_mut().zip(&xs) {
                    *s += dot(&xr[k0..k0 + n], w);
                }
            }
            for (i, s) in sums.iter().enumerate() {
                out[[i, j]] = *s;
            }
            j += 1;
        }
    }
}
