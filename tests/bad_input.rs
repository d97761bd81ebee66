//! Bad input never panics: each case gets an error naming the file, tensor or input at fault
//! and what was expected, and the CLI exits non-zero with that message.

mod common;
use common::*;
use llm_xray::{CpuBackend, Model, Parts};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_llm-xray");

/// A copy of a fixture model in a fresh temp folder, for one test to damage.
fn scratch(name: &str, from: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llm-xray-bad-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture(from).join(f), dir.join(f)).unwrap();
    }
    dir
}

/// Splits a safetensors file into its JSON header and data.
fn split(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), bytes[8 + n..].to_vec())
}

fn join(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

fn edit_weights(dir: &Path, f: impl FnOnce(&mut Value, &mut Vec<u8>)) {
    let path = dir.join("model.safetensors");
    let (mut h, mut d) = split(&std::fs::read(&path).unwrap());
    f(&mut h, &mut d);
    std::fs::write(path, join(&h, &d)).unwrap();
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Runs the CLI; asserts it fails with code 1 and a message containing every `expect`.
fn cli_fails(args: &[&str], expect: &[&str]) {
    let out = Command::new(CLI).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?} should exit 1; stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for e in expect {
        assert!(err.contains(e), "{args:?}: expected {e:?} in: {err}");
    }
}

fn trace_fails(dir: &Path, expect: &[&str]) {
    cli_fails(&["trace", "--model", dir.to_str().unwrap(), "--prompt", "Hello"], expect);
}

#[test]
fn missing_folder_and_missing_file() {
    trace_fails(Path::new("/nonexistent/model"), &["/nonexistent/model/config.json", "not found"]);
    let dir = scratch("missing-file", "tiny-hf");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    trace_fails(&dir, &["tokenizer.json", "not found"]);
}

#[test]
fn not_safetensors_truncated_and_out_of_range() {
    let dir = scratch("not-st", "tiny-hf");
    std::fs::write(dir.join("model.safetensors"), b"this is not a safetensors file at all").unwrap();
    trace_fails(&dir, &["model.safetensors", "not a valid safetensors file"]);

    let dir = scratch("truncated", "tiny-hf");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    trace_fails(&dir, &["model.safetensors", "not a valid safetensors file"]);

    let dir = scratch("offsets", "tiny-hf");
    edit_weights(&dir, |h, _| h["transformer.wte.weight"]["data_offsets"] = json!([0, 1u64 << 40]));
    trace_fails(&dir, &["model.safetensors", "not a valid safetensors file"]);
}

#[test]
fn missing_tensor_wrong_shape_and_dtype() {
    // Removing a tensor leaves a gap in the data, which safetensors itself rejects, so
    // rename instead: the file stays valid and the expected name is missing.
    let dir = scratch("missing-tensor", "tiny-hf");
    edit_weights(&dir, |h, _| {
        let o = h.as_object_mut().unwrap();
        let t = o.remove("transformer.h.1.mlp.c_fc.bias").unwrap();
        o.insert("transformer.h.1.mlp.c_fc.bias_renamed".into(), t);
    });
    trace_fails(&dir, &["tensor \"h.1.mlp.c_fc.bias\"", "missing", "[128]"]);

    let dir = scratch("wrong-shape", "tiny-hf");
    edit_weights(&dir, |h, _| h["transformer.h.0.attn.c_attn.weight"]["shape"] = json!([96, 32]));
    trace_fails(&dir, &["tensor \"h.0.attn.c_attn.weight\"", "shape [96, 32]", "expected [32, 96]"]);

    let dir = scratch("dtype", "tiny-hf");
    edit_weights(&dir, |h, _| {
        h["transformer.ln_f.bias"]["dtype"] = json!("I32");
    });
    trace_fails(&dir, &["tensor \"ln_f.bias\"", "I32", "expected F32, F16 or BF16"]);
}

#[test]
fn inconsistent_config() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        ("heads", Box::new(|c| c["n_head"] = json!(5)), vec!["config.json", "n_embd (32) is not divisible by n_head (5)"]),
        ("layers", Box::new(|c| c["n_layer"] = json!(0)), vec!["config.json", "n_layer is 0"]),
        ("act", Box::new(|c| c["activation_function"] = json!("gelu")), vec!["config.json", "\"gelu\" is not supported"]),
        (
            "missing",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("n_embd");
            }),
            vec!["config.json", "missing \"n_embd\""],
        ),
        ("vocab", Box::new(|c| c["vocab_size"] = json!(100)), vec!["tokenizer.json", "vocab_size is 100"]),
        ("layers-more", Box::new(|c| c["n_layer"] = json!(3)), vec!["tensor \"h.2.ln_1.weight\"", "missing"]),
    ];
    for (name, f, expect) in cases {
        let dir = scratch(&format!("config-{name}"), "tiny-hf");
        edit_config(&dir, f);
        trace_fails(&dir, &expect);
    }
    let dir = scratch("config-json", "tiny-hf");
    std::fs::write(dir.join("config.json"), b"{ not json").unwrap();
    trace_fails(&dir, &["config.json", "not valid JSON"]);
}

#[test]
fn tokenizer_of_another_model_is_refused() {
    let dir = scratch("other-tokenizer", "tiny-hf");
    std::fs::copy(fixture("gpt2/tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    trace_fails(&dir, &["tokenizer.json", "50256", "vocab_size is 400", "does not belong"]);
}

#[test]
fn bad_prompts_and_ids() {
    let m = fixture("tiny-hf");
    let m = m.to_str().unwrap();
    cli_fails(&["trace", "--model", m, "--prompt", ""], &["prompt is empty"]);
    let long = "word ".repeat(200);
    cli_fails(&["trace", "--model", m, "--prompt", &long], &["tokens do not fit", "at most 24 tokens"]);
    cli_fails(&["trace", "--model", m, "--ids", "3,400,5"], &["token id 400 is outside the vocabulary", "0..399"]);
    cli_fails(&["generate", "--model", m, "--prompt", "", "--max-tokens", "3"], &["prompt is empty"]);
    // Usage errors exit 2, not 1.
    let out = Command::new(CLI).args(["trace", "--model", m, "--ids", "3,x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(CLI).args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn library_errors_are_typed_and_name_the_input() {
    let model = load("tiny-hf");
    let mut cpu = CpuBackend::new(model.clone());
    assert!(matches!(cpu.trace(&[], Parts::none()), Err(llm_xray::Error::Input(_))));
    assert!(matches!(cpu.trace(&[0; 25], Parts::none()), Err(llm_xray::Error::Input(_))));
    let err = cpu.trace(&[1, 99999], Parts::none()).unwrap_err().to_string();
    assert!(err.contains("99999"), "{err}");
    // A failed run leaves the context as it was.
    cpu.trace(&[1, 2, 3], Parts::none()).unwrap();
    assert!(cpu.run(&[7; 30], Parts::none()).is_err());
    assert_eq!(cpu.context_len(), 3);
}

#[test]
fn non_finite_weights_are_refused() {
    let dir = scratch("nan", "tiny-hf");
    edit_weights(&dir, |h, d| {
        let off = h["transformer.ln_f.weight"]["data_offsets"][0].as_u64().unwrap() as usize;
        d[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    trace_fails(&dir, &["tensor \"ln_f.weight\"", "non-finite"]);
}

#[test]
fn bf16_weights_load_and_compute_in_f32() {
    // Rewrite tiny-hf in bf16 (truncating mantissas) and compare with f32 loosely.
    let dir = scratch("bf16", "tiny-hf");
    edit_weights(&dir, |h, d| {
        let mut names: Vec<(String, usize, usize)> = h
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "__metadata__")
            .map(|(k, v)| (k.clone(), v["data_offsets"][0].as_u64().unwrap() as usize, v["data_offsets"][1].as_u64().unwrap() as usize))
            .collect();
        names.sort_by_key(|n| n.1);
        let mut out = Vec::new();
        for (name, s, e) in names {
            let start = out.len();
            for c in d[s..e].chunks_exact(4) {
                let f = f32::from_le_bytes(c.try_into().unwrap());
                out.extend(half::bf16::from_f32(f).to_le_bytes());
            }
            h[&name]["dtype"] = json!("BF16");
            h[&name]["data_offsets"] = json!([start, out.len()]);
        }
        *d = out;
    });
    let bf16 = std::sync::Arc::new(Model::load(&dir).unwrap());
    let f32m = load("tiny-hf");
    let ids = f32m.encode_prompt("Hello world").unwrap();
    let a = CpuBackend::new(bf16).trace(&ids, Parts::none()).unwrap().next_logits;
    let b = CpuBackend::new(f32m).trace(&ids, Parts::none()).unwrap().next_logits;
    let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
    assert!(max_diff(&a, &b, "bf16 logits") < 0.1 * scale);
    assert_ne!(a, b, "bf16 rounding must change something, or the file was not rewritten");
}

#[test]
fn missing_gpu_adapter() {
    // Hide every Vulkan driver: `--backend gpu` must fail plainly, `auto` must use the CPU.
    let m = fixture("tiny-hf");
    let run = |backend: &str| {
        Command::new(CLI)
            .args(["trace", "--model", m.to_str().unwrap(), "--prompt", "Hi", "--parts", "logits", "--backend", backend])
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
            .env("NODEVICE_SELECT", "1")
            .output()
            .unwrap()
    };
    let out = run("gpu");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: backend: no ") && err.contains("adapter"), "{err}");
    let out = run("auto");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["backend"].as_str().unwrap().starts_with("CPU"), "{}", v["backend"]);
}

#[test]
fn a_reader_that_closes_stdout_ends_the_cli_quietly() {
    // `llm-xray trace … | head -c 100`: the reader closes the pipe early.
    use std::io::Read;
    use std::process::Stdio;
    let m = fixture("tiny-hf");
    let m = m.to_str().unwrap();
    // Far more than a pipe's buffer (64 KiB): the CLI is still writing when the pipe closes.
    let long = "It was the best of times, it was the worst of times, it was";
    for args in [vec!["trace", "--model", m, "--prompt", long], vec!["trace", "--model", m, "--prompt", long, "--parts", "logits"]] {
        let mut child = Command::new(CLI).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut first = [0u8; 8];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then dropped: the pipe closes
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: exit {:?}, stderr {stderr}", out.status.code());
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_gguf_footprint_names_the_file_it_reads() {
    // The page sizes a GGUF from its header before downloading it; a corrupt header is
    // refused there, naming the file.
    use llm_xray::model::Footprint;
    let e = Footprint::from_gguf_header(b"GGUF\x03\x00\x00\x00not really a model", 30, "broken.gguf").unwrap_err().to_string();
    assert!(e.starts_with("broken.gguf: ") && e.contains("truncated or corrupt"), "{e}");
    let good = std::fs::read(fixture("tiny-llama-gguf/model.gguf")).unwrap();
    let f = Footprint::from_gguf_header(&good, good.len() as u64, "model.gguf").unwrap();
    let m = Model::load(&fixture("tiny-llama-gguf/model.gguf")).unwrap();
    let params: usize = m.weights.param_counts(&m.config).iter().map(|p| p.count).sum();
    assert_eq!(f.parameters, params as u64);
}
