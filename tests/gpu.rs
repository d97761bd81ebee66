//! The GPU backend against the CPU reference: every kernel on random inputs of awkward
//! sizes, then whole traces on the parity fixtures, the KV-cache step, and (ignored, run
//! by hand) a GPT-2-small-shaped checkpoint.
//!
//! These tests FAIL when no GPU adapter exists (CI installs Mesa's llvmpipe Vulkan driver so
//! one does); set LLM_XRAY_SKIP_GPU=1 to skip them on a machine without any.
//!
//! Tolerances (f32 everywhere; differences come from summation order, GPU exp/tanh):
//! - elementwise add, embedding gather: exact;
//! - layer norm, matmul, activation: ≤ 2e-5 × max(1, max |reference|);
//! - softmax, attention probabilities: ≤ 1e-6 absolute; masked scores exactly −∞;
//! - whole traces: hidden states and logits ≤ 1e-4 × reference scale, attention ≤ 1e-5.

mod common;
use common::*;
use llm_xray::config::Activation;
use llm_xray::gpu::{ops::Ops, GpuBackend, GpuOptions};
use llm_xray::{Backend, CpuBackend, Model, Part, Parts, Sampling, Tensor, Trace};
use std::sync::Arc;

fn skip_allowed() -> bool {
    std::env::var("LLM_XRAY_SKIP_GPU").is_ok_and(|v| v == "1")
}

fn ops() -> Option<Ops> {
    match pollster::block_on(Ops::new()) {
        Ok(o) => Some(o),
        Err(e) if skip_allowed() => {
            eprintln!("skipping: {e} (LLM_XRAY_SKIP_GPU=1)");
            None
        }
        Err(e) => panic!("{e}\n(set LLM_XRAY_SKIP_GPU=1 to skip the GPU tests on a machine without an adapter)"),
    }
}

fn gpu_with(model: Arc<Model>, opts: GpuOptions) -> Option<GpuBackend> {
    match pollster::block_on(GpuBackend::with_options(model, opts)) {
        Ok(g) => Some(g),
        Err(e) if skip_allowed() => {
            eprintln!("skipping: {e} (LLM_XRAY_SKIP_GPU=1)");
            None
        }
        Err(e) => panic!("{e}\n(set LLM_XRAY_SKIP_GPU=1 to skip the GPU tests on a machine without an adapter)"),
    }
}

fn gpu(model: Arc<Model>) -> Option<GpuBackend> {
    gpu_with(model, GpuOptions::default())
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

fn scaled(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_close_scaled(a, b, tol, what)
}

#[test]
fn kernel_layer_norm() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(1);
    for (rows, n) in [(1, 1), (1, 33), (3, 300), (7, 769), (2, 768)] {
        // A large common offset: a one-pass variance would lose it.
        let x: Vec<f32> = r.vec(rows * n, -1.0, 1.0).into_iter().map(|v| v * 3.0 + 50.0).collect();
        let (g, b) = (r.vec(n, 0.5, 1.5), r.vec(n, -0.5, 0.5));
        let got = pollster::block_on(o.layer_norm(&x, n, &g, &b, 1e-5)).unwrap();
        let xa = ndarray::Array2::from_shape_vec((rows, n), x).unwrap();
        let want = llm_xray::cpu::layer_norm(&xa, &g.into(), &b.into(), 1e-5);
        scaled(&got, want.as_slice().unwrap(), 2e-5, &format!("layer_norm rows={rows} n={n}"));
    }
}

fn matmul_ref(a: &[f32], m: usize, k: usize, w: &[f32], n: usize, bias: Option<&[f32]>, trans: bool) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f64;
            for kk in 0..k {
                let wv = if trans { w[j * k + kk] } else { w[kk * n + j] };
                s += a[i * k + kk] as f64 * wv as f64;
            }
            c[i * n + j] = s as f32 + bias.map_or(0.0, |b| b[j]);
        }
    }
    c
}

/// Both matmul kernels (64×64 tiles, and one column per thread for few rows), both weight
/// layouts.
#[test]
fn kernel_matmul_conv1d_and_transposed() {
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
        (70, 20, 65, true, true),
        // Up to 8 rows take the per-column kernel; 9 is the first tiled size.
        (2, 769, 300, false, true),
        (8, 50, 257, true, false),
        (5, 7, 19, true, false),
        (2, 40, 33, true, true),
        (8, 31, 77, false, true),
        (9, 31, 77, false, true),
    ] {
        let (a, w, b) = (r.vec(m * k, -1.0, 1.0), r.vec(k * n, -1.0, 1.0), r.vec(n, -1.0, 1.0));
        let bias = with_bias.then_some(&b[..]);
        let got = pollster::block_on(o.matmul(&a, m, k, &w, n, bias, trans)).unwrap();
        let want = matmul_ref(&a, m, k, &w, n, bias, trans);
        scaled(&got, &want, 2e-5, &format!("matmul m={m} k={k} n={n} transposed={trans}"));
    }
}

#[test]
fn kernel_activation_gelu_new_and_relu() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(3);
    let mut x = r.vec(1000, -8.0, 8.0);
    x.extend([0.0, -0.0, 1e-6, -1e-6, 20.0, -20.0, 60.0, -60.0, 1e4, -1e4]);
    let got = pollster::block_on(o.activation(&x, Activation::GeluNew)).unwrap();
    for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
        let want = llm_xray::cpu::gelu_new(v);
        assert!((g - want).abs() <= 2e-5 * want.abs().max(1.0), "gelu_new({v}) = {g}, expected {want} (index {i})");
    }
    let got = pollster::block_on(o.activation(&x, Activation::Relu)).unwrap();
    assert_close_abs(&got, &x.iter().map(|v| v.max(0.0)).collect::<Vec<_>>(), 0.0, "relu");
}

#[test]
fn kernel_residual_add() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(4);
    for n in [1, 255, 257, 70001] {
        let (a, b) = (r.vec(n, -5.0, 5.0), r.vec(n, -5.0, 5.0));
        let got = pollster::block_on(o.add(&a, &b)).unwrap();
        let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert_close_abs(&got, &want, 0.0, &format!("add n={n}"));
    }
}

#[test]
fn kernel_softmax_rows_including_large_vocab() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(5);
    for (rows, n) in [(1, 1), (3, 257), (2, 50257)] {
        let x = r.vec(rows * n, -30.0, 30.0);
        let got = pollster::block_on(o.softmax(&x, n)).unwrap();
        let mut want = x.clone();
        want.chunks_mut(n).for_each(llm_xray::cpu::softmax);
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
    for chunk in [1001, 100, 7, 1] {
        let got = pollster::block_on(o.embed(&ids, &table, d, chunk)).unwrap();
        let want: Vec<f32> = ids.iter().flat_map(|&i| table[i as usize * d..(i as usize + 1) * d].to_vec()).collect();
        assert_close_abs(&got, &want, 0.0, &format!("embedding gather, chunks of {chunk} rows"));
    }
}

/// The CPU attention of one layer, written out loop by loop.
fn attention_ref(qkv: &[f32], pk: &[f32], pv: &[f32], d: usize, nh: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (t, start, hd) = (qkv.len() / (3 * d), pk.len() / d, d / nh);
    let tk = start + t;
    let mut k = pk.to_vec();
    let mut v = pv.to_vec();
    for i in 0..t {
        k.extend(&qkv[i * 3 * d + d..i * 3 * d + 2 * d]);
        v.extend(&qkv[i * 3 * d + 2 * d..i * 3 * d + 3 * d]);
    }
    let scale = 1.0 / (hd as f32).sqrt();
    let (mut scores, mut probs, mut out) = (vec![0f32; nh * t * tk], vec![0f32; nh * t * tk], vec![0f32; t * d]);
    for h in 0..nh {
        for i in 0..t {
            let row = &mut scores[(h * t + i) * tk..(h * t + i + 1) * tk];
            for j in 0..tk {
                row[j] = if j > start + i {
                    f32::NEG_INFINITY
                } else {
                    (0..hd).map(|e| qkv[i * 3 * d + h * hd + e] * k[j * d + h * hd + e]).sum::<f32>() * scale
                };
            }
            let p = &mut probs[(h * t + i) * tk..(h * t + i + 1) * tk];
            p.copy_from_slice(row);
            llm_xray::cpu::softmax(p);
            for e in 0..hd {
                out[i * d + h * hd + e] = (0..tk).map(|j| p[j] * v[j * d + h * hd + e]).sum();
            }
        }
    }
    (scores, probs, out)
}

#[test]
fn kernel_attention_scores_mask_softmax_values() {
    let Some(o) = ops() else { return };
    let mut r = Lcg(7);
    // (T, tokens already cached, d, heads): T=1, a KV step after a cache, sizes off 256.
    for (t, start, d, nh) in [(1, 0, 24, 3), (1, 9, 24, 3), (5, 0, 32, 4), (3, 4, 32, 4), (17, 0, 40, 5), (33, 20, 64, 2)] {
        let qkv = r.vec(t * 3 * d, -2.0, 2.0);
        let (pk, pv) = (r.vec(start * d, -2.0, 2.0), r.vec(start * d, -2.0, 2.0));
        let got = pollster::block_on(o.attention(&qkv, &pk, &pv, d, nh)).unwrap();
        let (scores, probs, out) = attention_ref(&qkv, &pk, &pv, d, nh);
        let what = |s: &str| format!("attention T={t} start={start} d={d} H={nh}: {s}");
        let heads = |off: usize| Tensor::new(vec![nh, t, d / nh], {
            let hd = d / nh;
            (0..nh).flat_map(|h| (0..t).flat_map(move |i| (0..hd).map(move |e| (h, i, e)))).map(|(h, i, e)| qkv[i * 3 * d + off + h * (d / nh) + e]).collect()
        });
        assert_close_abs(&got.q, &heads(0).data, 0.0, &what("q [H,T,hd]"));
        assert_close_abs(&got.k, &heads(d).data, 0.0, &what("k [H,T,hd]"));
        assert_close_abs(&got.v, &heads(2 * d).data, 0.0, &what("v [H,T,hd]"));
        for (g, w) in got.scores.iter().zip(&scores) {
            assert_eq!(g.is_finite(), w.is_finite(), "{}", what("mask differs"));
        }
        scaled(&got.scores, &scores, 2e-5, &what("scores"));
        assert_close_abs(&got.probs, &probs, 1e-6, &what("probabilities"));
        scaled(&got.out, &out, 2e-5, &what("probabilities · values"));
    }
}

/// A comparison of (ours, reference, what) that panics on a mismatch.
type Check<'a> = &'a dyn Fn(&[f32], &[f32], &str);

/// Every part of two traces, with the tolerances.
fn assert_traces_match(g: &Trace, c: &Trace, what: &str) {
    assert_eq!(g.tokens, c.tokens, "{what}: tokens");
    assert_eq!(g.start_position, c.start_position, "{what}: start_position");
    let both = |a: &Option<Tensor>, b: &Option<Tensor>, name: &str, f: Check| {
        assert_eq!(a.is_some(), b.is_some(), "{what}: {name} recorded by one backend only");
        if let (Some(a), Some(b)) = (a, b) {
            assert_eq!(a.shape, b.shape, "{what}: {name} shape");
            f(&a.data, &b.data, &format!("{what}: {name}"));
        }
    };
    let hidden = |a: &[f32], b: &[f32], w: &str| assert_close_scaled(a, b, 1e-4, w);
    let attn = |a: &[f32], b: &[f32], w: &str| assert_close_abs(a, b, 1e-5, w);
    let scores = |a: &[f32], b: &[f32], w: &str| {
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.is_finite(), y.is_finite(), "{w}: causal mask differs");
        }
        assert_close_scaled(a, b, 1e-4, w)
    };
    both(&g.token_embeddings, &c.token_embeddings, "token_embeddings", &hidden);
    both(&g.position_embeddings, &c.position_embeddings, "position_embeddings", &hidden);
    assert_eq!(g.layers.len(), c.layers.len());
    for (l, (a, b)) in g.layers.iter().zip(&c.layers).enumerate() {
        let n = |s: &str| format!("layer {l} {s}");
        both(&a.ln_1, &b.ln_1, &n("ln_1"), &hidden);
        both(&a.q, &b.q, &n("q"), &hidden);
        both(&a.k, &b.k, &n("k"), &hidden);
        both(&a.v, &b.v, &n("v"), &hidden);
        both(&a.attention_scores, &b.attention_scores, &n("attention_scores"), &scores);
        both(&a.attentions, &b.attentions, &n("attentions"), &attn);
        both(&a.attention_output, &b.attention_output, &n("attention_output"), &hidden);
        both(&a.residual_after_attention, &b.residual_after_attention, &n("residual_after_attention"), &hidden);
        both(&a.ln_2, &b.ln_2, &n("ln_2"), &hidden);
        both(&a.mlp_pre_activation, &b.mlp_pre_activation, &n("mlp_pre_activation"), &hidden);
        both(&a.mlp_activation, &b.mlp_activation, &n("mlp_activation"), &hidden);
        both(&a.mlp_output, &b.mlp_output, &n("mlp_output"), &hidden);
        both(&a.residual_after_mlp, &b.residual_after_mlp, &n("residual_after_mlp"), &hidden);
    }
    both(&g.ln_f, &c.ln_f, "ln_f", &hidden);
    both(&g.logits, &c.logits, "logits", &hidden);
    both(&g.probabilities, &c.probabilities, "probabilities", &attn);
    assert_close_scaled(&g.next_logits, &c.next_logits, 1e-4, &format!("{what}: next_logits"));
}

fn prompts(name: &str) -> Vec<Vec<u32>> {
    let reference = read_json(&format!("{name}/reference.json"));
    reference["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect())
        .collect()
}

fn whole_trace_matches_cpu(name: &str, opts: GpuOptions) {
    let model = load(name);
    let Some(mut g) = gpu_with(model.clone(), opts) else { return };
    let mut c = CpuBackend::new(model.clone());
    for (i, ids) in prompts(name).iter().enumerate() {
        let what = format!("{name} prompt {i} ({} tokens)", ids.len());
        assert_traces_match(&g.trace(ids, Parts::all()).unwrap(), &c.trace(ids, Parts::all()).unwrap(), &what);
    }
    // The last position of the context, and a one-token prompt.
    let full: Vec<u32> = (0..model.config.n_positions as u32).map(|i| i * 37 % 400).collect();
    assert_traces_match(&g.trace(&full, Parts::all()).unwrap(), &c.trace(&full, Parts::all()).unwrap(), &format!("{name} full context"));
    assert_traces_match(&g.trace(&[7], Parts::all()).unwrap(), &c.trace(&[7], Parts::all()).unwrap(), &format!("{name} T=1"));
}

#[test]
fn trace_equals_cpu_tiny_hf() {
    whole_trace_matches_cpu("tiny-hf", GpuOptions::default());
}

#[test]
fn trace_equals_cpu_tiny_bare_untied_head() {
    whole_trace_matches_cpu("tiny-bare", GpuOptions::default());
}

#[test]
fn trace_equals_cpu_tiny_f16() {
    whole_trace_matches_cpu("tiny-f16", GpuOptions::default());
}

#[test]
fn trace_equals_cpu_with_tables_split_across_bindings() {
    // 4 KiB bindings: wte/lm_head (400 × 32 f32 = 51 KB) in 13 chunks, logits in row blocks of 2.
    whole_trace_matches_cpu("tiny-hf", GpuOptions { max_binding_bytes: Some(4096) });
    whole_trace_matches_cpu("tiny-bare", GpuOptions { max_binding_bytes: Some(4096) });
}

#[test]
fn kv_cache_steps_equal_cpu_steps() {
    let model = load("tiny-hf");
    let Some(mut g) = gpu(model.clone()) else { return };
    let mut c = CpuBackend::new(model.clone());
    let ids = model.encode_prompt("It's 3:45, ok? The fox.").unwrap();
    let (head, tail) = ids.split_at(3);
    assert_traces_match(&g.trace(head, Parts::all()).unwrap(), &c.trace(head, Parts::all()).unwrap(), "prefix");
    for (i, &id) in tail[..tail.len() - 2].iter().enumerate() {
        assert_traces_match(&g.run(&[id], Parts::all()).unwrap(), &c.run(&[id], Parts::all()).unwrap(), &format!("step {i}"));
        assert_eq!(g.context_len(), c.context_len());
    }
    // A multi-token step after a cache.
    let last = &tail[tail.len() - 2..];
    assert_traces_match(&g.run(last, Parts::all()).unwrap(), &c.run(last, Parts::all()).unwrap(), "two-token step");
    // The step's logits equal the last row of a fresh full run.
    let full = g.trace(&ids, Parts::all()).unwrap();
    g.trace(&ids[..ids.len() - 1], Parts::none()).unwrap();
    let step = g.run(&ids[ids.len() - 1..], Parts::none()).unwrap();
    assert_close_scaled(&step.next_logits, &full.next_logits, 1e-4, "step vs full run");
    // Overflowing the context is refused, as on the CPU.
    g.reset();
    let n = model.config.n_positions;
    g.run(&vec![1; n], Parts::none()).unwrap();
    assert!(g.run(&[1], Parts::none()).is_err(), "a token past n_positions must be refused");
}

#[test]
fn unrequested_parts_are_not_recorded() {
    let model = load("tiny-hf");
    let Some(mut g) = gpu(model.clone()) else { return };
    let mut c = CpuBackend::new(model.clone());
    let ids = [5, 9, 200, 3];
    for parts in [Parts::none(), Parts::none().with(Part::AttnProbs).with(Part::Logits), Parts::none().with(Part::Probs).with(Part::Q)] {
        assert_traces_match(&g.trace(&ids, parts).unwrap(), &c.trace(&ids, parts).unwrap(), &format!("{parts:?}"));
    }
}

#[test]
fn greedy_generation_equals_cpu() {
    let model = load("tiny-hf");
    let Some(mut g) = gpu(model.clone()) else { return };
    let mut c = CpuBackend::new(model.clone());
    let ids = model.encode_prompt("The fox").unwrap();
    let s = Sampling { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 };
    let a = llm_xray::generate(&mut g, &ids, 12, &s).unwrap();
    let b = llm_xray::generate(&mut c, &ids, 12, &s).unwrap();
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
    let opts = GpuOptions { max_binding_bytes: Some(128 << 20) };
    let Some(mut g) = gpu_with(model.clone(), opts) else { return };
    let mut c = CpuBackend::new(model.clone());
    let ids = model.encode_prompt("Hello, my dog is a little").unwrap();
    let t0 = std::time::Instant::now();
    let gt = g.trace(&ids, Parts::all()).unwrap();
    eprintln!("GPU trace of {} tokens: {:?} on {}", ids.len(), t0.elapsed(), g.describe());
    assert_traces_match(&gt, &c.trace(&ids, Parts::all()).unwrap(), "gpt2-small-shaped");
    assert_traces_match(&g.run(&[11], Parts::all()).unwrap(), &c.run(&[11], Parts::all()).unwrap(), "gpt2-small-shaped step");
}

/// A GPU that dies after `ok_runs` runs, as a lost device does.
struct Dying {
    inner: GpuBackend,
    ok_runs: usize,
}

impl Backend for Dying {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn model(&self) -> &Arc<Model> {
        Backend::model(&self.inner)
    }
    fn context_len(&self) -> usize {
        Backend::context_len(&self.inner)
    }
    fn reset(&mut self) {
        Backend::reset(&mut self.inner)
    }
    fn run(&mut self, ids: &[u32], parts: Parts) -> llm_xray::Result<Trace> {
        if self.ok_runs == 0 {
            return Err(llm_xray::Error::Backend("the GPU device was lost (test)".into()));
        }
        self.ok_runs -= 1;
        self.inner.run(ids, parts)
    }
}

#[test]
fn a_lost_device_falls_back_to_the_cpu_without_losing_the_run() {
    let model = load("tiny-hf");
    let Some(g) = gpu(model.clone()) else { return };
    let mut b = llm_xray::gpu::CpuFallback::new(Box::new(Dying { inner: g, ok_runs: 2 }));
    let mut c = CpuBackend::new(model.clone());
    let ids = [5u32, 9, 200, 3, 17, 44];
    // Two GPU runs (prompt, one step), then the device dies during the third: the context is
    // replayed on the CPU and the third run still returns its trace.
    for (i, chunk) in [&ids[..3], &ids[3..4], &ids[4..6]].into_iter().enumerate() {
        assert_traces_match(&b.run(chunk, Parts::all()).unwrap(), &c.run(chunk, Parts::all()).unwrap(), &format!("run {i}"));
    }
    assert!(b.describe().starts_with("CPU"), "after the failure the backend is the CPU: {}", b.describe());
    assert_eq!(b.context_len(), ids.len());
}

/// Every model the page ships (www/models/index.json): the GPU trace of a real prompt and
/// of a few KV-cache steps after it equals the CPU's.
#[test]
fn trace_equals_cpu_on_shipped_models() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    for entry in index["models"].as_array().unwrap() {
        let folder = root.join(entry["folder"].as_str().unwrap());
        let model = Arc::new(Model::load(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display())));
        let Some(mut g) = gpu(model.clone()) else { return };
        let mut c = CpuBackend::new(model.clone());
        let text = "ROMEO: But soft, what light through yonder window breaks? It is the east";
        let mut ids = model.tokenizer.encode_ids(text);
        ids.truncate(model.config.n_positions - 3);
        let what = format!("{} ({} tokens)", folder.display(), ids.len());
        let (gt, ct) = (g.trace(&ids, Parts::all()).unwrap(), c.trace(&ids, Parts::all()).unwrap());
        assert_traces_match(&gt, &ct, &what);
        let mut next = llm_xray::sampling::argmax(&ct.next_logits);
        for step in 1..=3 {
            let (gs, cs) = (g.run(&[next], Parts::all()).unwrap(), c.run(&[next], Parts::all()).unwrap());
            assert_traces_match(&gs, &cs, &format!("{what} step {step}"));
            next = llm_xray::sampling::argmax(&cs.next_logits);
        }
    }
}
