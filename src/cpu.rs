//! The CPU backend: the reference forward pass, written to be read next to the GPT-2 and
//! Llama papers. Every other backend is held to agree with this one, and this one with HF
//! `transformers`. Each op is one public function here; the GPU kernel tests compare each
//! kernel with the same function.
//!
//! It is also the path that runs where WebGPU is missing, and it is held to be faster than
//! PyTorch eager on one thread with every part recorded (scripts/bench.sh), so the ops run
//! on code shaped for speed, in the second half of this file, each piece chosen by
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
//! - **Matmul** (`matmul`): one blocked SGEMM written as plain Rust over fixed-size arrays,
//!   which the compiler keeps in SIMD registers, compiled for AVX-512 and for AVX2+FMA
//!   (picked at run time: the binary targets plain x86-64) and for everything else (SSE2;
//!   wasm32 with simd128, which .cargo/config.toml enables for the browser build). `gemm`
//!   has no wasm SIMD; matrixmultiply has no AVX-512 kernel.
//! - **Elementwise maths**: `exp` is a polynomial that vectorises, where libm's `expf` and
//!   `tanhf` are one scalar call each (`tanhf` alone was 28% of a 128-token trace), and
//!   GELU's tanh is written in the equivalent logistic form, one `exp`.
//! - **The trace**: tensors not needed after they are recorded move into it instead of
//!   being copied; attention scores and probabilities are computed straight into it.
//!
//! Results differ from a plain triple loop only by float rounding: sums in another order,
//! fused multiply-adds where the CPU has them, `exp` within 1 ulp.

use crate::backend::Ablation;
use crate::clock::now_ms;
use crate::config::{Activation, Config, Norm};
use crate::error::Result;
use crate::model::Model;
use crate::trace::{Dims, Part, Parts, Recorder, Trace};
use crate::weights::{Linear, NormWeights};
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------
// The ops. Each is one public function; the GPU kernel tests compare against them.

/// x · W + b, with x [T, in] and W [in, out].
pub fn linear(x: &Array2<f32>, l: &Linear) -> Array2<f32> {
    let bias = l.b.as_ref().map(|b| b.as_slice().expect("weights are contiguous"));
    if x.nrows() > SMALL_T {
        return matmul(x.view(), l.w.view(), bias);
    }
    let mut out = rows_times(x.view(), &l.w);
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
pub fn gelu_new(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    let u = C * (x + 0.044715 * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

/// x·sigmoid(x) (HF `silu`).
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

#[inline(always)]
pub fn activate(a: Activation, x: f32) -> f32 {
    match a {
        Activation::GeluNew => gelu_new(x),
        Activation::Relu => x.max(0.0),
        Activation::Silu => silu(x),
    }
}

/// In-place softmax of one row; −∞ entries become exactly 0.
pub fn softmax(row: &mut [f32]) {
    softmax_rows(row, row.len().max(1));
}

/// Rows `rows` of an embedding table.
pub fn embedding(table: &Array2<f32>, rows: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
    let mut out = Array2::zeros((rows.len(), table.ncols()));
    for (mut o, r) in out.rows_mut().into_iter().zip(rows) {
        o.assign(&table.row(r));
    }
    out
}

/// RoPE, HF's rotate-half convention: in each head of x [T, heads·hd], the pair
/// (x[i], x[i + hd/2]) of the token at position start + t is rotated by the angle
/// (start + t)·inv_freq[i].
pub fn rope(x: &mut Array2<f32>, hd: usize, start: usize, inv_freq: &[f32]) {
    let angles = rope_angles(start, x.nrows(), inv_freq);
    rope_with(x.view_mut(), hd, &angles);
}

/// What causal attention computes for T new queries.
pub struct AttentionOut {
    /// Each head's probability-weighted sum of values, side by side: [T, H·hd].
    pub heads: Array2<f32>,
    /// Scores q·k/√hd with the causal mask (−∞), [H, T, Tk]; empty unless asked for.
    pub scores: Vec<f32>,
    /// Softmax of the scores, [H, T, Tk]; empty unless asked for.
    pub probs: Vec<f32>,
}

/// Causal attention of queries q [T, H·hd] for the tokens at positions start.. over keys
/// and values [Tk, Hkv·hd] of the whole context (the KV cache, these tokens included).
/// Query head h reads key/value head h / (H / Hkv) (grouped-query attention).
pub fn attention(q: ArrayView2<f32>, keys: ArrayView2<f32>, values: ArrayView2<f32>, start: usize, n_head: usize, n_kv_head: usize, keep: (bool, bool)) -> AttentionOut {
    let (t, tk) = (q.nrows(), keys.nrows());
    let hd = q.ncols() / n_head;
    let group = n_head / n_kv_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let size = t * tk;
    // Scores and probabilities are computed straight into the recorded [H, T, Tk] tensors
    // when they are kept, else into one head's worth of scratch.
    let mut out = AttentionOut { heads: Array2::zeros((t, n_head * hd)), scores: vec![0.0; if keep.0 { n_head * size } else { 0 }], probs: vec![0.0; if keep.1 { n_head * size } else { 0 }] };
    let (mut scratch_s, mut scratch_p) = (vec![0.0; if keep.0 { 0 } else { size }], vec![0.0; if keep.1 { 0 } else { size }]);
    for h in 0..n_head {
        let qc = s![.., h * hd..(h + 1) * hd];
        let kc = s![.., (h / group) * hd..(h / group + 1) * hd];
        let scores = if keep.0 { &mut out.scores[h * size..(h + 1) * size] } else { &mut scratch_s[..] };
        let mut sv = ArrayViewMut2::from_shape((t, tk), scores).expect("[T, Tk]");
        matmul_into(q.slice(qc), keys.slice(kc).t(), None, sv.view_mut());
        sv *= scale;
        // Causal mask: the token at position start+i sees keys 0..=start+i only.
        for (i, mut row) in sv.rows_mut().into_iter().enumerate() {
            row.slice_mut(s![(start + i + 1).min(tk)..]).fill(f32::NEG_INFINITY);
        }
        let probs = if keep.1 { &mut out.probs[h * size..(h + 1) * size] } else { &mut scratch_p[..] };
        // Softmax over the keys each query sees; the masked ones get probability 0 (what
        // e^(−∞) gives), without computing it.
        let scores = sv.as_slice().expect("contiguous");
        for (i, (s, p)) in scores.chunks(tk.max(1)).zip(probs.chunks_mut(tk.max(1))).enumerate() {
            let seen = (start + i + 1).min(tk);
            softmax_rows_into(&s[..seen], &mut p[..seen], seen.max(1));
            p[seen..].fill(0.0);
        }
        let pv = ArrayView2::from_shape((t, tk), &*probs).expect("[T, Tk]");
        matmul_into(pv, values.slice(kc), None, out.heads.slice_mut(qc));
    }
    out
}

/// Logits x · Uᵀ for x [T, d] and the unembedding U [V, d].
pub fn unembed(x: ArrayView2<f32>, u: &Array2<f32>) -> Array2<f32> {
    if x.nrows() > SMALL_T {
        return matmul(x, u.t(), None);
    }
    unembed_rows(x, u)
}

/// [T, n·hd] → [n, T, hd]: the layout of per-head tensors in the trace.
pub fn split_heads(x: ArrayView2<f32>, n: usize) -> Vec<f32> {
    let (t, w) = x.dim();
    let hd = w / n;
    let mut data = Vec::with_capacity(t * w);
    for h in 0..n {
        for row in x.slice(s![.., h * hd..(h + 1) * hd]).rows() {
            match row.to_slice() {
                Some(r) => data.extend_from_slice(r),
                None => data.extend(row.iter()),
            }
        }
    }
    data
}

// ---------------------------------------------------------------------------------------
// The backend: a forward pass through the ops, recording what the caller asked for.

/// Keys and values of every token already in the context, per layer, as rows [Tk, kv_width]
/// (key/value head j owns columns j·hd .. (j+1)·hd). Llama's keys are stored rotated.
struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

pub struct CpuBackend {
    model: Arc<Model>,
    cache: KvCache,
    /// The context's token ids (what the cache holds).
    ids: Vec<u32>,
    ablation: Ablation,
}

impl CpuBackend {
    pub fn new(model: Arc<Model>) -> Self {
        let n = model.config.n_layer;
        CpuBackend { model, cache: KvCache { k: vec![Vec::new(); n], v: vec![Vec::new(); n] }, ids: Vec::new(), ablation: Ablation::default() }
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Tokens currently in the context (the KV cache).
    pub fn context(&self) -> &[u32] {
        &self.ids
    }

    pub fn context_len(&self) -> usize {
        self.ids.len()
    }

    /// Keeps the first `n` tokens of the context: their keys and values stay valid, since
    /// attention is causal.
    pub fn truncate(&mut self, n: usize) {
        let w = self.model.config.kv_width();
        self.ids.truncate(n);
        let c = &mut self.cache;
        c.k.iter_mut().chain(c.v.iter_mut()).for_each(|x| x.truncate(n * w));
    }

    /// Empties the context.
    pub fn reset(&mut self) {
        self.truncate(0)
    }

    /// Heads to ablate from now on; the context is emptied, since its cached keys and values
    /// were computed without it.
    pub fn set_ablation(&mut self, a: Ablation) {
        self.ablation = a;
        self.reset();
    }

    /// A fresh run of a whole prompt (the context is emptied first).
    pub fn trace(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.reset();
        self.run(ids, parts)
    }

    /// Runs `ids` after the tokens already in the context and records `parts`: a fresh
    /// prompt and a one-token step are the same call. Tensors that are not used after they
    /// are recorded move into the trace (`into_flat`); the others are copied (`flat`).
    pub fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        let started = now_ms();
        let model = self.model.clone();
        let (m, start) = (&*model, self.ids.len());
        m.check_ids(ids, start)?;
        let (cfg, w) = (&m.config, &m.weights);
        let t = ids.len();
        let mut rec = Recorder::new(cfg, parts, Dims::new(cfg, start, t));
        let eps = cfg.layer_norm_epsilon;
        let angles = rope_angles(start, if cfg.rope_theta.is_some() { t } else { 0 }, &cfg.rope_inv_freq());

        let tok_emb = embedding(&w.wte, ids.iter().map(|&i| i as usize));
        let mut x = match &w.wpe {
            Some(wpe) => {
                let pos_emb = embedding(wpe, start..start + t);
                let x = &tok_emb + &pos_emb;
                rec.put(None, Part::PosEmb, || into_flat(pos_emb));
                rec.put(None, Part::TokEmb, || into_flat(tok_emb));
                x
            }
            None => {
                rec.put(None, Part::TokEmb, || flat(&tok_emb));
                tok_emb
            }
        };

        for (l, lw) in w.layers.iter().enumerate() {
            let at = Some(l);
            let h = norm(&x, &lw.ln_1, cfg.norm, eps);
            let mut qkv = linear(&h, &lw.qkv);
            rec.put(at, Part::Ln1, || into_flat(h));
            let (qw, kvw) = (cfg.q_width(), cfg.kv_width());
            let (qc, kc, vc) = (s![.., ..qw], s![.., qw..qw + kvw], s![.., qw + kvw..]);
            rec.put(at, Part::Q, || split_heads(qkv.slice(qc), cfg.n_head));
            rec.put(at, Part::K, || split_heads(qkv.slice(kc), cfg.n_kv_head));
            rec.put(at, Part::V, || split_heads(qkv.slice(vc), cfg.n_kv_head));
            if cfg.rope_theta.is_some() {
                rope_with(qkv.slice_mut(qc), cfg.head_dim, &angles);
                rope_with(qkv.slice_mut(kc), cfg.head_dim, &angles);
                rec.put(at, Part::QRot, || split_heads(qkv.slice(qc), cfg.n_head));
                rec.put(at, Part::KRot, || split_heads(qkv.slice(kc), cfg.n_kv_head));
            }
            for row in qkv.rows() {
                let row = row.to_slice().expect("fresh array is contiguous");
                self.cache.k[l].extend_from_slice(&row[qw..qw + kvw]);
                self.cache.v[l].extend_from_slice(&row[qw + kvw..]);
            }
            let keys = ArrayView2::from_shape((start + t, kvw), &self.cache.k[l][..]).expect("cache rows are [Tk, kv_width]");
            let values = ArrayView2::from_shape((start + t, kvw), &self.cache.v[l][..]).expect("cache rows are [Tk, kv_width]");

            let keep = (rec.wants(Part::AttnScores), rec.wants(Part::AttnProbs));
            let mut a = attention(qkv.slice(qc), keys, values, start, cfg.n_head, cfg.n_kv_head, keep);
            rec.put(at, Part::AttnScores, || std::mem::take(&mut a.scores));
            rec.put(at, Part::AttnProbs, || std::mem::take(&mut a.probs));
            self.ablation.apply(l, &mut a.heads, cfg.head_dim);
            let attn_out = linear(&a.heads, &lw.o);
            rec.put(at, Part::HeadOutputs, || into_flat(a.heads));
            x += &attn_out;
            rec.put(at, Part::AttnOut, || into_flat(attn_out));
            rec.put(at, Part::ResidMid, || flat(&x));

            let h = norm(&x, &lw.ln_2, cfg.norm, eps);
            let hidden = mlp_hidden(cfg, lw, &h, &mut rec, l);
            rec.put(at, Part::Ln2, || into_flat(h));
            let mlp_out = linear(&hidden, &lw.down);
            rec.put(at, Part::MlpPost, || into_flat(hidden));
            x += &mlp_out;
            rec.put(at, Part::MlpOut, || into_flat(mlp_out));
            rec.put(at, Part::ResidPost, || flat(&x));
        }

        let ln_f = norm(&x, &w.ln_f, cfg.norm, eps);
        let all_rows = rec.wants(Part::Logits) || rec.wants(Part::Probs);
        let rows = if all_rows { ln_f.view() } else { ln_f.slice(s![t - 1.., ..]) };
        let logits = unembed(rows, w.unembedding());
        rec.put(None, Part::LnF, || into_flat(ln_f));
        let next_logits = logits.index_axis(Axis(0), logits.nrows() - 1).to_vec();
        rec.put(None, Part::Probs, || {
            let mut p = vec![0.0; logits.len()];
            softmax_rows_into(data(&logits), &mut p, cfg.vocab_size);
            p
        });
        rec.put(None, Part::Logits, || into_flat(logits));

        let tokens = m.token_infos(ids, m.tokenizer.bytes_len(&self.ids));
        self.ids.extend_from_slice(ids);
        Ok(rec.finish(tokens, start, next_logits, now_ms() - started))
    }
}

/// The MLP's hidden neurons for input h (after ln_2): act(h·W_in) for a plain MLP, or
/// act(h·W_gate) ⊙ h·W_up for a gated one; the input of the down projection. Records the
/// projections before the nonlinearity.
fn mlp_hidden(cfg: &Config, lw: &crate::weights::LayerWeights, h: &Array2<f32>, rec: &mut Recorder, l: usize) -> Array2<f32> {
    let at = Some(l);
    let up = linear(h, &lw.up);
    match &lw.gate {
        None => {
            let mut act = Array2::zeros(up.raw_dim());
            activate_into(cfg.activation, data(&up), data_mut(&mut act));
            rec.put(at, Part::MlpPre, || into_flat(up));
            act
        }
        Some(gate) => {
            let g = linear(h, gate);
            let mut act = Array2::zeros(up.raw_dim());
            activate_gated_into(cfg.activation, data(&g), data(&up), data_mut(&mut act));
            rec.put(at, Part::MlpGate, || into_flat(g));
            rec.put(at, Part::MlpUp, || into_flat(up));
            act
        }
    }
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
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:ident) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
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
    fn activate_into(a: Activation, x: &[f32], out: &mut [f32]) => activate_into_body
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
    fn activate_gated_into(a: Activation, gate: &[f32], up: &[f32], out: &mut [f32]) => activate_gated_into_body
}

#[inline(always)]
fn activate_gated_into_body(a: Activation, gate: &[f32], up: &[f32], out: &mut [f32]) {
    activate_into_body(a, gate, out);
    out.iter_mut().zip(up).for_each(|(o, u)| *o *= u);
}

multiversion! {
    /// Softmax of each `n`-wide row of `x`, in place.
    fn softmax_rows(x: &mut [f32], n: usize) => softmax_rows_body
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
    fn softmax_rows_into(x: &[f32], out: &mut [f32], n: usize) => softmax_rows_into_body
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

/// (sin, cos) of every angle RoPE uses for T tokens from `start`: [T, hd/2]. The same for
/// every head and layer, so a run computes them once.
pub(crate) fn rope_angles(start: usize, t: usize, inv_freq: &[f32]) -> Vec<(f32, f32)> {
    (start..start + t).flat_map(|pos| inv_freq.iter().map(move |f| (pos as f32 * f).sin_cos())).collect()
}

fn rope_with(mut x: ArrayViewMut2<f32>, hd: usize, angles: &[(f32, f32)]) {
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

/// The elements of an array this file made (so in row-major order, contiguous).
fn data(a: &Array2<f32>) -> &[f32] {
    a.as_slice().expect("fresh arrays are contiguous")
}

fn data_mut(a: &mut Array2<f32>) -> &mut [f32] {
    a.as_slice_mut().expect("fresh arrays are contiguous")
}

fn flat(a: &Array2<f32>) -> Vec<f32> {
    match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    }
}

/// The array's elements in row-major order, moved out without a copy when they are its
/// whole buffer (as for every array made here).
fn into_flat(a: Array2<f32>) -> Vec<f32> {
    if a.is_standard_layout() {
        let n = a.len();
        let (v, offset) = a.into_raw_vec_and_offset();
        return match offset.unwrap_or(0) {
            0 if v.len() == n => v,
            o => v[o..o + n].to_vec(),
        };
    }
    a.iter().copied().collect()
}

// ---------------------------------------------------------------------------------------
// Matrix multiplication: a blocked SGEMM (Goto's scheme, as in BLIS), small enough to read.
//
// C [m, n] = A [m, k] · B [k, n]. For each block of KC rows of B and each strip of NR
// columns, the KC×NR block is copied into a contiguous panel (it then stays in L1, and any
// stride of B, a transposed one included, costs the same); every MR-row tile of A then
// passes over the panel, holding its MR×NR results in SIMD registers for the whole block:
// each step loads one panel row (NR floats), broadcasts MR floats of A and does MR·NR
// multiply-adds. A is read in place (its MR rows are MR sequential streams).

/// Rows of B per panel: a panel (KC × NR floats, 32 KiB at NR = 32) and an A tile
/// (MR × KC) fit in L1 together.
const KC: usize = 256;

/// The operands of C = A·B (+ bias on each row) as raw parts: element (i, j) of A is at
/// a + i·lda + j, of B at b + i·rsb + j·csb, of C at c + i·ldc + j.
#[derive(Clone, Copy)]
struct Gemm {
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    rsb: usize,
    csb: usize,
    c: *mut f32,
    ldc: usize,
    /// n values, or null.
    bias: *const f32,
}

/// A · B (+ bias on each row), A [m, k], B [k, n] (any strides: W as stored, Uᵀ or Kᵀ as
/// transposed views), into a new array.
fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, bias: Option<&[f32]>) -> Array2<f32> {
    let (m, n) = (a.nrows(), b.ncols());
    let mut c = Vec::with_capacity(m * n);
    // SAFETY: `gemm` writes every element of C (m·n floats at row stride n) before the
    // length covers them.
    unsafe {
        gemm_into(a, b, bias, c.as_mut_ptr(), n);
        c.set_len(m * n);
    }
    Array2::from_shape_vec((m, n), c).expect("m·n values")
}

/// A · B (+ bias) written over C [m, n], whose rows must be contiguous (C may be a column
/// block of a wider array).
fn matmul_into(a: ArrayView2<f32>, b: ArrayView2<f32>, bias: Option<&[f32]>, mut c: ArrayViewMut2<f32>) {
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "matmul output shape");
    assert!(c.ncols() <= 1 || c.strides()[1] == 1, "matmul output rows must be contiguous");
    let ldc = if c.nrows() > 1 { c.strides()[0] as usize } else { c.ncols() };
    // SAFETY: C is m × n at row stride ldc with unit column stride (checked above).
    unsafe { gemm_into(a, b, bias, c.as_mut_ptr(), ldc) }
}

/// # Safety
/// `c` must be valid for writes of m rows of n floats at row stride `ldc`.
unsafe fn gemm_into(a: ArrayView2<f32>, b: ArrayView2<f32>, bias: Option<&[f32]>, c: *mut f32, ldc: usize) {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert_eq!(b.nrows(), k, "matmul inner dimensions");
    assert!(bias.is_none_or(|b| b.len() == n), "bias length");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                *c.add(i * ldc + j) = bias.map_or(0.0, |b| b[j]);
            }
        }
        return;
    }
    // The tiles read A's rows as sequential streams at A's own row stride, so a column
    // block of a wider array (each head's queries) is read in place. `linear` and `unembed`
    // are public: an A whose rows are not contiguous (none this file makes) is copied first.
    let in_place = (k == 1 || a.strides()[1] == 1) && (m == 1 || a.strides()[0] >= 0);
    let a = if in_place { ndarray::CowArray::from(a) } else { a.as_standard_layout() };
    let stride = |v: isize| usize::try_from(v).expect("matmul strides are not negative");
    let (lda, rsb, csb) = (if m > 1 { stride(a.strides()[0]) } else { k }, stride(b.strides()[0]), stride(b.strides()[1]));
    let g = Gemm { m, k, n, a: a.as_ptr(), lda, b: b.as_ptr(), rsb, csb, c, ldc, bias: bias.map_or(std::ptr::null(), <[f32]>::as_ptr) };
    gemm(&g)
}

/// The blocked loop for one tile shape: MR rows by NR columns of C in registers, B packed
/// NC columns at a time. AVX2: the CPU is x86-64 with AVX2 and FMA (fused multiply-adds in
/// the tiles, 8×8 register transposes in the packing).
///
/// # Safety
/// `g` must describe valid arrays.
#[inline(always)]
unsafe fn gemm_blocked<const MR: usize, const NR: usize, const NC: usize, const AVX2: bool>(g: &Gemm) {
    // Many rows: B is packed a block of KC rows × NC columns at a time. With AVX-512, NC is
    // four strips: each row of the block is read as one run of 512 bytes (strip by strip,
    // the 128-byte rows of a strip lie a whole row of B apart, and for widths like 768 or
    // 3072 they crowd into a few cache sets). With narrower tiles, strip by strip measured
    // faster (NC = NR).
    //
    // Few rows (a short prompt): a packed panel would serve too few tiles to pay for the
    // copy, and B, read from memory once, is the bottleneck: what the first tile of a strip
    // asks for next (`Prefetch`) arrives while it works. A row-major B is then read in place,
    // in blocks of KC_FEW rows (a contiguous stretch of memory), prefetching the next block;
    // a transposed B (Uᵀ) is packed strip by strip with k unblocked, prefetching the next
    // strip (NR rows of U, contiguous).
    let few = g.m <= FEW_ROWS;
    let in_place = few && g.csb == 1;
    let (kc_max, nc_max) = match (few, g.csb == 1) {
        // (A B small enough to stay in the caches is better read without blocking k.)
        (true, true) if g.k * g.n <= CACHED => (g.k, NR),
        (true, true) => (KC_FEW.min(g.k), NR),
        (true, false) => (g.k, NR),
        (false, true) => (KC.min(g.k), NC),
        // A transposed B's strips are read along its contiguous columns: one at a time.
        (false, false) => (KC.min(g.k), NR),
    };
    let mut panels = vec![0.0f32; kc_max * nc_max];
    for pc in (0..g.k).step_by(kc_max) {
        let kc = kc_max.min(g.k - pc);
        // The first block stores into C, later ones add to it; the last one adds the bias.
        let (first, last) = (pc == 0, pc + kc == g.k);
        for jc in (0..g.n).step_by(nc_max) {
            let nc = nc_max.min(g.n - jc);
            let in_place = in_place && nc == NR;
            if !in_place {
                pack_panels::<NR, AVX2>(&mut panels, kc, nc, g.b.add(pc * g.rsb + jc * g.csb), g.rsb, g.csb);
            }
            for (strip, j0) in (jc..jc + nc).step_by(NR).enumerate() {
                let nr = NR.min(g.n - j0);
                let (b, ldb) = if in_place { (g.b.add(pc * g.rsb + j0), g.rsb) } else { (panels.as_ptr().add(strip * kc * NR), NR) };
                let bias = if last && !g.bias.is_null() { g.bias.add(j0) } else { std::ptr::null() };
                let prefetch = match (few, in_place) {
                    (false, _) => Prefetch::NONE,
                    // This strip's share of the next block of rows.
                    (true, true) if !last && kc == KC_FEW => Prefetch { at: g.b.add((pc + kc) * g.rsb + j0 * kc), stride: NR, ..Prefetch::NONE },
                    // The next strip of U.
                    (true, false) if g.csb != 1 && j0 + 2 * NR <= g.n => Prefetch { at: g.b.add((j0 + NR) * g.csb), stride: NR, ..Prefetch::NONE },
                    _ => Prefetch::NONE,
                };
                // The strip's tiles share the prefetching out, each asking for one row every
                // `tiles` steps: asked for all at once, the rows would queue up.
                let tiles = g.m.div_ceil(MR);
                for (r, i0) in (0..g.m).step_by(MR).enumerate() {
                    let rows = (r * kc / tiles, (r + 1) * kc / tiles);
                    let prefetch = Prefetch { at: prefetch.at.wrapping_add(rows.0 * prefetch.stride), rows: if prefetch.at.is_null() { 0 } else { rows.1 - rows.0 }, every: tiles, ..prefetch };
                    let t = Tile { kc, a: g.a.add(i0 * g.lda + pc), lda: g.lda, b, ldb, c: g.c.add(i0 * g.ldc + j0), ldc: g.ldc, nr, first, bias, prefetch };
                    // The last tile may have fewer rows: a tile shape for each count.
                    match MR.min(g.m - i0) {
                        r if r == MR => tile::<MR, NR, AVX2>(&t),
                        1 => tile::<1, NR, AVX2>(&t),
                        2 => tile::<2, NR, AVX2>(&t),
                        3 => tile::<3, NR, AVX2>(&t),
                        4 => tile::<4, NR, AVX2>(&t),
                        5 => tile::<5, NR, AVX2>(&t),
                        6 => tile::<6, NR, AVX2>(&t),
                        7 => tile::<7, NR, AVX2>(&t),
                        _ => unreachable!("tiles have at most 8 rows"),
                    }
                }
            }
        }
    }
}

/// Up to this many rows, B is read in place or packed strip by strip (see above).
const FEW_ROWS: usize = 16;

/// Below this many floats (1 MiB), a B read in place is taken to stay in the caches.
const CACHED: usize = 1 << 18;

/// Rows of B per block when B is read in place: the next block (KC_FEW·n floats, 768 KiB
/// for GPT-2-small's MLP) is prefetched into L2 while this one is used.
const KC_FEW: usize = 64;

/// Copies B's kc × nc block at `b` into panels of NR columns, one after another: panel s
/// holds columns s·NR.. with its row p at s·kc·NR + p·NR, zero beyond column nc.
#[inline(always)]
unsafe fn pack_panels<const NR: usize, const AVX2: bool>(panels: &mut [f32], kc: usize, nc: usize, b: *const f32, rsb: usize, csb: usize) {
    if csb == 1 {
        // B's rows are contiguous (W as stored): each row's nc floats are read in one run.
        for p in 0..kc {
            let src = b.add(p * rsb);
            for (s, j0) in (0..nc).step_by(NR).enumerate() {
                let row = &mut panels[(s * kc + p) * NR..][..NR];
                if j0 + NR <= nc {
                    // A fixed-size copy: a few vector moves, not a call to memmove.
                    row.copy_from_slice(&src.add(j0).cast::<[f32; NR]>().read_unaligned());
                } else {
                    row[..nc - j0].copy_from_slice(std::slice::from_raw_parts(src.add(j0), nc - j0));
                    row[nc - j0..].fill(0.0);
                }
            }
        }
    } else {
        for (panel, j0) in panels.chunks_exact_mut(kc * NR).zip((0..nc).step_by(NR)) {
            pack_panel::<NR, AVX2>(panel, kc, NR.min(nc - j0), b.add(j0 * csb), rsb, csb);
        }
    }
}

/// Copies B's kc × nr block at `b` into the panel, row p at p·NR, zero beyond column nr,
/// for a B whose rows are not contiguous (`pack_panels` copies the others row by row).
/// With B's columns contiguous (Uᵀ, Kᵀ) this is a transpose: element by element it cost as
/// much as the matmul (the compiler turned the strided writes into scatters), so with AVX
/// it goes by 8×8 blocks transposed in registers.
#[inline(always)]
unsafe fn pack_panel<const NR: usize, const AVX2: bool>(panel: &mut [f32], kc: usize, nr: usize, b: *const f32, rsb: usize, csb: usize) {
    let dst = panel.as_mut_ptr();
    #[cfg(target_arch = "x86_64")]
    let done = if AVX2 && rsb == 1 { pack_columns_avx::<NR>(dst, kc, nr, b, csb) } else { 0 };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for j in done..NR {
        let src = b.add(j * csb);
        for p in 0..kc {
            *dst.add(p * NR + j) = if j < nr { *src.add(p * rsb) } else { 0.0 };
        }
    }
}

/// The transposed packing's whole groups of 8 columns (contiguous in memory), by 8×8 blocks
/// transposed in registers; returns how many columns it packed.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pack_columns_avx<const NR: usize>(dst: *mut f32, kc: usize, nr: usize, b: *const f32, csb: usize) -> usize {
    let (p8, j8) = (kc - kc % 8, nr - nr % 8);
    for j in (0..j8).step_by(8) {
        for p in (0..p8).step_by(8) {
            transpose8x8(b.add(j * csb + p), csb, dst.add(p * NR + j), NR);
        }
        for jj in j..j + 8 {
            for p in p8..kc {
                *dst.add(p * NR + jj) = *b.add(jj * csb + p);
            }
        }
    }
    j8
}

/// dst row r, column c ← src row c, column r, for an 8×8 block (rows at the given strides;
/// src's columns contiguous, as for B's columns with rsb = 1): the classic AVX sequence of
/// unpacks, shuffles and lane permutes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose8x8(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * src_stride)));
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 { _mm256_unpacklo_ps(x, y) } else { _mm256_unpackhi_ps(x, y) }
    });
    // s[4h + q]: for rows 4h..4h+4, columns q, q+4 (lanes 0 and 1).
    let s: [__m256; 8] = std::array::from_fn(|i| {
        let (h, q) = (i / 4, i % 4);
        let (x, y) = (t[4 * h + q / 2], t[4 * h + 2 + q / 2]);
        if q % 2 == 0 { _mm256_shuffle_ps::<0x44>(x, y) } else { _mm256_shuffle_ps::<0xEE>(x, y) }
    });
    for c in 0..8 {
        let (x, y) = (s[c % 4], s[4 + c % 4]);
        let v = if c < 4 { _mm256_permute2f128_ps::<0x20>(x, y) } else { _mm256_permute2f128_ps::<0x31>(x, y) };
        _mm256_storeu_ps(dst.add(c * dst_stride), v);
    }
}

/// One MR×NR tile of C and what it is computed from.
struct Tile {
    kc: usize,
    a: *const f32,
    lda: usize,
    /// B's kc × NR block: the packed panel, or B itself.
    b: *const f32,
    /// Row stride of `b`: NR for the panel, B's own for B in place.
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    /// Columns of the tile inside C (the rest of the panel is zero padding).
    nr: usize,
    /// Store (first block of k) or add to C.
    first: bool,
    /// nr values to add (last block of k), or null.
    bias: *const f32,
    /// B that the next tiles will read, to bring into L2 meanwhile.
    prefetch: Prefetch,
}

/// `rows` rows of NR floats, `stride` apart from `at`, for a tile to ask for, one every
/// `every` steps of k.
#[derive(Clone, Copy)]
struct Prefetch {
    at: *const f32,
    stride: usize,
    rows: usize,
    every: usize,
}

impl Prefetch {
    const NONE: Prefetch = Prefetch { at: std::ptr::null(), stride: 0, rows: 0, every: 1 };
}

/// C[R×nr] (+)= A[R×kc] · panel[kc×NR]: the R×NR sums live in an array the compiler keeps in
/// SIMD registers (R·NR/16 zmm for AVX-512).
#[inline(always)]
unsafe fn tile<const R: usize, const NR: usize, const AVX2: bool>(t: &Tile) {
    let mut acc = [[0.0f32; NR]; R];
    let (mut pf, mut wait) = (t.prefetch, 0);
    for p in 0..t.kc {
        let b = t.b.add(p * t.ldb).cast::<[f32; NR]>().read_unaligned();
        // (Only where there is a prefetch instruction: elsewhere the count would be all.)
        if HAS_PREFETCH && pf.rows > 0 {
            if wait == 0 {
                for line in (0..NR).step_by(16) {
                    prefetch(pf.at.add(line));
                }
                (pf.at, pf.rows, wait) = (pf.at.wrapping_add(pf.stride), pf.rows - 1, pf.every);
            }
            wait -= 1;
        }
        for (i, acc) in acc.iter_mut().enumerate() {
            let a = *t.a.add(i * t.lda + p);
            for j in 0..NR {
                acc[j] = if AVX2 { a.mul_add(b[j], acc[j]) } else { acc[j] + a * b[j] };
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let c = t.c.add(i * t.ldc);
        if t.nr == NR {
            // A whole row of the tile: whole-vector loads and stores.
            let mut v = *row;
            if !t.first {
                let old = c.cast::<[f32; NR]>().read_unaligned();
                for j in 0..NR {
                    v[j] += old[j];
                }
            }
            if !t.bias.is_null() {
                let b = t.bias.cast::<[f32; NR]>().read_unaligned();
                for j in 0..NR {
                    v[j] += b[j];
                }
            }
            c.cast::<[f32; NR]>().write_unaligned(v);
        } else {
            // The last columns of C. (A copy of the row, indexed with a run-time bound:
            // indexing `acc` so would make the compiler keep all of it in memory, in the
            // loop above too.)
            let row: [f32; NR] = *row;
            for (j, &v) in row.iter().enumerate().take(t.nr) {
                let mut v = if t.first { v } else { *c.add(j) + v };
                if !t.bias.is_null() {
                    v += *t.bias.add(j);
                }
                *c.add(j) = v;
            }
        }
    }
}

/// Whether `prefetch` does anything: x86-64 has the instruction, wasm has none.
const HAS_PREFETCH: bool = cfg!(target_arch = "x86_64");

/// Asks for the 64-byte cache line at `p` to be brought into L2 (where HAS_PREFETCH).
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Runs the blocked matmul with the widest tile this CPU has registers for.
///
/// # Safety
/// `g` must describe valid arrays.
unsafe fn gemm(g: &Gemm) {
    #[cfg(target_arch = "x86_64")]
    match simd_level() {
        // 16 of the 32 zmm registers hold an 8×32 tile.
        Simd::Avx512 => return gemm_avx512(g),
        // 12 of the 16 ymm registers hold a 6×16 tile.
        Simd::Avx2 => return gemm_avx2(g),
        Simd::Base => {}
    }
    gemm_base(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gemm_avx512(g: &Gemm) {
    gemm_blocked::<8, 32, 128, true>(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2(g: &Gemm) {
    gemm_blocked::<6, 16, 16, true>(g)
}

/// 4×8: 8 of the 16 xmm registers (SSE2; wasm32 simd128). No fused multiply-add: SSE2 and
/// wasm's simd128 have none, and `mul_add` would call libm.
#[inline(never)]
unsafe fn gemm_base(g: &Gemm) {
    gemm_blocked::<4, 8, 8, false>(g)
}

// ---------------------------------------------------------------------------------------
// SIMD dispatch.

/// The SIMD an x86-64 CPU offers beyond the build's baseline (SSE2).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Simd {
    /// AVX-512F (and AVX2, FMA).
    Avx512,
    /// AVX2 and FMA.
    Avx2,
    Base,
}

/// Detected once by std and cached; a load and a test per call.
#[cfg(target_arch = "x86_64")]
fn simd_level() -> Simd {
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

    /// Every route through the blocked matmul, on this machine's CPU: the portable tile and,
    /// where the CPU has them, the AVX2 and AVX-512 ones; full and partial tiles and strips,
    /// one and several blocks of k, few rows (B in place or packed by strips) and many,
    /// transposed B, bias, and column blocks of wider arrays. Against a sum in f64.
    #[test]
    fn matmul_matches_a_plain_sum_on_every_path() {
        let mut seed = 7u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        type Path = (&'static str, unsafe fn(&Gemm));
        let mut paths: Vec<Path> = vec![("portable", gemm_base)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                paths.push(("avx2", gemm_avx2));
            }
            if is_x86_feature_detected!("avx512f") {
                paths.push(("avx512", gemm_avx512));
            }
        }
        for &(m, k, n) in &[(1, 1, 1), (3, 0, 5), (2, 7, 33), (5, 33, 40), (8, 300, 64), (9, 31, 77), (16, 600, 70), (17, 40, 33), (33, 257, 100), (70, 20, 65)] {
            for transposed in [false, true] {
                let a = Array2::from_shape_fn((m, k + 3), |_| rnd());
                let a = a.slice(s![.., 1..k + 1]); // rows spaced wider than k
                let w: Array2<f32> = Array2::from_shape_fn(if transposed { (n, k) } else { (k, n) }, |_| rnd());
                let b = if transposed { w.t() } else { w.view() };
                let bias: Vec<f32> = (0..n).map(|_| rnd()).collect();
                let want = |i: usize, j: usize| (0..k).map(|p| a[[i, p]] as f64 * b[[p, j]] as f64).sum::<f64>() + bias[j] as f64;
                for (name, path) in &paths {
                    let mut c = Array2::from_elem((m, n + 2), f32::NAN);
                    let mut cv = c.slice_mut(s![.., 1..n + 1]); // a column block of a wider array
                    let (ldc, cp) = (if m > 1 { cv.strides()[0] as usize } else { n }, cv.as_mut_ptr());
                    let g = Gemm { m, k, n, a: a.as_ptr(), lda: if m > 1 { a.strides()[0] as usize } else { k }, b: b.as_ptr(), rsb: b.strides()[0] as usize, csb: b.strides()[1] as usize, c: cp, ldc, bias: bias.as_ptr() };
                    if k == 0 {
                        // gemm_into's own case: the blocked loop needs k ≥ 1.
                        unsafe { gemm_into(a.view(), b, Some(&bias), cp, ldc) };
                    } else {
                        unsafe { path(&g) };
                    }
                    for i in 0..m {
                        assert!(c[[i, 0]].is_nan() && c[[i, n + 1]].is_nan(), "{name} m={m} k={k} n={n}: wrote outside C");
                        for j in 0..n {
                            let (got, want) = (c[[i, j + 1]] as f64, want(i, j));
                            assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{name} m={m} k={k} n={n} transposed={transposed} at ({i}, {j}): {got} vs {want}");
                        }
                    }
                }
                // An A with contiguous columns instead of rows, which gemm_into copies first.
                let a_cols = a.t().as_standard_layout().into_owned();
                let c = matmul(a_cols.t(), b, Some(&bias));
                for ((i, j), &got) in c.indexed_iter() {
                    let want = want(i, j);
                    assert!((got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "column-major A m={m} k={k} n={n} transposed={transposed} at ({i}, {j})");
                }
            }
        }
    }

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
            let got = linear(&x, &Linear { w: w.clone(), b: Some(b.clone()) });
            let u = w.t().as_standard_layout().into_owned(); // [n, k]
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
