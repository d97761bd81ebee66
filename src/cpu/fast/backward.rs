//! The training pass's kernels: each op's backward, shaped for speed as the forward ops of
//! this module's parent are (the blocked SGEMM for every product, loops the compiler
//! vectorises), and the forward variants that keep what the backward needs (a layer norm's
//! mean and 1/σ, attention's probabilities). Held to the plain backward functions of
//! [`crate::cpu::ops`] by tests/train_ops.rs.
//!
//! Gradients of learned parameters are added to (`+=`), so one buffer can sum the
//! contributions of a tied matrix and of every sequence of a batch; the caller zeroes it
//! once per step.

pub(crate) use super::gemm::{matmul_acc_into, matmul_into};
use super::{exp, softmax_rows_into};
#[cfg(target_arch = "x86_64")]
use super::{simd_level, Simd};
use crate::config::Activation;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

/// Linear layer backward for y = x·W + b, x [N, in], W [in, out], dy [N, out]:
/// dx = dy·Wᵀ (written over dx, when asked for), dW += xᵀ·dy, db += Σ_rows dy.
pub fn linear_backward(
    x: ArrayView2<f32>,
    w: ArrayView2<f32>,
    dy: ArrayView2<f32>,
    dx: Option<ArrayViewMut2<f32>>,
    dw: ArrayViewMut2<f32>,
    db: Option<&mut [f32]>,
) {
    if let Some(dx) = dx {
        matmul_into(dy, w.t(), None, dx);
    }
    // xᵀ has strided rows: the matmul copies it once into rows (N·in floats, against
    // N·in·out multiply-adds).
    matmul_acc_into(x.t(), dy, dw);
    if let Some(db) = db {
        column_sums_into(dy, db);
    }
}

/// db += Σ over rows of m.
pub fn column_sums_into(m: ArrayView2<f32>, db: &mut [f32]) {
    for row in m.rows() {
        for (d, v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
}

/// LayerNorm of each row of x into y, keeping each row's mean and 1/√(var + ε) for the
/// backward pass (the same arithmetic as the parent's `layer_norm`: two passes).
pub fn layer_norm_forward(x: ArrayView2<f32>, g: &[f32], b: &[f32], eps: f32, mut y: ArrayViewMut2<f32>, mean: &mut [f32], rstd: &mut [f32]) {
    let d = x.ncols() as f32;
    for (i, (xr, mut yr)) in x.rows().into_iter().zip(y.rows_mut()).enumerate() {
        let xr = xr.to_slice().expect("activation rows are contiguous");
        let yr = yr.as_slice_mut().expect("activation rows are contiguous");
        let m = super::sum(xr) / d;
        let var = super::sum_map(xr, |v| (v - m) * (v - m)) / d;
        let r = 1.0 / (var + eps).sqrt();
        for j in 0..xr.len() {
            yr[j] = (xr[j] - m) * r * g[j] + b[j];
        }
        (mean[i], rstd[i]) = (m, r);
    }
}

/// LayerNorm backward, row by row: dx += r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with
/// x̂ = (x − mean)·r and dx̂ = dy·g; dg += Σ_rows dy·x̂; db += Σ_rows dy. dx is added to, as
/// the gradient of a norm's input joins the residual stream's.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    x: ArrayView2<f32>,
    g: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: ArrayView2<f32>,
    mut dx: ArrayViewMut2<f32>,
    dg: &mut [f32],
    db: &mut [f32],
) {
    let n = x.ncols();
    let mut xhat = vec![0.0f32; n];
    let mut dxhat = vec![0.0f32; n];
    for (i, ((xr, dyr), mut dxr)) in x.rows().into_iter().zip(dy.rows()).zip(dx.rows_mut()).enumerate() {
        let (xr, dyr) = (xr.to_slice().expect("contiguous rows"), dyr.to_slice().expect("contiguous rows"));
        let dxr = dxr.as_slice_mut().expect("contiguous rows");
        let (m, r) = (mean[i], rstd[i]);
        for j in 0..n {
            xhat[j] = (xr[j] - m) * r;
            dxhat[j] = dyr[j] * g[j];
            dg[j] += dyr[j] * xhat[j];
            db[j] += dyr[j];
        }
        let mean_d = super::sum(&dxhat) / n as f32;
        let mut acc = [0.0f32; 8];
        let chunks = dxhat.chunks_exact(8).zip(xhat.chunks_exact(8));
        let tail: f32 = dxhat.chunks_exact(8).remainder().iter().zip(xhat.chunks_exact(8).remainder()).map(|(a, b)| a * b).sum();
        for (a, b) in chunks {
            for k in 0..8 {
                acc[k] += a[k] * b[k];
            }
        }
        let mean_dx = (acc.iter().sum::<f32>() + tail) / n as f32;
        for j in 0..n {
            dxr[j] += r * (dxhat[j] - mean_d - xhat[j] * mean_dx);
        }
    }
}

/// The activation's backward: dx = act′(x)·dy, elementwise. GELU (tanh form) is computed as
/// the parent computes it forward, x·σ(2u), whose derivative is
/// σ(2u) + x·σ(2u)·(1 − σ(2u))·2u′, u′ = √(2/π)·(1 + 3·0.044715·x²).
pub fn activation_backward(a: Activation, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    match a {
        Activation::GeluNew => {
            const C: f32 = 0.797_884_6;
            for ((d, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                let u = C * (x + 0.044715 * x * x * x);
                let s = 1.0 / (1.0 + exp(-2.0 * u));
                let du = C * (1.0 + 3.0 * 0.044715 * x * x);
                *d = g * (s + x * s * (1.0 - s) * 2.0 * du);
            }
        }
        Activation::Relu => {
            for ((d, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                *d = if x > 0.0 { g } else { 0.0 };
            }
        }
        Activation::Silu => {
            for ((d, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                let s = 1.0 / (1.0 + exp(-x));
                *d = g * s * (1.0 + x * (1.0 - s));
            }
        }
    }
}

/// Causal self-attention of one sequence of T tokens (no cache) for training: q, k, v
/// [T, H·hd] (column blocks of the fused q|k|v rows, read in place); writes each head's
/// output into `out` [T, H·hd] and its probabilities into `probs` [H, T, T] (zero above the
/// diagonal), which the backward pass reads.
pub fn attention_forward(q: ArrayView2<f32>, k: ArrayView2<f32>, v: ArrayView2<f32>, n_head: usize, mut out: ArrayViewMut2<f32>, probs: &mut [f32]) {
    let t = q.nrows();
    let hd = q.ncols() / n_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut row = vec![0.0f32; t];
    for h in 0..n_head {
        let c = s![.., h * hd..(h + 1) * hd];
        let p = &mut probs[h * t * t..(h + 1) * t * t];
        let mut sv = ArrayViewMut2::from_shape((t, t), &mut *p).expect("[T, T]");
        matmul_into(q.slice(c), k.slice(c).t(), None, sv.view_mut());
        for (i, pr) in p.chunks_mut(t).enumerate() {
            // Query i sees keys 0..=i.
            for (r, s) in row[..=i].iter_mut().zip(&pr[..=i]) {
                *r = s * scale;
            }
            softmax_rows_into(&row[..=i], &mut pr[..=i], i + 1);
            pr[i + 1..].fill(0.0);
        }
        let pv = ArrayView2::from_shape((t, t), &*p).expect("[T, T]");
        matmul_into(pv, v.slice(c), None, out.slice_mut(c));
    }
}

/// Scratch for [`attention_backward`], [T, T] twice, reused across heads and sequences.
pub struct AttentionScratch {
    dp: Array2<f32>,
    pt: Array2<f32>,
}

impl AttentionScratch {
    pub fn new(t: usize) -> AttentionScratch {
        AttentionScratch { dp: Array2::zeros((t, t)), pt: Array2::zeros((t, t)) }
    }
}

/// Backward of [`attention_forward`] for one sequence: given q, k, v, the probabilities it
/// kept and the gradient of its output d_out [T, H·hd], writes dq, dk, dv (each [T, H·hd],
/// column blocks of the fused gradient rows). Per head: dP = dO·vᵀ, dv = Pᵀ·dO,
/// dS = P ⊙ (dP − rowsum(P ⊙ dP))/√hd, dq = dS·k, dk = dSᵀ·q.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    probs: &[f32],
    d_out: ArrayView2<f32>,
    n_head: usize,
    mut dq: ArrayViewMut2<f32>,
    mut dk: ArrayViewMut2<f32>,
    mut dv: ArrayViewMut2<f32>,
    scratch: &mut AttentionScratch,
) {
    let t = q.nrows();
    let hd = q.ncols() / n_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let (dp, pt) = (&mut scratch.dp, &mut scratch.pt);
    for h in 0..n_head {
        let c = s![.., h * hd..(h + 1) * hd];
        let p = ArrayView2::from_shape((t, t), &probs[h * t * t..(h + 1) * t * t]).expect("[T, T]");
        let doh = d_out.slice(c);
        matmul_into(doh, v.slice(c).t(), None, dp.view_mut());
        pt.assign(&p.t());
        matmul_into(pt.view(), doh, None, dv.slice_mut(c));
        for (i, (dr, pr)) in dp.rows_mut().into_iter().zip(p.rows()).enumerate() {
            let (dr, pr) = (dr.into_slice().expect("contiguous"), pr.to_slice().expect("contiguous"));
            let dot: f32 = dr[..=i].iter().zip(&pr[..=i]).map(|(d, p)| d * p).sum();
            for (d, p) in dr[..=i].iter_mut().zip(&pr[..=i]) {
                *d = p * (*d - dot) * scale;
            }
            dr[i + 1..].fill(0.0);
        }
        matmul_into(dp.view(), k.slice(c), None, dq.slice_mut(c));
        pt.assign(&dp.t());
        matmul_into(pt.view(), q.slice(c), None, dk.slice_mut(c));
    }
}

/// Softmax cross-entropy of logits [N, V] against `targets`, fused with its backward: returns
/// the summed loss (in f64) and overwrites the logits with its gradient, scaled by `scale`
/// (1/N of the whole batch for a mean): (softmax − one-hot)·scale.
pub fn cross_entropy_in_place(mut logits: ArrayViewMut2<f32>, targets: &[u32], scale: f32) -> f64 {
    assert_eq!(logits.nrows(), targets.len(), "one target per row of logits");
    let mut total = 0.0f64;
    for (mut row, &t) in logits.rows_mut().into_iter().zip(targets) {
        let row = row.as_slice_mut().expect("logit rows are contiguous");
        let target = row[t as usize];
        let (max, sum) = exp_shifted(row);
        total += (sum.ln() + max - target) as f64;
        scale_by(row, scale / sum);
        row[t as usize] -= scale;
    }
    total
}

/// Rows of logits computed at a time by [`unembed_cross_entropy`]: a block's logits
/// ([ROWS, V]) and the unembedding stay in the caches through its three products.
const ROWS: usize = 64;

/// The tied unembedding, the mean softmax cross-entropy and, with `grads`, their backward,
/// fused over blocks of rows so that the logits ([N, V], the largest activation of a small
/// model) never exist at once: per block, logits = h·Uᵀ, the loss and its gradient in place,
/// then dh = dlogits·U (written) and dUᵀ += hᵀ·dlogits (added; [d, V], so dlogits is read
/// in place). h [N, d], U [V, d]. Returns the mean loss.
pub fn unembed_cross_entropy(
    h: ArrayView2<f32>,
    u: ArrayView2<f32>,
    targets: &[u32],
    mut grads: Option<(ArrayViewMut2<f32>, ArrayViewMut2<f32>)>,
    block: &mut Vec<f32>,
) -> f64 {
    let (n, v) = (h.nrows(), u.nrows());
    assert_eq!(targets.len(), n, "one target per row");
    block.resize(ROWS.min(n) * v, 0.0);
    let mut total = 0.0;
    for r0 in (0..n).step_by(ROWS) {
        let rows = ROWS.min(n - r0);
        let hb = h.slice(s![r0..r0 + rows, ..]);
        let mut logits = ArrayViewMut2::from_shape((rows, v), &mut block[..rows * v]).expect("[rows, V]");
        matmul_into(hb, u.t(), None, logits.view_mut());
        total += cross_entropy_in_place(logits.view_mut(), &targets[r0..r0 + rows], 1.0 / n as f32);
        if let Some((dh, du_t)) = grads.as_mut() {
            matmul_into(logits.view(), u, None, dh.slice_mut(s![r0..r0 + rows, ..]));
            matmul_acc_into(hb.t(), logits.view(), du_t.view_mut());
        }
    }
    total / n as f64
}

multiversion! {
    /// Replaces each x by e^(x − max) and returns (max, Σ e^(x − max)).
    fn exp_shifted(x: &mut [f32]) -> (f32, f32) => exp_shifted_body
}

#[inline(always)]
fn exp_shifted_body(x: &mut [f32]) -> (f32, f32) {
    let max = super::max(x);
    x.iter_mut().for_each(|v| *v = exp(*v - max));
    (max, super::sum(x))
}

multiversion! {
    fn scale_by(x: &mut [f32], k: f32) => scale_by_body
}

#[inline(always)]
fn scale_by_body(x: &mut [f32], k: f32) {
    x.iter_mut().for_each(|v| *v *= k);
}

#[cfg(test)]
mod timing {
    use super::*;
    #[test]
    #[ignore]
    fn shapes() {
        let shapes: &[(usize, usize, usize, bool, bool, &str)] = &[
            (128, 768, 2304, false, false, "doc 128x768x2304"),
            (128, 128, 384, false, false, "doc 128x128x384"),
            (1024, 64, 4096, false, true, "logits = h·Uᵀ"),
            (1024, 4096, 64, false, false, "dh = dlogits·U"),
            (64, 1024, 4096, true, false, "dUᵀ = hᵀ·dlogits"),
            (1024, 64, 192, false, false, "qkv"),
            (64, 1024, 192, true, false, "dWqkv"),
            (1024, 192, 64, false, true, "dx qkv"),
            (64, 16, 64, false, true, "scores"),
            (64, 64, 16, false, false, "p·v"),
            (64, 64, 16, true, false, "pᵀ·do"),
        ];
        for &(m, k, n, ta, tb, name) in shapes {
            let a = if ta {
                Array2::from_shape_fn((k, m), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1)
            } else {
                Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1)
            };
            let b = if tb {
                Array2::from_shape_fn((n, k), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.1)
            } else {
                Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.1)
            };
            let mut c = Array2::zeros((m, n));
            let av = if ta { a.t() } else { a.view() };
            let bv = if tb { b.t() } else { b.view() };
            let reps = (2e9 / (m * n * k) as f64).max(3.0) as usize;
            let cpu = || std::fs::read_to_string("/proc/thread-self/schedstat").unwrap().split_whitespace().next().unwrap().parse::<f64>().unwrap() * 1e-9;
            let t0 = cpu();
            for _ in 0..reps {
                matmul_into(av, bv, None, c.view_mut());
            }
            let s = (cpu() - t0) / reps as f64;
            eprintln!("{name:20} {m}x{k}x{n}: {:.3} ms, {:.1} GFLOP/s", s * 1e3, 2.0 * (m * n * k) as f64 / s / 1e9);
        }
        let cpu = || std::fs::read_to_string("/proc/thread-self/schedstat").unwrap().split_whitespace().next().unwrap().parse::<f64>().unwrap() * 1e-9;
        let (n, d, v) = (1024, 64, 4096);
        let h = Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1);
        let u = Array2::from_shape_fn((v, d), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.01);
        let targets: Vec<u32> = (0..n as u32).map(|i| i * 17 % v as u32).collect();
        let (mut dh, mut du) = (Array2::zeros((n, d)), Array2::zeros((d, v)));
        let mut block = Vec::new();
        let t0 = cpu();
        for _ in 0..5 {
            unembed_cross_entropy(h.view(), u.view(), &targets, Some((dh.view_mut(), du.view_mut())), &mut block);
        }
        let s = (cpu() - t0) / 5.0;
        eprintln!("fused unembedding+CE+backward {n}x{d}x{v}: {:.3} ms, {:.1} GFLOP/s", s * 1e3, 6.0 * (n * d * v) as f64 / s / 1e9);
    }
}
