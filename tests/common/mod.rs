//! Helpers shared by the integration tests: fixture paths and tolerance checks.
#![allow(dead_code)]

use llm_xray::{Model, Tensor};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// A fixture model: a folder, or (for names ending in "-gguf") the folder's model.gguf.
pub fn load(name: &str) -> Arc<Model> {
    let path = if name.ends_with("-gguf") { fixture(name).join("model.gguf") } else { fixture(name) };
    Arc::new(Model::load(&path).unwrap_or_else(|e| panic!("loading fixture {name}: {e}")))
}

pub fn read_json(path: &str) -> Value {
    let bytes = std::fs::read(fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Flattens nested JSON arrays of numbers (null = −∞, as the trace writes masked scores).
pub fn flatten(v: &Value) -> Vec<f32> {
    let mut out = Vec::new();
    fn go(v: &Value, out: &mut Vec<f32>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            Value::Null => out.push(f32::NEG_INFINITY),
            x => out.push(x.as_f64().expect("number") as f32),
        }
    }
    go(v, &mut out);
    out
}

/// Largest absolute difference; panics on a length mismatch.
pub fn max_diff(a: &[f32], b: &[f32], what: &str) -> f32 {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    a.iter().zip(b).map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() }).fold(0.0, f32::max)
}

/// Asserts |a − b| ≤ tol · max(1, max|b|): "within tol of the reference scale".
pub fn assert_close_scaled(a: &[f32], b: &[f32], tol: f32, what: &str) {
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let d = max_diff(a, b, what);
    assert!(d <= tol * scale, "{what}: max |diff| {d:e} exceeds {tol:e} × scale {scale}");
}

pub fn assert_close_abs(a: &[f32], b: &[f32], tol: f32, what: &str) {
    let d = max_diff(a, b, what);
    assert!(d <= tol, "{what}: max |diff| {d:e} exceeds {tol:e}");
}

pub fn t<'a>(x: Option<&'a Tensor>, what: &str) -> &'a Tensor {
    x.unwrap_or_else(|| panic!("{what} was not recorded"))
}

pub fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array().expect("ids").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

/// `rows` rows of `cols` values of ggml type `ty` as random blocks (its bytes of its own):
/// uniformly random bytes, which reach every bit pattern of the quantized values and packed
/// scales, with the f16 scale fields (or, for F16 and BF16, every value) set to finite
/// values of either sign at several magnitudes, as tests/fixtures/make_quant_fixtures.py
/// makes them.
pub fn random_blocks(ty: llm_xray::quant::GgmlType, rows: usize, cols: usize, seed: u64) -> llm_xray::matrix::Blocks {
    use llm_xray::matrix::{Blocks, Bytes};
    let mut rng = llm_xray::sampling::Rng::new(seed);
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let mut raw: Vec<u8> = (0..rows * cols / bs * ts).map(|_| rng.next_u64() as u8).collect();
    for block in raw.chunks_exact_mut(ts) {
        for &o in llm_xray::quant::scale_offsets(ty) {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let v = (u * 2.0 - 1.0) * 10f64.powi(-((rng.next_u64() % 5) as i32));
            let bits = if ty == llm_xray::quant::GgmlType::BF16 { ((v as f32).to_bits() >> 16) as u16 } else { half::f16::from_f64(v).to_bits() };
            block[o..o + 2].copy_from_slice(&bits.to_le_bytes());
        }
    }
    Blocks::new(ty, rows, cols, Bytes::owned(raw)).expect("sizes of the type")
}
