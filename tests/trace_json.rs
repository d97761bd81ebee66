//! The trace as the CLI prints it: one JSON writer (`trace::TraceJson`), the parts table
//! behind `trace --help` and README, and `--positions`, which keeps only some positions'
//! rows of the per-position parts.

mod common;
use common::fixture;
use llm_xray::trace::{Layout, PARTS};
use serde_json::Value;
use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_llm-xray");

fn trace(extra: &[&str]) -> Value {
    let m = fixture("tiny-hf");
    let mut args = vec!["trace", "--model", m.to_str().unwrap(), "--prompt", "Hello world, hello"];
    args.extend_from_slice(extra);
    let out = Command::new(CLI).args(&args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn help_and_readme_list_every_part() {
    let out = Command::new(CLI).args(["trace", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for p in PARTS.iter() {
        assert!(help.contains(p.name) && help.contains(p.doc), "trace --help lacks {}", p.name);
        assert!(readme.contains(&format!("| `{}`", p.name)) || readme.contains(&format!(", `{}`", p.name)), "README's trace table lacks `{}`", p.name);
    }
}

#[test]
fn positions_keep_only_those_rows_and_attention_stays_whole() {
    let all = trace(&[]);
    let last = trace(&["--positions", "last"]);
    let t = all["tokens"].as_array().unwrap().len();
    assert!(t > 2);
    assert!(all.get("positions").is_none());
    assert_eq!(last["positions"], serde_json::json!([t - 1]));
    // Per-position parts: one row, equal to the full trace's last row.
    for name in PARTS.iter().filter(|p| p.layout == Layout::Rows).map(|p| p.name) {
        let (a, b) = (&all[name], &last[name]);
        if a.is_null() {
            continue;
        }
        assert_eq!(b.as_array().unwrap().len(), 1, "{name}: one kept row");
        // (The logits of fewer rows take another matmul path: equal up to rounding.)
        assert!(diff(&a[t - 1], &b[0]) < 1e-5, "{name}: the kept row differs from the full run's");
    }
    assert_eq!(last["layers"][1]["residual_after_mlp"].as_array().unwrap().len(), 1);
    // Attention maps stay [layer][head][T][T]; next_logits is always the last position's.
    assert_eq!(last["attentions"], all["attentions"]);
    assert!(diff(&last["next_logits"], &all["next_logits"]) < 1e-5);
    let some = trace(&["--positions", "0,2"]);
    assert_eq!(some["logits"].as_array().unwrap().len(), 2);
    assert!(diff(&some["logits"][1], &all["logits"][2]) < 1e-5);
}

/// The largest difference between two rows of numbers.
fn diff(x: &Value, y: &Value) -> f64 {
    let (x, y) = (x.as_array().unwrap(), y.as_array().unwrap());
    assert_eq!(x.len(), y.len());
    x.iter().zip(y).map(|(p, q)| (p.as_f64().unwrap() - q.as_f64().unwrap()).abs()).fold(0.0, f64::max)
}

#[test]
fn positions_past_the_prompt_are_a_usage_error() {
    let m = fixture("tiny-hf");
    for bad in ["99", "x", "1,-2"] {
        let out = Command::new(CLI).args(["trace", "--model", m.to_str().unwrap(), "--prompt", "Hi", "--positions", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "--positions {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: --positions"), "{err}");
    }
}
