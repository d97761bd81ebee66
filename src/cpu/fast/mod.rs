//! The CPU ops shaped for speed: the same ops as [`super::ops`], with the same signatures,
//! and held to them by tests (tests/cpu_fast.rs). The CPU backend is the path that runs
//! where WebGPU is missing, and it is held to be faster than PyTorch eager on one thread
//! with every part recorded (scripts/bench.sh), so each piece here was chosen by
//! measurement (1 thread, AMD EPYC Zen 5 shared with other work, GFLOP/s, best of 7):
//!
//! | matmul, m×k×n (ᵀ: B transposed)      | 128×128×384 | 128×128×4096ᵀ | 128×768×2304 | 16×768×2304 | 1×768×2304 |
//! | ------------------------------------ | ----------- | ------------- | ------------ | ----------- | ---------- |
//! | ndarray `dot` (matrixmultiply 0.3)   |         105 |           104 |          104 |          77 |        7.5 |
//! | `gemm` 0.19 (its AVX-512 kernels)    |         123 |           112 |          118 |         122 |          – |
//! | `matmul` here, AVX-512, 8×32 tiles   |         220 |           217 |          221 |         128 |         55 |
//! | `matmul` here, AVX2+FMA, 6×16 tiles  |         120 |           120 |          116 |          96 |         57 |
//! | `matmul` here, SSE2, 4×8 tiles       |          42 |            39 |           42 |          40 |         32 |
//!
//! (16 and 1 rows read GPT-2-small's weights from memory; 1 row is a KV-cache step, which
//! takes `rows_times`.) In the browser (wasm32 simd128, V8 as in node 20), the 4×8 tiles
//! ran 128×128×384 at 48 GFLOP/s against matrixmultiply's 38, and a 64-token trace of the
//! default model with every part recorded in 5.0–5.5 ms (17.7 ms with ndarray's `dot`).
//!
//! - **Matmul** (`gemm.rs`): one blocked SGEMM written as plain Rust over fixed-size arrays,
//!   which the compiler keeps in SIMD registers, compiled for AVX-512 and for AVX2+FMA
//!   (picked at run time: the binary targets plain x86-64) and for everything else (SSE2;
//!   wasm32 with simd128, which .cargo/config.toml enables for the browser build). `gemm`
//!   has no wasm SIMD; matrixmultiply has no AVX-512 kernel.
//! - **Elementwise maths**: `exp` is a polynomial that vectorises, where libm's `expf` and
//!   `tanhf` are one scalar call each (`tanhf` alone was 28% of a 128-token trace), and
//!   GELU's tanh is written in the equivalent logistic form, one `exp`.
//! - **The trace**: attention scores and probabilities are computed straight into the
//!   recorded tensors (and the forward pass moves tensors it no longer needs into the trace).
//!
//! Results differ from a plain triple loop only by float rounding: sums in another order,
//! fused multiply-adds where the CPU has them, `exp` within 1 ulp.

mod dequant;
mod gemm;

use super::ops::{seen_keys, AttentionOut, Scheme};
use crate::config::{Activation, Norm};
use crate::weights::{Linear, Matrix, NormWeights};
use gemm::{matmul, matmul_blocks, matmul_into};
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2};

// ---------------------------------------------------------------------------------------
// The ops, fast. Each has the signature of its reference in `ops.rs`.

/// x · W + b, with x [T, in] and W [in, out] (f32) or [out, in] (blocks, dequantized as
/// they are read).
pub fn linear(x: &Array2<f32>, l: &Linear) -> Array2<f32> {
    let bias = l.b.as_ref().map(|b| b.as_slice().expect("weights are contiguous"));
    let mut out = match &l.w {
        Matrix::F32(w) if x.nrows() > SMALL_T => return matmul(x.view(), w.view(), bias),
        Matrix::F32(w) => rows_times(x.view(), w),
        Matrix::Blocks(parts) if x.nrows() > SMALL_T => return matmul_blocks(x.view(), parts, bias),
        Matrix::Blocks(parts) => {
            let mut out = Array2::zeros((x.nrows(), l.n_out()));
            blocks::rows_dot(x.view(), parts, &mut out);
            out
        }
    };
    if let Some(b) = &l.b {
        out += b;
    }
    out
}

/// Up to this many rows (every KV-cache step), plain loops over the rows of W or U
/// (`rows_times`, `unembed_rows`), which read them as sequential streams, beat the blocked
/// matmul, which reads them strip by strip (measured: twice as fast for one row).
const SMALL_T: usize = 4;

/// LayerNorm of each row: (x − mean) / √(var + ε) · g + b, the variance around the mean
/// (two passes, so a large mean cannot cancel the variance away).
pub fn layer_norm(x: &Array2<f32>, g: &Array1<f32>, b: &Array1<f32>, eps: f32) -> Array2<f32> {
    let mut out = x.as_standard_layout().into_owned();
    let (g, b) = (g.as_slice().expect("weights are contiguous"), b.as_slice().expect("weights are contiguous"));
    for mut row in out.rows_mut() {
        layer_norm_row(row.as_slice_mut().expect("fresh array is contiguous"), g, b, eps);
    }
    out
}

/// RMSNorm of each row: x / √(mean(x²) + ε) · g, in HF's order (normalise, then scale).
pub fn rms_norm(x: &Array2<f32>, g: &Array1<f32>, eps: f32) -> Array2<f32> {
    let mut out = x.as_standard_layout().into_owned();
    let g = g.as_slice().expect("weights are contiguous");
    for mut row in out.rows_mut() {
        rms_norm_row(row.as_slice_mut().expect("fresh array is contiguous"), g, eps);
    }
    out
}

/// RMSNorm of every `g.len()`-wide head of every row of x [T, heads·hd], in place, with the
/// one gain g [hd] (Gemma 3's QK-norm).
pub fn rms_norm_heads(mut x: ArrayViewMut2<f32>, g: &Array1<f32>, eps: f32) {
    let g = g.as_slice().expect("weights are contiguous");
    for mut row in x.rows_mut() {
        for head in row.as_slice_mut().expect("rows are contiguous").chunks_exact_mut(g.len().max(1)) {
            rms_norm_row(head, g, eps);
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

/// GPT-2's GELU, tanh form (HF `gelu_new`): 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³),
/// computed as the identical x·σ(2u) = x / (1 + e^(−2u)): one `exp` instead of `tanh`, and no
/// cancellation in 1 + tanh(u) for large negative x.
#[inline(always)]
fn gelu_new(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    let u = C * (x + 0.044715 * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

/// x·sigmoid(x) (HF `silu`).
#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// In-place softmax of one row; −∞ entries become exactly 0.
pub fn softmax(row: &mut [f32]) {
    softmax_rows(row, row.len().max(1));
}

/// Causal attention of queries q [T, H·hd] for the tokens at positions start.. over keys
/// and values [Tk, Hkv·hd] of the whole context (the KV cache, these tokens included).
/// Query head h reads key/value head h / (H / Hkv) (grouped-query attention).
pub fn attention(
    q: ArrayView2<f32>,
    keys: ArrayView2<f32>,
    values: ArrayView2<f32>,
    start: usize,
    n_head: usize,
    n_kv_head: usize,
    keep: (bool, bool),
) -> AttentionOut {
    let scheme = Scheme { scale: 1.0 / ((q.ncols() / n_head) as f32).sqrt(), window: None };
    attention_with(q, keys, values, start, (n_head, n_kv_head), scheme, keep)
}

/// As [`attention`], with the scale and the sliding window of `scheme`.
pub fn attention_with(
    q: ArrayView2<f32>,
    keys: ArrayView2<f32>,
    values: ArrayView2<f32>,
    start: usize,
    (n_head, n_kv_head): (usize, usize),
    scheme: Scheme,
    keep: (bool, bool),
) -> AttentionOut {
    let (t, tk) = (q.nrows(), keys.nrows());
    let hd = q.ncols() / n_head;
    let group = n_head / n_kv_head;
    let size = t * tk;
    // Scores and probabilities are computed straight into the recorded [H, T, Tk] tensors
    // when they are kept, else into one head's worth of scratch.
    let mut out = AttentionOut {
        heads: Array2::zeros((t, n_head * hd)),
        scores: vec![0.0; if keep.0 { n_head * size } else { 0 }],
        probs: vec![0.0; if keep.1 { n_head * size } else { 0 }],
    };
    let (mut scratch_s, mut scratch_p) = (vec![0.0; if keep.0 { 0 } else { size }], vec![0.0; if keep.1 { 0 } else { size }]);
    for h in 0..n_head {
        let qc = s![.., h * hd..(h + 1) * hd];
        let kc = s![.., (h / group) * hd..(h / group + 1) * hd];
        let scores = if keep.0 { &mut out.scores[h * size..(h + 1) * size] } else { &mut scratch_s[..] };
        let mut sv = ArrayViewMut2::from_shape((t, tk), scores).expect("[T, Tk]");
        matmul_into(q.slice(qc), keys.slice(kc).t(), None, sv.view_mut());
        sv *= scheme.scale;
        // The mask: the token at position start+i sees the keys of `seen_keys` only.
        for (i, mut row) in sv.rows_mut().into_iter().enumerate() {
            let seen = seen_keys(start + i, tk, scheme.window);
            row.slice_mut(s![..seen.start]).fill(f32::NEG_INFINITY);
            row.slice_mut(s![seen.end..]).fill(f32::NEG_INFINITY);
        }
        let probs = if keep.1 { &mut out.probs[h * size..(h + 1) * size] } else { &mut scratch_p[..] };
        // Softmax over the keys each query sees; the masked ones get probability 0 (what
        // e^(−∞) gives), without computing it.
        let scores = sv.as_slice().expect("contiguous");
        for (i, (s, p)) in scores.chunks(tk.max(1)).zip(probs.chunks_mut(tk.max(1))).enumerate() {
            let seen = seen_keys(start + i, tk, scheme.window);
            p[..seen.start].fill(0.0);
            softmax_rows_into(&s[seen.clone()], &mut p[seen.clone()], seen.len().max(1));
            p[seen.end..].fill(0.0);
        }
        let pv = ArrayView2::from_shape((t, tk), &*probs).expect("[T, Tk]");
        matmul_into(pv, values.slice(kc), None, out.heads.slice_mut(qc));
    }
    out
}

/// Logits x · Uᵀ for x [T, d] and the unembedding U [V, d].
pub fn unembed(x: ArrayView2<f32>, u: &Matrix) -> Array2<f32> {
    match u {
        Matrix::F32(u) if x.nrows() > SMALL_T => matmul(x, u.t(), None),
        Matrix::F32(u) => unembed_rows(x, u),
        Matrix::Blocks(parts) if x.nrows() > SMALL_T => matmul_blocks(x, parts, None),
        Matrix::Blocks(parts) => {
            let mut out = Array2::zeros((x.nrows(), u.rows()));
            blocks::rows_dot(x, parts, &mut out);
            out
        }
    }
}

/// Rows `rows` of an embedding table, dequantized where it is held in blocks.
pub fn embedding(table: &Matrix, rows: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
    table.gather(rows)
}

// ---------------------------------------------------------------------------------------
// How the ops run fast: loops written so the compiler vectorises them (eight running sums,
// no calls to libm), compiled for the widest SIMD of the CPU (`multiversion!`).

/// `fn name(args) -> R => body`: defines `name`, which runs `body` (an `#[inline(always)]`
/// function of the same signature) compiled for the widest SIMD of this CPU: on x86-64 with
/// AVX-512 or with AVX2+FMA enabled, picked at run time (the binary itself targets plain
/// x86-64, so that it runs on any); elsewhere as built (wasm32: simd128, which
/// .cargo/config.toml enables for the browser build). The bodies use no `mul_add`: every
/// version computes the same numbers.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:ident) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                match simd_level() {
                    // SAFETY: the CPU has the features (simd_level checked).
                    Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    Simd::Base => {}
                }
            }
            $body($($arg),*)
        }
    };
}

mod blocks;
// The training pass's kernels (declared after `multiversion!`, which they use).
pub mod backward;

multiversion! {
    /// x · W for few rows: each row of W is read once and added, scaled, into the output row.
    fn rows_times(x: ArrayView2<f32>, w: &Array2<f32>) -> Array2<f32> => rows_times_body
}

#[inline(always)]
fn rows_times_body(x: ArrayView2<f32>, w: &Array2<f32>) -> Array2<f32> {
    let mut out = Array2::zeros((x.nrows(), w.ncols()));
    // Four rows of W at a time, one from each quarter: W is read once (each row serves every
    // row of x), as four streams from memory, which arrive faster than one (measured: 12 →
    // 18 GFLOP/s for GPT-2-small's q|k|v from DRAM).
    let (k, n) = w.dim();
    let q = k / 4;
    let ws = w.as_slice().expect("weights are contiguous");
    let row = |p: usize| &ws[p * n..(p + 1) * n];
    for p in 0..q {
        let (w0, w1, w2, w3) = (row(p), row(p + q), row(p + 2 * q), row(p + 3 * q));
        for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
            let (x0, x1, x2, x3) = (xr[p], xr[p + q], xr[p + 2 * q], xr[p + 3 * q]);
            let o = or.as_slice_mut().expect("fresh array is contiguous");
            for ((((o, a), b), c), d) in o.iter_mut().zip(w0).zip(w1).zip(w2).zip(w3) {
                *o += (x0 * a + x1 * b) + (x2 * c + x3 * d);
            }
        }
    }
    for p in 4 * q..k {
        for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
            let (xi, o) = (xr[p], or.as_slice_mut().expect("fresh array is contiguous"));
            for (o, w) in o.iter_mut().zip(row(p)) {
                *o += xi * w;
            }
        }
    }
    out
}

multiversion! {
    /// Logits x · Uᵀ for few rows: a dot product per vocabulary row, U read once.
    fn unembed_rows(x: ArrayView2<f32>, u: &Array2<f32>) -> Array2<f32> => unembed_rows_body
}

#[inline(always)]
fn unembed_rows_body(x: ArrayView2<f32>, u: &Array2<f32>) -> Array2<f32> {
    let (v, d) = u.dim();
    let xs: Vec<Vec<f32>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
    let mut out = Array2::zeros((x.nrows(), v));
    // U's rows outermost: each is read from memory once, for every row of x.
    for (r, ur) in u.as_slice().expect("weights are contiguous").chunks_exact(d.max(1)).enumerate() {
        for (xr, mut or) in xs.iter().zip(out.rows_mut()) {
            or[r] = dot(xr, ur);
        }
    }
    out
}

/// Dot product with eight partial sums, so the compiler can keep them in one SIMD register
/// (a single running sum has to be added in order and does not vectorise).
#[inline(always)]
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

multiversion! {
    fn layer_norm_row(row: &mut [f32], g: &[f32], b: &[f32], eps: f32) => layer_norm_row_body
}

#[inline(always)]
fn layer_norm_row_body(row: &mut [f32], g: &[f32], b: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let var = sum_map(row, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
        *v = (*v - mean) * inv * g + b;
    }
}

multiversion! {
    fn rms_norm_row(row: &mut [f32], g: &[f32], eps: f32) => rms_norm_row_body
}

#[inline(always)]
fn rms_norm_row_body(row: &mut [f32], g: &[f32], eps: f32) {
    let inv = 1.0 / rms_scale(row, eps);
    for (v, g) in row.iter_mut().zip(g) {
        *v = g * (*v * inv);
    }
}

/// √(mean(x²) + ε), the divisor RMSNorm applies to a row.
#[inline(always)]
pub fn rms_scale(x: &[f32], eps: f32) -> f32 {
    (sum_map(x, |v| v * v) / x.len() as f32 + eps).sqrt()
}

multiversion! {
    /// act(x) of every element of x, into out.
    pub fn activate_into(a: Activation, x: &[f32], out: &mut [f32]) => activate_into_body
}

#[inline(always)]
fn activate_into_body(a: Activation, x: &[f32], out: &mut [f32]) {
    // One loop per activation, so each is a straight loop the compiler vectorises.
    let pairs = out.iter_mut().zip(x);
    match a {
        Activation::GeluNew => pairs.for_each(|(o, &v)| *o = gelu_new(v)),
        Activation::Relu => pairs.for_each(|(o, &v)| *o = v.max(0.0)),
        Activation::Silu => pairs.for_each(|(o, &v)| *o = silu(v)),
    }
}

multiversion! {
    /// act(gate) ⊙ up, into out.
    pub fn activate_gated_into(a: Activation, gate: &[f32], up: &[f32], out: &mut [f32]) => activate_gated_into_body
}

#[inline(always)]
fn activate_gated_into_body(a: Activation, gate: &[f32], up: &[f32], out: &mut [f32]) {
    activate_into_body(a, gate, out);
    out.iter_mut().zip(up).for_each(|(o, u)| *o *= u);
}

multiversion! {
    /// Softmax of each `n`-wide row of `x`, in place.
    pub fn softmax_rows(x: &mut [f32], n: usize) => softmax_rows_body
}

#[inline(always)]
fn softmax_rows_body(x: &mut [f32], n: usize) {
    for row in x.chunks_mut(n) {
        let max = max(row);
        row.iter_mut().for_each(|v| *v = exp(*v - max));
        let sum = sum(row);
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

multiversion! {
    /// Softmax of each `n`-wide row of `x`, into `out`.
    pub fn softmax_rows_into(x: &[f32], out: &mut [f32], n: usize) => softmax_rows_into_body
}

#[inline(always)]
fn softmax_rows_into_body(x: &[f32], out: &mut [f32], n: usize) {
    for (x, row) in x.chunks(n).zip(out.chunks_mut(n)) {
        let max = max(x);
        row.iter_mut().zip(x).for_each(|(o, &v)| *o = exp(v - max));
        let sum = sum(row);
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

/// eˣ within 1 ulp of the exact value (libm's `expf`: 0.5 ulp), in a form loops vectorise,
/// where a call to libm is one scalar at a time. x = n·ln2 + r with |r| ≤ ln2/2 (Cody and
/// Waite's two-part ln2 keeps r exact), eʳ by Cephes' `expf` polynomial, and 2ⁿ built from
/// its exponent bits in two halves so that results down to the smallest subnormal are
/// right. exp(−∞) = 0 exactly (masked attention scores), overflow gives ∞, NaN stays NaN
/// (the clamps below compare false for it).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
                                     // Below −110, eˣ rounds to 0; above 89, to ∞.
    let x = x.clamp(-110.0, 89.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 0.5;
    let p = p * r * r + r + 1.0;
    let n = t.to_bits() as i32 - ROUND.to_bits() as i32; // the integer n, from t's mantissa
    let half = n >> 1;
    let two_to = |e: i32| f32::from_bits(((e + 127) << 23) as u32);
    p * two_to(half) * two_to(n - half)
}

/// Sum of x with eight running sums (a single running sum has to be added in order and
/// does not vectorise); the order is fixed, so every CPU gets the same result.
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    sum_map(x, |v| v)
}

#[inline(always)]
fn sum_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        for i in 0..8 {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter().copied().fold(tail, f32::max)
}

/// RoPE of x [T, heads·hd] by precomputed (sin, cos) [T, hd/2] (`ops::rope_angles`): the
/// angles are the same for every head and layer, so a run computes them once.
pub fn rope_with(mut x: ArrayViewMut2<f32>, hd: usize, angles: &[(f32, f32)]) {
    let half = hd / 2;
    for (mut row, angles) in x.rows_mut().into_iter().zip(angles.chunks(half.max(1))) {
        let row = row.as_slice_mut().expect("rows are contiguous");
        for head in row.chunks_exact_mut(hd) {
            for (i, &(sin, cos)) in angles.iter().enumerate() {
                let (a, b) = (head[i], head[i + half]);
                head[i] = a * cos - b * sin;
                head[i + half] = b * cos + a * sin;
            }
        }
    }
}

/// The elements of an array made here or by the forward pass (so in row-major order,
/// contiguous).
pub(crate) fn data(a: &Array2<f32>) -> &[f32] {
    a.as_slice().expect("fresh arrays are contiguous")
}

pub(crate) fn data_mut(a: &mut Array2<f32>) -> &mut [f32] {
    a.as_slice_mut().expect("fresh arrays are contiguous")
}

// ---------------------------------------------------------------------------------------
// SIMD dispatch.

/// The SIMD an x86-64 CPU offers beyond the build's baseline (SSE2).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    /// AVX-512F (and AVX2, FMA).
    Avx512,
    /// AVX2 and FMA.
    Avx2,
    Base,
}

/// Detected once by std and cached; a load and a test per call.
#[cfg(target_arch = "x86_64")]
pub(crate) fn simd_level() -> Simd {
    if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Simd::Avx512
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Simd::Avx2
    } else {
        Simd::Base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The few-row routes of `linear` and `unembed` (a KV-cache step), against a sum in f64.
    #[test]
    fn few_row_linear_and_unembed_match_a_plain_sum() {
        let mut seed = 11u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(m, k, n) in &[(1, 1, 1), (1, 7, 5), (2, 33, 17), (3, 130, 70), (4, 4, 9), (5, 65, 40)] {
            let x = Array2::from_shape_fn((m, k), |_| rnd());
            let w = Array2::from_shape_fn((k, n), |_| rnd());
            let b = Array1::from_shape_fn(n, |_| rnd());
            let got = linear(&x, &Linear::f32(w.clone(), Some(b.clone())));
            let u = Matrix::F32(w.t().as_standard_layout().into_owned()); // [n, k]
            let logits = unembed(x.view(), &u);
            for i in 0..m {
                for j in 0..n {
                    let want = (0..k).map(|p| x[[i, p]] as f64 * w[[p, j]] as f64).sum::<f64>();
                    assert!((got[[i, j]] as f64 - want - b[j] as f64).abs() <= 1e-5 * (1.0 + want.abs()), "linear m={m} k={k} n={n} at ({i}, {j})");
                    assert!((logits[[i, j]] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "unembed m={m} k={k} n={n} at ({i}, {j})");
                }
            }
        }
    }

    /// `exp` against f64 over the whole range where eˣ is a normal float, and its edges.
    #[test]
    fn exp_within_one_ulp() {
        let mut x = -87.0f32;
        while x < 88.7 {
            let (got, want) = (exp(x), (x as f64).exp());
            let ulp = {
                let w = want as f32;
                (f32::from_bits(w.to_bits() + 1) - w) as f64
            };
            assert!((got as f64 - want).abs() <= ulp, "exp({x}) = {got}, want {want}");
            x += 0.001_3;
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-104.0), 0.0);
        assert_eq!(exp(-100.0), (-100.0f64).exp() as f32); // subnormal
        assert_eq!(exp(89.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
    }
}
