//! The CPU kernels that read weights held in ggml blocks (`cpu::fast`: the blocked SGEMM
//! that dequantizes while packing, and the few-row path that reads rows as streams) against
//! the plain reference (`cpu::ops`: dequantize each block as ggml's reference does, then
//! multiply in f32), for every type held in blocks: random blocks of awkward shapes, stacked
//! parts of different types with llama.cpp's q/k row order, and real tensors of the real
//! models (SmolLM2's Q4_1 and Q8_0; gemma-3-270m's Q5_0, Q4_K, Q6_K and Q8_0 where its
//! GGUF is in the model cache). They differ only by the order of f32 sums.

mod common;
use common::*;
use llm_xray::cpu::{fast, ops};
use llm_xray::gguf::Gguf;
use llm_xray::matrix::{unpermute, Blocks, Bytes, Matrix};
use llm_xray::quant::{self, GgmlType, BLOCKS};
use llm_xray::weights::Linear;
use ndarray::{Array1, Array2};
use std::path::PathBuf;
use std::sync::Arc;

fn inputs(rng: &mut llm_xray::sampling::Rng, t: usize, k: usize) -> Array2<f32> {
    Array2::from_shape_fn((t, k), |_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
}

/// Both fast routes (t ≤ 4 rows as streams, more through the SGEMM) against the reference,
/// with a bias, and as an unembedding.
fn check(w: Matrix, t_list: &[usize], what: &str) {
    let mut rng = llm_xray::sampling::Rng::new(what.len() as u64);
    let (n, k) = (w.rows(), w.cols());
    let b = Array1::from_shape_fn(n, |i| (i % 7) as f32 * 0.1 - 0.3);
    let l = Linear { w, b: Some(b) };
    for &t in t_list {
        let x = inputs(&mut rng, t, k);
        let want = ops::linear(&x, &l);
        let got = fast::linear(&x, &l);
        assert_close_scaled(got.as_slice().unwrap(), want.as_slice().unwrap(), 2e-6, &format!("{what}: linear of {t} rows"));
        let want = ops::unembed(x.view(), &l.w);
        let got = fast::unembed(x.view(), &l.w);
        assert_close_scaled(got.as_slice().unwrap(), want.as_slice().unwrap(), 2e-6, &format!("{what}: unembed of {t} rows"));
    }
}

#[test]
fn every_type_held_in_blocks_matches_the_reference() {
    for (i, &ty) in BLOCKS.iter().enumerate() {
        let bs = ty.block_size().max(32);
        // Rows that are one block, several, and more than one stretch of k; counts of rows
        // that fill no tile and several.
        for (j, &(k_blocks, n)) in [(1, 1), (3, 7), (9, 40), (2, 70)].iter().enumerate() {
            let k = (k_blocks * bs).min(if bs == 32 { 288 } else { 768 });
            let w = Matrix::Blocks(vec![random_blocks(ty, n, k, (100 * i + j) as u64)]);
            check(w, &[1, 3, 4, 5, 17, 40], &format!("{ty} [{n}, {k}]"));
        }
    }
}

#[test]
fn stacked_parts_with_permuted_rows_match_the_reference() {
    // q (Q4_K) and k (Q8_0) in llama.cpp's row order for heads 8 wide, v (Q6_K): a fused
    // projection as a Q4_K_M file stores it, 512 inputs (two K-blocks).
    let mut q = random_blocks(GgmlType::Q4_K, 24, 512, 1);
    let mut k = random_blocks(GgmlType::Q8_0, 16, 512, 2);
    let v = random_blocks(GgmlType::Q6_K, 16, 512, 3);
    q.permuted = Some(8);
    k.permuted = Some(8);
    // The reference reads rows as stored, unpermuted by hand here.
    let stored = |b: &Blocks, r: usize| {
        let s = b.permuted.map_or(r, |hd| unpermute(r, hd));
        let n = b.row_bytes();
        quant::dequantize(b.ty, &b.data()[s * n..(s + 1) * n], b.cols).unwrap()
    };
    let mut rows = Vec::new();
    for b in [&q, &k, &v] {
        rows.extend((0..b.rows).flat_map(|r| stored(b, r)));
    }
    let m = Matrix::Blocks(vec![q, k, v]);
    let dense = Array2::from_shape_vec((56, 512), rows).unwrap();
    assert_eq!(m.to_f32(), dense, "rows of the stacked, permuted matrix");
    check(m, &[1, 2, 9, 33], "q|k|v of Q4_K, Q8_0, Q6_K");
}

/// The GGUF files of the model cache: SmolLM2 (fetched by scripts/models.sh) and, where
/// present, gemma-3-270m.
fn cached_ggufs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    match std::process::Command::new("bash").arg(root.join("scripts/models.sh")).arg("--cache-only").output() {
        Ok(o) if o.status.success() => out.push(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
        _ => eprintln!("skipping SmolLM2's tensors: scripts/models.sh could not fetch the model"),
    }
    let cache =
        std::env::var("LLM_XRAY_CACHE").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/llm-xray"));
    if let Ok(dir) = std::fs::read_dir(cache.join("gemma3_270m")) {
        out.extend(dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "gguf")));
    }
    out
}

#[test]
fn real_tensors_of_every_type_in_the_cached_models_match_the_reference() {
    let mut seen: Vec<GgmlType> = Vec::new();
    for path in cached_ggufs() {
        let bytes = Arc::new(std::fs::read(&path).unwrap());
        let g = Gguf::parse(&bytes).unwrap();
        // One matrix of each type held in blocks, the first 64 rows of it (the reference
        // is a plain triple loop).
        for t in g.tensors().iter().filter(|t| t.dims.len() == 2 && t.ty.held_as_blocks()) {
            if seen.contains(&t.ty) {
                continue;
            }
            seen.push(t.ty);
            let (cols, rows) = (t.dims[0] as usize, (t.dims[1] as usize).min(64));
            let range = g.raw_range(t).unwrap();
            let row_bytes = cols / t.ty.block_size() * t.ty.type_size();
            let b = Blocks::new(t.ty, rows, cols, Bytes::new(bytes.clone(), range.start..range.start + rows * row_bytes)).unwrap();
            b.check_finite().unwrap();
            check(Matrix::Blocks(vec![b]), &[1, 20], &format!("{} {} of {}", t.name, t.ty, path.display()));
        }
    }
    eprintln!("real tensors checked: {seen:?}");
}

#[test]
fn the_size_check_counts_weights_as_held_not_as_f32() {
    // The page refuses a model before its download from this figure: for a quantized file
    // it is about the file's size (the blocks stay in it), far below the f32 size.
    for path in cached_ggufs() {
        let bytes = std::fs::read(&path).unwrap();
        let f = llm_xray::model::Footprint::from_gguf_header(&bytes, bytes.len() as u64, "model.gguf").unwrap();
        let file = bytes.len() as u64;
        assert!(f.held_bytes >= file && f.held_bytes < file + file / 10, "{}: held {} bytes for a file of {file}", path.display(), f.held_bytes);
        assert!(f.held_bytes * 3 < f.f32_bytes, "{}: held {} bytes, f32 {}", path.display(), f.held_bytes, f.f32_bytes);
        assert!(f.held.ends_with(" blocks"), "{}: {}", path.display(), f.held);
    }
}
