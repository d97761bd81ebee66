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
