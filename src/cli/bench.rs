//! `bench`: timings of full traces and KV-cache steps, on one backend or both.

use super::{engine, load_model, usage, Args, Failure};
use llm_xray::Model;
use llm_xray::Parts;
use pollster::block_on;
use std::path::PathBuf;
use std::sync::Arc;

/// Times full traces (every part recorded) and one-token KV-cache steps at each length, on
/// one backend or, with `--backend all`, on the CPU and the GPU in the same run. Rows start
/// with the backend name so scripts/bench.sh can pick them out. `--f32` also times each backend
/// on the weights dequantized to f32 (rows `cpu-f32`, `gpu-f32`) and gives the ratios. `--kernels` adds the GPU's
/// time per kernel (timestamp queries, where the adapter has them).
pub fn cmd_bench(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let requested = args.list("tokens", "16,64,128")?;
    let repeat: usize = args.num("repeat", 5)?;
    let cfg = &model.config;
    let which = args.get("backend").unwrap_or("cpu");
    let names: Vec<&str> = if which == "all" { vec!["cpu", "gpu"] } else { vec![which] };
    let mut lengths = Vec::new();
    for &t in &requested {
        let t = t as usize;
        if t < 2 {
            return Err(usage(format!("--tokens: {t} is too short; a step needs at least 2 tokens")));
        }
        if t > cfg.n_positions {
            eprintln!("note: skipping {t} tokens: more than this model's context ({})", cfg.n_positions);
        } else {
            lengths.push(t);
        }
    }
    if lengths.is_empty() {
        return Err(usage(format!("--tokens: no length fits this model's context ({} tokens)", cfg.n_positions)));
    }
    let ids_of = |t: usize| -> Vec<u32> { (0..t).map(|i| (i * 7919 % cfg.vocab_size) as u32).collect() };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    outln!(
        "model: {:?}, {} layers, {} heads ({} key/value), width {}, vocabulary {}, context {}",
        cfg.model_type,
        cfg.n_layer,
        cfg.n_head,
        cfg.n_kv_head,
        cfg.n_embd,
        cfg.vocab_size,
        cfg.n_positions
    );
    let baseline = if args.flag("f32") {
        let mut m = Model::load(&PathBuf::from(args.need("model")?))?;
        m.weights = m.weights.dequantized();
        Some(Arc::new(m))
    } else {
        None
    };
    // (row label, tokens, trace ms, step ms)
    let mut results: Vec<(String, usize, f64, f64)> = Vec::new();
    if let Some(b) = &baseline {
        for &name in &names {
            match interleaved(name, [model.clone(), b.clone()], &lengths, repeat, &ids_of) {
                Ok(r) => results.extend(r),
                Err(f) if names.len() > 1 => eprintln!("note: skipping the {name} backend: {}", f.msg),
                Err(f) => return Err(f),
            }
        }
    }
    for &name in names.iter().filter(|_| baseline.is_none()) {
        let (label, m) = (name, &model);
        let mut e = match engine(name, m.clone()) {
            Ok(e) => e,
            Err(f) if names.len() > 1 => {
                eprintln!("note: skipping the {name} backend: {}", f.msg);
                continue;
            }
            Err(f) => return Err(f),
        };
        outln!("\n{label}: {}, weights held as {}", e.describe(), m.storage.held);
        outln!("{:<7} {:>6} {:>12} {:>10} {:>12} {:>10}", "backend", "tokens", "trace ms", "GFLOP/s", "step ms", "GFLOP/s");
        // One untimed run: shader compilation and first-touch allocation are not per-trace costs.
        block_on(e.trace(&ids_of(lengths[0]), Parts::all()))?;
        for &t in &lengths {
            let ids = ids_of(t);
            let mut full = Vec::new();
            let mut step = Vec::new();
            for _ in 0..repeat.max(1) {
                full.push(block_on(e.trace(&ids, Parts::all()))?.elapsed_ms);
                block_on(e.trace(&ids[..t - 1], Parts::none()))?;
                step.push(block_on(e.run(&ids[t - 1..], Parts::all()))?.elapsed_ms);
            }
            let (full, step) = (median(full), median(step));
            outln!("{label:<7} {t:>6} {full:>12.2} {:>10.2} {step:>12.3} {:>10.2}", flops(cfg, t, 0) / full / 1e6, flops(cfg, 1, t - 1) / step / 1e6);
            results.push((label.to_string(), t, full, step));
        }
        if args.flag("kernels") && e.info().kind == "gpu" {
            let t = *lengths.last().expect("at least one length");
            match block_on(e.kernel_times(&ids_of(t))) {
                Ok(times) if !times.is_empty() => {
                    outln!("\nGPU time per kernel, one full trace of {t} tokens (timestamp queries):");
                    let total: f64 = times.iter().map(|x| x.1).sum();
                    for (k, ms, n) in &times {
                        outln!("kernel {k:<14} {ms:>10.3} ms {:>6.1}% {n:>5} dispatches", 100.0 * ms / total.max(1e-9));
                    }
                }
                Ok(_) => outln!("\n(this adapter has no timestamp queries: no per-kernel times)"),
                Err(err) => eprintln!("note: per-kernel timing failed: {err}"),
            }
        }
    }
    let get = |n: &str, t: usize| results.iter().find(|r| r.0 == n && r.1 == t).map(|r| (r.2, r.3));
    if names.len() > 1 && lengths.iter().any(|&t| get("gpu", t).is_some() && get("cpu", t).is_some()) {
        outln!("\nGPU time / CPU time (below 1: the GPU is faster)");
        outln!("{:>6} {:>12} {:>12}", "tokens", "trace", "step");
        for &t in &lengths {
            if let (Some(g), Some(c)) = (get("gpu", t), get("cpu", t)) {
                outln!("{t:>6} {:>12.2} {:>12.2}", g.0 / c.0, g.1 / c.1);
            }
        }
    }
    for &name in names.iter().filter(|_| baseline.is_some()) {
        let f32_name = format!("{name}-f32");
        if lengths.iter().any(|&t| get(name, t).is_some() && get(&f32_name, t).is_some()) {
            outln!("\n{name}: time with the weights as held / time with them dequantized to f32 (below 1: held is faster)");
            outln!("{:>6} {:>12} {:>12}", "tokens", "trace", "step");
            for &t in &lengths {
                if let (Some(q), Some(f)) = (get(name, t), get(&f32_name, t)) {
                    outln!("{t:>6} {:>12.2} {:>12.2}", q.0 / f.0, q.1 / f.1);
                }
            }
        }
    }
    Ok(())
}

/// Times `models` (the weights as held, then dequantized to f32) on backend `name`, their
/// runs taken in turns so that a machine busy with other work slows both alike; rows
/// labelled `name` and `name-f32`.
fn interleaved(
    name: &str,
    models: [Arc<Model>; 2],
    lengths: &[usize],
    repeat: usize,
    ids_of: &dyn Fn(usize) -> Vec<u32>,
) -> Result<Vec<(String, usize, f64, f64)>, Failure> {
    let labels = [name.to_string(), format!("{name}-f32")];
    let mut engines = Vec::new();
    for m in &models {
        let mut e = engine(name, m.clone())?;
        block_on(e.trace(&ids_of(lengths[0]), Parts::all()))?;
        engines.push(e);
    }
    let cfg = &models[0].config;
    outln!(
        "\n{name}: {}; weights held as {} (row {}) and as f32 dequantized on load (row {}), taken in turns",
        engines[0].describe(),
        models[0].storage.held,
        labels[0],
        labels[1]
    );
    outln!("{:<7} {:>6} {:>12} {:>10} {:>12} {:>10}", "backend", "tokens", "trace ms", "GFLOP/s", "step ms", "GFLOP/s");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut out = Vec::new();
    for &t in lengths {
        let ids = ids_of(t);
        let mut times = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
        for _ in 0..repeat.max(1) {
            for (e, (full, step)) in engines.iter_mut().zip(times.iter_mut()) {
                full.push(block_on(e.trace(&ids, Parts::all()))?.elapsed_ms);
                block_on(e.trace(&ids[..t - 1], Parts::none()))?;
                step.push(block_on(e.run(&ids[t - 1..], Parts::all()))?.elapsed_ms);
            }
        }
        for (label, (full, step)) in labels.iter().zip(times) {
            let (full, step) = (median(full), median(step));
            outln!("{label:<7} {t:>6} {full:>12.2} {:>10.2} {step:>12.3} {:>10.2}", flops(cfg, t, 0) / full / 1e6, flops(cfg, 1, t - 1) / step / 1e6);
            out.push((label.clone(), t, full, step));
        }
    }
    Ok(out)
}

/// Multiply-adds ×2 of the matmuls in a run of `t` new tokens after `past` cached ones.
fn flops(cfg: &llm_xray::Config, t: usize, past: usize) -> f64 {
    let (t, d, f, v) = (t as f64, cfg.n_embd as f64, cfg.n_inner as f64, cfg.vocab_size as f64);
    let (qkv, qw) = (cfg.qkv_width() as f64, cfg.q_width() as f64);
    let mlp = if cfg.gated_mlp { 3.0 } else { 2.0 };
    let tk_mean = past as f64 + (t + 1.0) / 2.0;
    let per_layer = 2.0 * t * (d * qkv + qw * d + mlp * d * f) + 2.0 * 2.0 * t * tk_mean * qw;
    cfg.n_layer as f64 * per_layer + 2.0 * t * d * v
}
