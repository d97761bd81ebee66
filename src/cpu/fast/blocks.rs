//! x · Wᵀ for few rows of x (a KV-cache step has one) and W held in ggml blocks: each row
//! of W is read once, as one sequential stream, a block at a time dequantized in SIMD
//! registers (`dequant.rs`) and multiplied into running sums for every row of x; types
//! without a SIMD path go a stretch of blocks at a time through a buffer that stays in L1.
//! (Many rows go through the blocked SGEMM, which dequantizes while packing:
//! `gemm::matmul_blocks`.)
//!
//! Per weight, a KV-cache step of a 4-bit model reads 5/8 of a byte instead of the 4 bytes
//! of f32, and spends a few vector operations turning it back into the f32 the file means.

use super::dequant::{self, ROWS};
use super::dot;
#[cfg(target_arch = "x86_64")]
use super::{simd_level, Simd};
use crate::matrix::Blocks;
use crate::quant;
use ndarray::{Array2, ArrayView2};

/// Values of W dequantized at a time by the portable path: a whole number of blocks of
/// every type (32 or 256).
const STRETCH: usize = 256;

/// out[i, j] = x[i] · W[j] for W the rows of `parts`, stacked, and at most four rows of x.
pub(super) fn rows_dot(x: ArrayView2<f32>, parts: &[Blocks], out: &mut Array2<f32>) {
    #[cfg(target_arch = "x86_64")]
    if simd_level() != Simd::Base {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(x: ArrayView2<f32>, parts: &[Blocks], out: &mut Array2<f32>) {
            rows_dot_body::<true>(x, parts, out)
        }
        // SAFETY: the CPU has AVX2 and FMA (simd_level checked).
        return unsafe { avx2(x, parts, out) };
    }
    // SAFETY: no SIMD beyond the build's own.
    unsafe { rows_dot_body::<false>(x, parts, out) }
}

/// # Safety
/// With AVX2, the CPU must have AVX2.
#[inline(always)]
unsafe fn rows_dot_body<const AVX2: bool>(x: ArrayView2<f32>, parts: &[Blocks], out: &mut Array2<f32>) {
    assert!(x.nrows() <= ROWS, "the few-row path takes at most {ROWS} rows");
    let x = x.as_standard_layout();
    let k = x.ncols();
    let xs: Vec<&[f32]> = x.rows().into_iter().map(|r| r.to_slice().expect("standard layout")).collect();
    let mut w = [0.0f32; STRETCH];
    let mut j = 0;
    for p in parts {
        let (bs, ts) = (p.ty.block_size(), p.ty.type_size());
        for r in 0..p.rows {
            let row = p.row(r);
            if dequant::has_simd(p.ty) {
                let mut sums = [0.0f32; ROWS];
                dequant::dot_rows::<AVX2>(p.ty, row, &xs, &mut sums);
                for (i, s) in sums.iter().take(xs.len()).enumerate() {
                    out[[i, j]] = *s;
                }
            } else {
                let mut sums = [0.0f32; ROWS];
                for k0 in (0..k).step_by(STRETCH) {
                    let n = STRETCH.min(k - k0);
                    let w = &mut w[..n];
                    quant::decode_blocks(p.ty, &row[k0 / bs * ts..(k0 + n) / bs * ts], w);
                    for (s, xr) in sums.iter_mut().zip(&xs) {
                        *s += dot(&xr[k0..k0 + n], w);
                    }
                }
                for (i, s) in sums.iter().take(xs.len()).enumerate() {
                    out[[i, j]] = *s;
                }
            }
            j += 1;
        }
    }
}
