//! The GPU backend against the CPU reference: every kernel on random inputs of awkward
//! sizes, each compared with the reference op (src/cpu/ops/), then whole
//! traces on the parity fixtures of the three families (GPT-2, Llama, Gemma 3), the
//! KV-cache step (across Gemma's sliding window too), head ablation, the fallback after a
//! lost device, and (ignored, run by hand) a GPT-2-small-shaped checkpoint.
//!
//! These tests FAIL when no GPU adapter exists (CI installs Mesa's llvmpipe Vulkan driver so
//! one does); set LLM_XRAY_SKIP_GPU=1 to skip them on a machine without any.
//!
//! The kernel tests use `gpu::check`, which only the `test-support` feature compiles; the
//! crate's dev-dependency on itself turns it on for `cargo test`, with no flags.
//!
//! Tolerances (f32 everywhere; differences come from summation order, GPU exp/tanh):
//! - elementwise add and scale, embedding gather, RoPE with the host's cos/sin: exact or
//!   1 ulp-ish;
//! - norms (QK-norm too), matmul, activations: ≤ 2e-5 × max(1, max |reference|);
//! - softmax, attention probabilities: ≤ 1e-6 absolute; masked scores exactly −∞;
//! - whole traces: hidden states and logits ≤ 1e-4 × reference scale, attention ≤ 1e-5.

mod common;
use common::*;
use llm_xray::config::Activation;
use llm_xray::cpu::ops as cpu;
use llm_xray::cpu::ops::Scheme;
use llm_xray::gpu::{check::Ops, GpuBackend, GpuOptions};
use llm_xray::trace::{Layout, PARTS};
use llm_xray::weights::{Linear, Matrix};
use llm_xray::{Ablation, Choice, CpuBackend, Engine, Model, Part, Parts, Sampling, Trace};
use ndarray::{Array1, Array2, ArrayView2};
use pollster::block_on;
use std::sync::Arc;

fn skip_allowed() -> bool {
    std::env::var("LLM_XRAY_SKIP_GPU").is_ok_and(|v| v == "1")
}

fn or_skip<T>(r: llm_xray::Result<T>) -> Option<T> {
    match r {
        Ok(x) => Some(x),
        Err(e) if skip_allowed() => {
            eprintln!("skipping: {e} (LLM_XRAY_SKIP_GPU=1)");
            None
        }
        Err(e) => panic!("{e}\n(set LLM_XRAY_SKIP_GPU=1 to skip the GPU tests on a machine without an adapter)"),
    }
}

fn ops() -> Option<Ops> {
    or_skip(block_on(Ops::new()))
}

fn gpu_with(model: Arc<Model>, opts: GpuOptions) -> Option<GpuBackend> {
    or_skip(block_on(GpuBackend::with_options(model, opts)))
}

fn gpu(model: Arc<Model>) -> Option<GpuBackend> {
    gpu_with(model, GpuOptions::default())
}

/// An engine running on the GPU; None (when skipping is allowed) where the GPU cannot start.
fn gpu_engine(model: Arc<Model>) -> Option<Engine> {
    let e = block_on(Engine::new(model, Choice::Gpu, true));
    if e.info().kind == "gpu" {
        return Some(e);
    }
    assert!(skip_allowed(), "no GPU: {}\n(set LLM_XRAY_SKIP_GPU=1 to skip the GPU tests on a machine without an adapter)", e.info().why);
    eprintln!("skipping: {} (LLM_XRAY_SKIP_GPU=1)", e.info().why);
    None
}

/// Deterministic uniform values in [lo, hi).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / (1u64 << 24) as f32
    }
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * self.next()).collect()
    }
}

fn arr(v: &[f32], rows: usize) -> Array2<f32> {
    Array2::from_shape_vec((rows, v.len() / rows.max(1)), v.to_vec()).unwrap()
}

#[test]
fn kernel_layer_norm_and_rms_norm() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(1);
    for (rows, n) in [(1, 1), (1, 33), (3, 300), (7, 769), (2, 768)] {
        // A large common offset: a one-pass variance would lose it.
        let x: Vec<f32> = r.vec(rows * n, -1.0, 1.0).into_iter().map(|v| v * 3.0 + 50.0).collect();
        let (g, b) = (r.vec(n, 0.5, 1.5), r.vec(n, -0.5, 0.5));
        let got = block_on(o.norm(&x, n, &g, Some(&b), 1e-5)).unwrap();
        let want = cpu::layer_norm(&arr(&x, rows), &Array1::from(g.clone()), &Array1::from(b), 1e-5);
        assert_close_scaled(&got, want.as_slice().unwrap(), 2e-5, &format!("layer_norm rows={rows} n={n}"));
        let got = block_on(o.norm(&x, n, &g, None, 1e-6)).unwrap();
        let want = cpu::rms_norm(&arr(&x, rows), &Array1::from(g), 1e-6);
        assert_close_scaled(&got, want.as_slice().unwrap(), 2e-5, &format!("rms_norm rows={rows} n={n}"));
    }
}

/// Per-head rows [heads, T, hd] (the kernels' layout) as rows [T, heads·hd] (the CPU's).
fn heads_to_rows(x: &[f32], heads: usize, hd: usize) -> Array2<f32> {
    let t = x.len() / (heads * hd);
    let per_head = ArrayView2::from_shape((heads * t, hd), x).unwrap();
    let mut rows = Array2::zeros((t, heads * hd));
    for h in 0..heads {
        for i in 0..t {
            rows.row_mut(i).slice_mut(ndarray::s![h * hd..(h + 1) * hd]).assign(&per_head.row(h * t + i));
        }
    }
    rows
}

/// Gemma 3's QK-norm: the RMSNorm kernel over rows one head wide, against the CPU's
/// `rms_norm_heads`, with Gemma's head width 256 among the sizes.
#[test]
fn kernel_qk_norm_equals_cpu_rms_norm_of_each_head() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(9);
    for (heads, t, hd) in [(1, 1, 2), (2, 3, 32), (4, 5, 256), (1, 7, 256), (3, 2, 300)] {
        let x: Vec<f32> = r.vec(heads * t * hd, -1.0, 1.0).into_iter().map(|v| v * 20.0 + 3.0).collect();
        let g = r.vec(hd, 0.5, 1.5);
        let got = block_on(o.qk_norm(&x, hd, &g, 1e-6)).unwrap();
        let mut rows = heads_to_rows(&x, heads, hd);
        cpu::rms_norm_heads(rows.view_mut(), &Array1::from(g), 1e-6);
        assert_close_scaled(&got, &cpu::split_heads(rows.view(), heads), 2e-5, &format!("QK-norm heads={heads} T={t} hd={hd}"));
    }
}

/// Gemma's token embedding × √width: one f32 product per value, as the CPU computes it.
#[test]
fn kernel_scale_equals_cpu_product() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(10);
    for (n, s) in [(1, 8.0f32), (640 * 3, (640f64).sqrt() as f32), (70001, 0.37)] {
        let x = r.vec(n, -0.2, 0.2);
        let got = block_on(o.scale(&x, s)).unwrap();
        let want = (Array1::from(x) * s).to_vec();
        assert_close_abs(&got, &want, 0.0, &format!("scale n={n} by {s}"));
    }
}

/// Both matmul kernels (64×64 tiles, and one column per thread for few rows), with and
/// without bias, and the transposed layout of the unembedding.
#[test]
fn kernel_matmul_linear_and_unembedding() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(2);
    for (m, k, n, trans, with_bias) in [
        (1, 1, 1, false, true),
        (1, 96, 288, false, true),
        (5, 33, 129, false, true),
        (65, 70, 63, false, false),
        (130, 17, 200, false, true),
        (1, 32, 5003, true, false),
        (3, 48, 1001, true, false),
        (70, 20, 65, true, false),
        // Up to 8 rows take the per-column kernel; 9 is the first tiled size.
        (2, 769, 300, false, true),
        (8, 50, 257, true, false),
        (5, 7, 19, true, false),
        (8, 31, 77, false, true),
        (9, 31, 77, false, true),
    ] {
        let (a, w, b) = (r.vec(m * k, -1.0, 1.0), r.vec(k * n, -1.0, 1.0), r.vec(n, -1.0, 1.0));
        let bias = with_bias.then_some(&b[..]);
        let got = block_on(o.matmul(&a, m, k, &w, n, bias, trans)).unwrap();
        let want = if trans {
            cpu::unembed(arr(&a, m).view(), &Matrix::F32(arr(&w, n)))
        } else {
            cpu::linear(&arr(&a, m), &Linear::f32(arr(&w, k), bias.map(|b| Array1::from(b.to_vec()))))
        };
        assert_close_scaled(&got, want.as_slice().unwrap(), 2e-5, &format!("matmul m={m} k={k} n={n} transposed={trans}"));
    }
}

/// GELU, ReLU and SiLU, alone and gated: GPT-2's GELU, SwiGLU (Llama) and GeGLU (Gemma:
/// GELU's tanh form on the gate).
#[test]
fn kernel_activations_gelu_relu_silu_and_gated() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(3);
    let mut x = r.vec(1000, -8.0, 8.0);
    x.extend([0.0, -0.0, 1e-6, -1e-6, 20.0, -20.0, 60.0, -60.0, 1e4, -1e4]);
    let up = r.vec(x.len(), -2.0, 2.0);
    for a in [Activation::GeluNew, Activation::Relu, Activation::Silu] {
        let got = block_on(o.activation(&x, a, None)).unwrap();
        let want: Vec<f32> = x.iter().map(|&v| cpu::activate(a, v)).collect();
        assert_close_scaled(&got, &want, 2e-5, &format!("{a:?}"));
        let got = block_on(o.activation(&x, a, Some(&up))).unwrap();
        let want: Vec<f32> = x.iter().zip(&up).map(|(&v, u)| cpu::activate(a, v) * u).collect();
        assert_close_scaled(&got, &want, 2e-5, &format!("gated {a:?}"));
    }
}

#[test]
fn kernel_residual_add() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(4);
    for n in [1, 255, 257, 70001] {
        let (a, b) = (r.vec(n, -5.0, 5.0), r.vec(n, -5.0, 5.0));
        let got = block_on(o.add(&a, &b)).unwrap();
        let want = (&Array1::from(a) + &Array1::from(b)).to_vec();
        assert_close_abs(&got, &want, 0.0, &format!("add n={n}"));
    }
}

/// A buffer smaller than the shapes say would be clamped on the GPU, not refused: the run
/// fails instead, naming the kernel and the binding.
#[test]
fn a_buffer_too_small_for_its_kernel_fails_the_run() {
    let Some(o) = ops() else { return };
    let err = block_on(o.add(&[1.0; 300], &[1.0; 10])).expect_err("b holds 10 values where the kernel reads 300");
    let msg = err.to_string();
    assert!(msg.contains("kernel add") && msg.contains("buffer b") && msg.contains("1200 bytes"), "{msg}");
}

#[test]
fn kernel_softmax_rows_including_large_vocab() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(5);
    for (rows, n) in [(1, 1), (3, 257), (2, 50257)] {
        let x = r.vec(rows * n, -30.0, 30.0);
        let got = block_on(o.softmax(&x, n)).unwrap();
        let mut want = x.clone();
        want.chunks_mut(n).for_each(cpu::softmax);
        assert_close_abs(&got, &want, 1e-6, &format!("softmax rows={rows} n={n}"));
    }
}

#[test]
fn kernel_embedding_gather_across_chunks() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(6);
    let (v, d) = (1001, 37);
    let table = r.vec(v * d, -1.0, 1.0);
    let ids = [0u32, 1000, 99, 100, 101, 500, 0, 999];
    let want = cpu::embedding(&Matrix::F32(arr(&table, v)), ids.iter().map(|&i| i as usize));
    for chunk in [1001, 100, 7, 1] {
        let got = block_on(o.embed(&ids, &table, d, chunk)).unwrap();
        assert_close_abs(&got, want.as_slice().unwrap(), 0.0, &format!("embedding gather, chunks of {chunk} rows"));
    }
}

#[test]
fn kernel_rope_equals_cpu_rotate_half() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(8);
    for (heads, t, hd, start, theta) in [(1, 1, 2, 0, 10000.0f32), (3, 5, 8, 0, 10000.0), (2, 3, 64, 7, 100000.0), (9, 1, 64, 300, 100000.0)] {
        let inv: Vec<f32> = (0..hd / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / hd as f32)).collect();
        let x = r.vec(heads * t * hd, -2.0, 2.0);
        let got = block_on(o.rope(&x, heads, hd, start, &inv)).unwrap();
        // The CPU rotates rows [T, heads·hd]; the kernel per-head rows [heads, T, hd].
        let mut rows = heads_to_rows(&x, heads, hd);
        cpu::rope(&mut rows, hd, start, &inv);
        assert_close_scaled(&got, &cpu::split_heads(rows.view(), heads), 1e-6, &format!("rope heads={heads} T={t} hd={hd} start={start}"));
    }
}

/// Split, cache append, scores with scale and causal mask, softmax, probabilities · values,
/// and head ablation, against `cpu::attention_with` with grouped-query heads and cache
/// offsets; and Gemma's scheme: another scale, and sliding windows (wider than the context,
/// one key wide, moving over a cache, and Gemma's 512 crossed by a long prompt).
#[test]
fn kernel_attention_with_grouped_queries_cache_offsets_ablation_and_windows() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(7);
    let tiny = load("tiny-llama").config.clone();
    // (T, tokens already cached, query heads, key/value heads, head width, ablated heads,
    // sliding window)
    for (t, start, h, kv, hd, ablate, window) in [
        (1, 0, 3, 3, 8, vec![], None),
        (1, 9, 3, 3, 8, vec![1], None),
        (5, 0, 4, 4, 8, vec![], None),
        (3, 4, 4, 2, 8, vec![0, 3], None),
        (17, 0, 5, 5, 8, vec![], None),
        (33, 20, 9, 3, 16, vec![4], None),
        (6, 0, 2, 1, 8, vec![], Some(4)),
        (3, 0, 2, 1, 8, vec![], Some(9)),
        (1, 9, 4, 1, 8, vec![], Some(4)),
        (5, 7, 4, 2, 8, vec![1], Some(1)),
        (40, 600, 4, 1, 16, vec![], Some(512)),
    ] {
        let (qw, kvw) = (h * hd, kv * hd);
        let qkv = r.vec(t * (qw + 2 * kvw), -2.0, 2.0);
        let (pk, pv) = (r.vec(start * kvw, -2.0, 2.0), r.vec(start * kvw, -2.0, 2.0));
        let cfg = llm_xray::Config { n_layer: 1, n_head: h, head_dim: hd, ..tiny.clone() };
        let ablation = Ablation::zero(&cfg, &ablate.iter().map(|&x| (0, x)).collect::<Vec<_>>());
        // Gemma's scale where there is a window (query_pre_attn_scalar 24 with heads of 8 or
        // 16), 1/√hd elsewhere.
        let scale = if window.is_some() { (24f64).powf(-0.5) as f32 } else { 1.0 / (hd as f32).sqrt() };
        let scheme = Scheme { scale, window };
        let got = block_on(o.attention(&qkv, &pk, &pv, (h, kv, hd), scheme, ablation.layer_mask(0, h, hd))).unwrap();

        let qkv = arr(&qkv, t);
        let q = qkv.slice(ndarray::s![.., ..qw]);
        let (k, v) = (qkv.slice(ndarray::s![.., qw..qw + kvw]), qkv.slice(ndarray::s![.., qw + kvw..]));
        let past = |p: &[f32]| Array2::from_shape_vec((start, kvw), p.to_vec()).unwrap();
        let (pk, pv) = (past(&pk), past(&pv));
        let keys = ndarray::concatenate(ndarray::Axis(0), &[pk.view(), k]).unwrap();
        let values = ndarray::concatenate(ndarray::Axis(0), &[pv.view(), v]).unwrap();
        let mut want = cpu::attention_with(q, keys.view(), values.view(), start, (h, kv), scheme, (true, true));
        ablation.apply(0, &mut want.heads, hd);

        let what = |s: &str| format!("attention T={t} start={start} H={h} Hkv={kv} window={window:?}: {s}");
        assert_close_abs(&got.q, &cpu::split_heads(q, h), 0.0, &what("q [H,T,hd]"));
        assert_close_abs(&got.k, &cpu::split_heads(k, kv), 0.0, &what("k [Hkv,T,hd]"));
        assert_close_abs(&got.v, &cpu::split_heads(v, kv), 0.0, &what("v [Hkv,T,hd]"));
        for (g, w) in got.scores.iter().zip(&want.scores) {
            assert_eq!(g.is_finite(), w.is_finite(), "{}", what("mask differs"));
        }
        assert_close_scaled(&got.scores, &want.scores, 2e-5, &what("scores"));
        assert_close_abs(&got.probs, &want.probs, 1e-6, &what("probabilities"));
        assert_close_scaled(&got.z, want.heads.as_slice().unwrap(), 2e-5, &what("head outputs, ablated heads zero"));
    }
}

/// A comparison of (ours, reference, what) that panics on a mismatch.
type Check<'a> = &'a dyn Fn(&[f32], &[f32], &str);

/// Every part of two traces, from the one description of the parts, with the tolerances above.
fn assert_traces_match(g: &Trace, c: &Trace, what: &str) {
    assert_eq!(g.tokens, c.tokens, "{what}: tokens");
    assert_eq!(g.start_position, c.start_position, "{what}: start_position");
    let hidden = |a: &[f32], b: &[f32], w: &str| assert_close_scaled(a, b, 1e-4, w);
    let probs = |a: &[f32], b: &[f32], w: &str| assert_close_abs(a, b, 1e-5, w);
    let scores = |a: &[f32], b: &[f32], w: &str| {
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.is_finite(), y.is_finite(), "{w}: causal mask differs");
        }
        assert_close_scaled(a, b, 1e-4, w)
    };
    assert_eq!(g.layers.len(), c.layers.len());
    for spec in PARTS.iter() {
        let check: Check = match spec.part {
            Part::AttnScores => &scores,
            Part::AttnProbs | Part::Probs => &probs,
            _ => &hidden,
        };
        let layers: Vec<Option<usize>> = if spec.part.is_layer() { (0..g.layers.len()).map(Some).collect() } else { vec![None] };
        for l in layers {
            fn get(tr: &Trace, l: Option<usize>, p: Part) -> Option<&llm_xray::Tensor> {
                match l {
                    Some(l) => tr.layer(l, p),
                    None => tr.get(p),
                }
            }
            let get = |tr| get(tr, l, spec.part);
            let name = format!("{what}: {} of layer {l:?}", spec.name);
            assert_eq!(get(g).is_some(), get(c).is_some(), "{name} recorded by one backend only");
            if let (Some(a), Some(b)) = (get(g), get(c)) {
                assert_eq!(a.shape, b.shape, "{name} shape");
                check(&a.data, &b.data, &name);
            }
        }
    }
    assert_close_scaled(&g.next_logits, &c.next_logits, 1e-4, &format!("{what}: next_logits"));
}

fn prompts(name: &str) -> Vec<Vec<u32>> {
    read_json(&format!("{name}/reference.json"))["prompts"].as_array().unwrap().iter().map(|p| ids_of(&p["ids"])).collect()
}

fn whole_trace_matches_cpu(name: &str, opts: GpuOptions) {
    whole_trace_of_model_matches_cpu(load(name), &prompts(name), name, opts);
}

fn whole_trace_of_model_matches_cpu(model: Arc<Model>, prompts: &[Vec<u32>], name: &str, opts: GpuOptions) {
    let Some(mut g) = gpu_with(model.clone(), opts) else { return };
    let mut c = CpuBackend::new(model.clone());
    for (i, ids) in prompts.iter().enumerate() {
        let what = format!("{name} prompt {i} ({} tokens)", ids.len());
        assert_traces_match(&block_on(g.trace(ids, Parts::all())).unwrap(), &c.trace(ids, Parts::all()).unwrap(), &what);
    }
    // The last position of the context, and a one-token prompt.
    let full: Vec<u32> = (0..model.config.n_positions as u32).map(|i| i * 37 % 400).collect();
    assert_traces_match(&block_on(g.trace(&full, Parts::all())).unwrap(), &c.trace(&full, Parts::all()).unwrap(), &format!("{name} full context"));
    assert_traces_match(&block_on(g.trace(&[7], Parts::all())).unwrap(), &c.trace(&[7], Parts::all()).unwrap(), &format!("{name} T=1"));
}

#[test]
fn trace_equals_cpu_gpt2_fixtures() {
    for name in ["tiny-hf", "tiny-bare", "tiny-f16"] {
        whole_trace_matches_cpu(name, GpuOptions::default());
    }
}

#[test]
fn trace_equals_cpu_llama_family_fixtures() {
    for name in ["tiny-llama", "tiny-qwen2", "tiny-llama-gguf"] {
        whole_trace_matches_cpu(name, GpuOptions::default());
    }
}

/// Gemma 3: the scaled embedding, QK-norm, both RoPE bases, the sliding window (4 tokens, so
/// the prompts and the full context of 32 cross it), the attention scale and the
/// post-norms; from an HF folder (norms stored as w of 1 + w), llama.cpp's GGUF (defaults
/// the file lacks) and a GGUF with its own layer pattern and local base.
#[test]
fn trace_equals_cpu_gemma3_fixtures() {
    for name in ["tiny-gemma3", "tiny-gemma3-gguf"] {
        whole_trace_matches_cpu(name, GpuOptions::default());
    }
    let path = fixture("tiny-gemma3-gguf/pattern.gguf");
    let model = Arc::new(Model::load(&path).unwrap());
    let prompts: Vec<Vec<u32>> =
        read_json("tiny-gemma3-gguf/pattern_reference.json")["prompts"].as_array().unwrap().iter().map(|p| ids_of(&p["ids"])).collect();
    whole_trace_of_model_matches_cpu(model, &prompts, "pattern.gguf", GpuOptions::default());
}

#[test]
fn trace_equals_cpu_with_tables_split_across_bindings() {
    // 4 KiB bindings: wte/lm_head (400 × 32 f32 = 51 KB) in 13 chunks, logits in row blocks of 2.
    for name in ["tiny-hf", "tiny-bare", "tiny-llama", "tiny-gemma3"] {
        whole_trace_matches_cpu(name, GpuOptions { max_binding_bytes: Some(4096) });
    }
}

/// One token at a time after a prefix equals the CPU's steps; on tiny-gemma3 the steps move
/// its 4-token sliding window over the cache.
#[test]
fn kv_cache_steps_equal_cpu_steps() {
    for name in ["tiny-hf", "tiny-llama", "tiny-gemma3"] {
        let model = load(name);
        let Some(mut g) = gpu(model.clone()) else { return };
        let mut c = CpuBackend::new(model.clone());
        let ids = model.encode_prompt("It's 3:45, ok? The fox.").unwrap();
        let (head, tail) = ids.split_at(3);
        assert_traces_match(&block_on(g.trace(head, Parts::all())).unwrap(), &c.trace(head, Parts::all()).unwrap(), "prefix");
        for (i, &id) in tail[..tail.len() - 2].iter().enumerate() {
            assert_traces_match(&block_on(g.run(&[id], Parts::all())).unwrap(), &c.run(&[id], Parts::all()).unwrap(), &format!("{name} step {i}"));
            assert_eq!(g.context_len(), c.context_len());
        }
        // A multi-token step after a cache.
        let last = &tail[tail.len() - 2..];
        assert_traces_match(&block_on(g.run(last, Parts::all())).unwrap(), &c.run(last, Parts::all()).unwrap(), "two-token step");
        // Going back: truncating the cache and running again equals running from there.
        g.truncate(4);
        c.truncate(4);
        assert_traces_match(&block_on(g.run(&ids[4..6], Parts::all())).unwrap(), &c.run(&ids[4..6], Parts::all()).unwrap(), "after a rewind");
        // Overflowing the context is refused, as on the CPU.
        g.reset();
        let n = model.config.n_positions;
        block_on(g.run(&vec![1; n], Parts::none())).unwrap();
        assert!(block_on(g.run(&[1], Parts::none())).is_err(), "a token past n_positions must be refused");
    }
}

#[test]
fn unrequested_parts_are_not_recorded() {
    let model = load("tiny-llama");
    let Some(mut g) = gpu(model.clone()) else { return };
    let mut c = CpuBackend::new(model.clone());
    let ids = [5, 9, 200, 3];
    for parts in [Parts::none(), Parts::of(&[Part::AttnProbs, Part::Logits]), Parts::of(&[Part::Probs, Part::QRot, Part::PosEmb])] {
        assert_traces_match(&block_on(g.trace(&ids, parts)).unwrap(), &c.trace(&ids, parts).unwrap(), &format!("{parts:?}"));
    }
}

#[test]
fn head_ablation_in_the_kernels_equals_the_cpu() {
    for name in ["tiny-hf", "tiny-llama", "tiny-gemma3"] {
        let model = load(name);
        let Some(mut g) = gpu(model.clone()) else { return };
        let mut c = CpuBackend::new(model.clone());
        let ids = prompts(name).remove(0);
        let heads = [(0, 1), (1, 3.min(model.config.n_head - 1))];
        let z = c.trace(&ids, Parts::of(&[Part::HeadOutputs])).unwrap();
        let means: Vec<&[f32]> = z.layers.iter().map(|l| l.get(Part::HeadOutputs).unwrap().data.as_slice()).collect();
        for a in [Ablation::zero(&model.config, &heads), Ablation::mean(&model.config, &heads, &means)] {
            g.set_ablation(a.clone());
            c.set_ablation(a);
            assert_traces_match(&block_on(g.trace(&ids, Parts::all())).unwrap(), &c.trace(&ids, Parts::all()).unwrap(), &format!("{name} ablated"));
        }
    }
}

#[test]
fn greedy_generation_equals_cpu() {
    let model = load("tiny-llama");
    let Some(mut ge) = gpu_engine(model.clone()) else { return };
    let mut ce = Engine::cpu(model.clone());
    let ids = model.encode_prompt("The fox").unwrap();
    let s = Sampling::default();
    let a = block_on(llm_xray::generate(&mut ge, &ids, 12, &s, false)).unwrap();
    let b = block_on(llm_xray::generate(&mut ce, &ids, 12, &s, false)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn adapter_is_described() {
    let model = load("tiny-hf");
    let Some(g) = gpu(model) else { return };
    let a = g.adapter();
    assert!(!a.name.is_empty() && !a.backend.is_empty());
    assert!(g.describe().contains(&a.name));
    eprintln!("adapter: {}", g.describe());
}

/// A GPT-2-small-shaped checkpoint (124M parameters, random weights) written by
/// scripts/make_gpt2_small_random.py into target/gpt2-small-random (or $LLM_XRAY_GPT2_SMALL).
/// Its wte (154 MB) is more than WebGPU's default 128 MiB binding: split as on the web.
#[test]
#[ignore = "needs the ~500 MB output of scripts/make_gpt2_small_random.py; about 10 s on llvmpipe"]
fn gpt2_small_shaped_trace_equals_cpu() {
    let dir = std::env::var("LLM_XRAY_GPT2_SMALL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/gpt2-small-random"));
    let model = Arc::new(Model::load(&dir).unwrap_or_else(|e| panic!("{e}\nrun: python3 scripts/make_gpt2_small_random.py {}", dir.display())));
    assert_eq!(model.config.n_embd, 768);
    let Some(mut g) = gpu_with(model.clone(), GpuOptions { max_binding_bytes: Some(128 << 20) }) else { return };
    let mut c = CpuBackend::new(model.clone());
    let ids = model.encode_prompt("Hello, my dog is a little").unwrap();
    let t0 = std::time::Instant::now();
    let gt = block_on(g.trace(&ids, Parts::all())).unwrap();
    eprintln!("GPU trace of {} tokens: {:?} on {}", ids.len(), t0.elapsed(), g.describe());
    assert_traces_match(&gt, &c.trace(&ids, Parts::all()).unwrap(), "gpt2-small-shaped");
    assert_traces_match(&block_on(g.run(&[11], Parts::all())).unwrap(), &c.run(&[11], Parts::all()).unwrap(), "gpt2-small-shaped step");
}

#[test]
fn a_lost_device_falls_back_to_the_cpu_without_losing_the_run() {
    let model = load("tiny-hf");
    let Some(mut e) = gpu_engine(model.clone()) else { return };
    let mut c = CpuBackend::new(model.clone());
    let ids = [5u32, 9, 200, 3, 17, 44];
    // Two GPU runs (prompt, one step), then the device is destroyed, as a lost device is:
    // the context is replayed on the CPU and the third run still returns its trace.
    for (i, chunk) in [&ids[..3], &ids[3..4]].into_iter().enumerate() {
        assert_traces_match(&block_on(e.run(chunk, Parts::all())).unwrap(), &c.run(chunk, Parts::all()).unwrap(), &format!("run {i}"));
    }
    e.gpu().expect("the GPU runs").destroy();
    assert_traces_match(&block_on(e.run(&ids[4..6], Parts::all())).unwrap(), &c.run(&ids[4..6], Parts::all()).unwrap(), "run after the loss");
    assert_eq!(e.info().kind, "cpu", "after the failure the CPU runs");
    assert!(e.info().why.contains("failed") && e.take_notice().is_some(), "{}", e.info().why);
    assert_eq!(e.context_len(), ids.len());
}

/// Every model the page ships (www/models/index.json): the GPU trace of a real prompt and
/// of a few KV-cache steps after it equals the CPU's.
#[test]
fn trace_equals_cpu_on_shipped_models() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    for entry in index["models"].as_array().unwrap() {
        let Some(folder) = entry["folder"].as_str().map(|f| root.join(f)) else { continue };
        if !folder.join("config.json").exists() {
            continue; // fetched by `npm run models`, not shipped
        }
        let model = Arc::new(Model::load(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display())));
        let Some(mut g) = gpu(model.clone()) else { return };
        let mut c = CpuBackend::new(model.clone());
        let text = "ROMEO: But soft, what light through yonder window breaks? It is the east";
        let mut ids = model.tokenizer.encode_ids(text);
        ids.truncate(model.config.n_positions - 3);
        let what = format!("{} ({} tokens)", folder.display(), ids.len());
        let (gt, ct) = (block_on(g.trace(&ids, Parts::all())).unwrap(), c.trace(&ids, Parts::all()).unwrap());
        assert_traces_match(&gt, &ct, &what);
        let mut next = llm_xray::sampling::argmax(&ct.next_logits);
        for step in 1..=3 {
            let (gs, cs) = (block_on(g.run(&[next], Parts::all())).unwrap(), c.run(&[next], Parts::all()).unwrap());
            assert_traces_match(&gs, &cs, &format!("{what} step {step}"));
            next = llm_xray::sampling::argmax(&cs.next_logits);
        }
    }
}

/// Each part's layout (which the session's store uses to cut and join tensors by token)
/// agrees with its shape: tokens on the axis the layout names.
#[test]
fn part_layouts_match_their_shapes() {
    let cfg = load("tiny-llama").config.clone();
    let d = llm_xray::trace::Dims::new(&cfg, 2, 3);
    for spec in PARTS.iter() {
        let shape = (spec.shape)(&d);
        match spec.layout {
            Layout::Rows => assert_eq!((shape.len(), shape[0]), (2, 3), "{}", spec.name),
            Layout::Heads => assert_eq!((shape.len(), shape[1]), (3, 3), "{}", spec.name),
            Layout::Keys => assert_eq!(shape[1..], [3, 5], "{}", spec.name),
        }
    }
}
