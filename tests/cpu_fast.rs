//! The fast CPU kernels (`cpu::fast`) against the plain reference ops (`cpu::ops`), op by
//! op, on random inputs of awkward sizes (widths that are not multiples of the SIMD width,
//! one row and many, grouped-query heads, a KV-cache offset). They differ only by rounding:
//! sums in another order, fused multiply-adds, a polynomial `exp`.

mod common;
use common::{assert_close_abs, assert_close_scaled};
use llm_xray::config::{Activation, Norm};
use llm_xray::cpu::{fast, ops};
use llm_xray::weights::{Linear, Matrix, NormWeights};
use ndarray::{Array1, Array2};

/// A small deterministic generator: values in [-scale, scale).
fn rnd(seed: u32) -> impl FnMut(f32) -> f32 {
    let mut s = seed;
    move |scale| {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * scale
    }
}

fn mat(r: &mut impl FnMut(f32) -> f32, rows: usize, cols: usize, scale: f32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| r(scale))
}

#[test]
fn linear_and_unembed_match_the_reference() {
    let mut r = rnd(1);
    // Few rows (the KV-step path), many rows (the blocked SGEMM), odd widths.
    for &(t, k, n) in &[(1, 33, 70), (3, 64, 17), (5, 130, 96), (17, 31, 257), (40, 96, 384)] {
        let x = mat(&mut r, t, k, 1.0);
        let l = Linear::f32(mat(&mut r, k, n, 0.5), Some(Array1::from_shape_fn(n, |_| r(0.5))));
        let what = format!("linear {t}×{k}×{n}");
        assert_close_scaled(fast::linear(&x, &l).as_slice().unwrap(), ops::linear(&x, &l).as_slice().unwrap(), 1e-5, &what);
        let u = Matrix::F32(mat(&mut r, n, k, 0.5));
        let what = format!("unembed {t}×{k}×{n}");
        assert_close_scaled(fast::unembed(x.view(), &u).as_slice().unwrap(), ops::unembed(x.view(), &u).as_slice().unwrap(), 1e-5, &what);
    }
}

#[test]
fn norms_match_the_reference() {
    let mut r = rnd(2);
    for &(t, d) in &[(1, 7), (4, 64), (9, 100)] {
        // A large mean: LayerNorm must not cancel the variance away.
        let x = mat(&mut r, t, d, 3.0) + 50.0;
        let w = NormWeights { g: Array1::from_shape_fn(d, |_| 1.0 + r(0.3)), b: Some(Array1::from_shape_fn(d, |_| r(0.3))) };
        for kind in [Norm::LayerNorm, Norm::RmsNorm] {
            let (a, b) = (fast::norm(&x, &w, kind, 1e-5), ops::norm(&x, &w, kind, 1e-5));
            assert_close_scaled(a.as_slice().unwrap(), b.as_slice().unwrap(), 1e-5, &format!("{kind:?} {t}×{d}"));
        }
        let row = x.row(0).to_vec();
        let (a, b) = (fast::rms_scale(&row, 1e-6), ops::rms_scale(&row, 1e-6));
        assert!((a - b).abs() <= 1e-5 * b, "rms_scale: {a} vs {b}");
    }
}

#[test]
fn activations_and_softmax_match_the_reference() {
    let mut r = rnd(3);
    let x: Vec<f32> = (0..1000).map(|_| r(12.0)).collect();
    let up: Vec<f32> = (0..1000).map(|_| r(2.0)).collect();
    for a in [Activation::GeluNew, Activation::Relu, Activation::Silu] {
        let mut got = vec![0.0; x.len()];
        fast::activate_into(a, &x, &mut got);
        let want: Vec<f32> = x.iter().map(|&v| ops::activate(a, v)).collect();
        assert_close_scaled(&got, &want, 1e-6, &format!("{a:?}"));
        fast::activate_gated_into(a, &x, &up, &mut got);
        let want: Vec<f32> = x.iter().zip(&up).map(|(&v, u)| ops::activate(a, v) * u).collect();
        assert_close_scaled(&got, &want, 1e-6, &format!("gated {a:?}"));
    }
    for n in [1, 5, 64, 999] {
        let mut got: Vec<f32> = x[..n].to_vec();
        got[0] = f32::NEG_INFINITY;
        let mut want = got.clone();
        if n == 1 {
            got[0] = 1.0;
            want[0] = 1.0;
        }
        fast::softmax(&mut got);
        ops::softmax(&mut want);
        assert_close_abs(&got, &want, 1e-7, &format!("softmax of {n}"));
        assert_eq!(got[0] == 0.0, n > 1, "softmax of {n}: −∞ must give exactly 0");
    }
}

#[test]
fn rope_matches_the_reference() {
    let mut r = rnd(4);
    let (t, heads, hd, start) = (6, 3, 8, 5);
    let x = mat(&mut r, t, heads * hd, 1.0);
    let inv: Vec<f32> = (0..hd / 2).map(|i| 1.0 / 10000f32.powf((2 * i) as f32 / hd as f32)).collect();
    let mut want = x.clone();
    ops::rope(&mut want, hd, start, &inv);
    let mut got = x.clone();
    fast::rope_with(got.view_mut(), hd, &ops::rope_angles(start, t, &inv));
    assert_close_abs(got.as_slice().unwrap(), want.as_slice().unwrap(), 0.0, "rope");
}

#[test]
fn attention_matches_the_reference() {
    let mut r = rnd(5);
    // (new tokens, cached before them, query heads, key/value heads, head width)
    for &(t, past, h, kv, hd) in &[(1, 0, 2, 2, 4), (7, 0, 4, 2, 8), (1, 9, 6, 3, 16), (5, 4, 4, 1, 12)] {
        let tk = past + t;
        let q = mat(&mut r, t, h * hd, 1.0);
        let keys = mat(&mut r, tk, kv * hd, 1.0);
        let values = mat(&mut r, tk, kv * hd, 1.0);
        let got = fast::attention(q.view(), keys.view(), values.view(), past, h, kv, (true, true));
        let want = ops::attention(q.view(), keys.view(), values.view(), past, h, kv, (true, true));
        let what = |s: &str| format!("attention T={t} past={past} H={h} Hkv={kv} hd={hd}: {s}");
        assert_close_abs(&got.probs, &want.probs, 1e-6, &what("probabilities"));
        assert_close_scaled(&got.scores, &want.scores, 1e-5, &what("scores"));
        assert_close_scaled(got.heads.as_slice().unwrap(), want.heads.as_slice().unwrap(), 1e-5, &what("head outputs"));
    }
}

/// Gemma 3's attention: a sliding window (keys i − w < j ≤ i) and a scale other than
/// 1/√hd, over a KV cache that holds more keys than the window.
#[test]
fn windowed_attention_matches_the_reference() {
    let mut r = rnd(6);
    // (new tokens, cached before them, query heads, key/value heads, head width, window)
    for &(t, past, h, kv, hd, w) in &[(9, 0, 2, 1, 8, 4), (1, 11, 4, 1, 16, 4), (6, 3, 4, 2, 12, 1), (3, 2, 2, 2, 8, 40)] {
        let tk = past + t;
        let q = mat(&mut r, t, h * hd, 1.0);
        let keys = mat(&mut r, tk, kv * hd, 1.0);
        let values = mat(&mut r, tk, kv * hd, 1.0);
        let scheme = ops::Scheme { scale: 24f32.powf(-0.5), window: Some(w) };
        let got = fast::attention_with(q.view(), keys.view(), values.view(), past, (h, kv), scheme, (true, true));
        let want = ops::attention_with(q.view(), keys.view(), values.view(), past, (h, kv), scheme, (true, true));
        let what = |s: &str| format!("windowed attention T={t} past={past} H={h} Hkv={kv} hd={hd} w={w}: {s}");
        assert_close_abs(&got.probs, &want.probs, 1e-6, &what("probabilities"));
        assert_close_scaled(&got.scores, &want.scores, 1e-5, &what("scores"));
        assert_close_scaled(got.heads.as_slice().unwrap(), want.heads.as_slice().unwrap(), 1e-5, &what("head outputs"));
        // Outside the window: −∞ and exactly 0, in both.
        for (k, (&p, &s)) in want.probs.iter().zip(&want.scores).enumerate() {
            let (i, j) = ((k / tk) % t, k % tk);
            let pos = past + i;
            if j > pos || j + w <= pos {
                assert!(p == 0.0 && s == f32::NEG_INFINITY && got.probs[k] == 0.0, "{}: key {j} of position {pos} is outside the window", what("mask"));
            }
        }
    }
}

#[test]
fn head_norms_match_the_reference() {
    let mut r = rnd(7);
    for &(t, heads, hd) in &[(1, 1, 8), (5, 4, 16), (3, 2, 33)] {
        let x = mat(&mut r, t, heads * hd, 4.0);
        let g = Array1::from_shape_fn(hd, |_| 1.0 + r(0.3));
        let (mut a, mut b) = (x.clone(), x.clone());
        fast::rms_norm_heads(a.view_mut(), &g, 1e-6);
        ops::rms_norm_heads(b.view_mut(), &g, 1e-6);
        assert_close_scaled(a.as_slice().unwrap(), b.as_slice().unwrap(), 1e-6, &format!("QK-norm {t}×{heads}×{hd}"));
        // Each head alone is an RMSNorm of its own width.
        if heads > 1 {
            let one = ops::rms_norm(&x.slice(ndarray::s![.., hd..2 * hd]).to_owned(), &g, 1e-6);
            assert_close_scaled(b.slice(ndarray::s![.., hd..2 * hd]).to_owned().as_slice().unwrap(), one.as_slice().unwrap(), 1e-6, "head 2 alone");
        }
    }
}
