//! `llm-xray train` from the command line: the interface the issue fixes (K batches from a
//! file, AdamW flags, `step k loss …` lines, a Hugging Face folder out) held to PyTorch's
//! float64 run on the committed tiny checkpoint, and every refusal: a bad batch file, ids
//! outside the vocabulary, a sequence longer than the context, a NaN loss, a non-GPT-2
//! model, an output folder already holding a checkpoint. Each refusal is an `error:` line
//! naming the cause and a non-zero exit, and leaves a checkpoint already written intact.

mod common;

use common::{fixture, flatten, read_json};
use llm_xray::{CpuBackend, Model, Part, Parts};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_llm-xray");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("llm-xray-train-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn train(args: &[&str]) -> Output {
    Command::new(BIN).arg("train").args(args).output().expect("llm-xray runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The AdamW flags of the fixture's reference run.
const FLAGS: &[&str] = &["--lr", "3e-3", "--weight-decay", "0.1", "--beta1", "0.9", "--beta2", "0.95", "--eps", "1e-8", "--grad-clip", "2.0"];

fn run_fixture(out: &Path, extra: &[&str]) -> Output {
    let model = fixture("train/tiny-gpt2");
    let batches = model.join("batches.json");
    let mut args = vec!["--model", path(&model), "--batches", path(&batches)];
    args.extend_from_slice(FLAGS);
    args.extend_from_slice(&["--out", path(out)]);
    args.extend_from_slice(extra);
    train(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with an `error:` line containing `want`, and a non-zero exit.
fn refused(o: &Output, want: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a refusal ({want}), but it succeeded:\n{err}");
    assert!(err.lines().any(|l| l.starts_with("error:") && l.contains(want)), "expected an error: line naming \"{want}\", got:\n{err}");
}

#[test]
fn trains_as_pytorch_does_and_writes_a_folder_that_opens() {
    let out = tmp("ok");
    std::fs::create_dir_all(&out).unwrap(); // an existing empty folder is fine
    let o = run_fixture(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_json("train/tiny-gpt2/reference.json");
    let lines: Vec<String> = String::from_utf8(o.stdout).unwrap().lines().map(String::from).collect();
    let want = r["losses"].as_array().unwrap();
    assert_eq!(lines.len(), want.len(), "one line per step:\n{}", lines.join("\n"));
    for (k, (line, w)) in lines.iter().zip(want).enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((words[0], words[1], words[2]), ("step", &*(k + 1).to_string(), "loss"), "line {line:?}");
        let (loss, w) = (words[3].parse::<f64>().unwrap(), w.as_f64().unwrap());
        assert!(((loss - w) / w).abs() < 1e-4, "step {}: loss {loss} vs PyTorch {w}", k + 1);
    }
    // The folder opens in the engine; the update of every tensor is PyTorch's.
    let trained = Model::load(&out).expect("the trained folder loads");
    let before = Model::load(&fixture("train/tiny-gpt2")).unwrap();
    let d = before.config.n_embd;
    let wte_update: Vec<f32> = trained.weights.wte.to_f32().iter().zip(before.weights.wte.to_f32().iter()).map(|(a, b)| a - b).collect();
    let theirs = flatten(&r["updates"]["transformer.wte.weight"]);
    let err = wte_update.iter().zip(&theirs).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt()
        / theirs.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
    assert!(err < 2e-3, "wte update differs from PyTorch's by {err:e}");
    let bias_update: Vec<f32> =
        trained.weights.layers[1].qkv.b.as_ref().unwrap().iter().zip(before.weights.layers[1].qkv.b.as_ref().unwrap()).map(|(a, b)| a - b).collect();
    let theirs = flatten(&r["updates"]["transformer.h.1.attn.c_attn.bias"]);
    let q_err =
        (0..d).map(|i| ((bias_update[i] - theirs[i]) as f64).powi(2)).sum::<f64>().sqrt() / (0..d).map(|i| (theirs[i] as f64).powi(2)).sum::<f64>().sqrt();
    assert!(q_err < 2e-3, "query bias update differs from PyTorch's by {q_err:e}");
    assert_eq!(std::fs::read(out.join("tokenizer.json")).unwrap(), std::fs::read(fixture("train/tiny-gpt2/tokenizer.json")).unwrap());
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!((cfg["model_type"].as_str(), cfg["torch_dtype"].as_str()), (Some("gpt2"), Some("float32")));
    // `llm-xray trace` opens it too, and the engine runs it.
    let t = Command::new(BIN).args(["trace", "--model", path(&out), "--ids", "5,17,3", "--parts", "logits"]).output().unwrap();
    assert!(t.status.success(), "trace on the trained folder: {}", stderr(&t));
    let mut cpu = CpuBackend::new(Arc::new(trained));
    assert!(cpu.trace(&[5, 17, 3], Parts::none().with(Part::Logits)).unwrap().global.take(Part::Logits).unwrap().data.iter().all(|v| v.is_finite()));
    // A second run into the same folder is refused without --force, done with it.
    refused(&run_fixture(&out, &[]), "already holds a checkpoint");
    let o = run_fixture(&out, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&out);
}

/// Runs the fixture with `batches` (JSON text) and expects a refusal naming `want`.
fn refuse_batches(name: &str, batches: &str, want: &str) {
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("batches.json");
    std::fs::write(&file, batches).unwrap();
    let out = dir.join("out");
    let model = fixture("train/tiny-gpt2");
    let mut args = vec!["--model", path(&model), "--batches", path(&file), "--out", path(&out)];
    args.extend_from_slice(FLAGS);
    let o = train(&args);
    refused(&o, want);
    assert!(o.stderr.starts_with(b"error:") || stderr(&o).contains("batches.json"), "the error names the file: {}", stderr(&o));
    assert!(!out.join("config.json").exists(), "nothing is written on a refusal");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refuses_bad_batch_files() {
    refuse_batches("notjson", "[[[1, 2, 3]", "not valid JSON");
    refuse_batches("flat", "[1, 2, 3]", "batch 1 is not a non-empty list of sequences");
    refuse_batches("empty", "[]", "holds no batches");
    refuse_batches("ragged", "[[[1, 2, 3], [4, 5]]]", "batch 1, sequence 2 has 2 ids but sequence 1 has 3");
    refuse_batches("negative", "[[[1, -2, 3]]]", "batch 1, sequence 1, position 2: -2 is not a token id");
    refuse_batches("short", "[[[7]]]", "nothing to predict");
}

#[test]
fn refuses_ids_outside_the_vocabulary() {
    refuse_batches("vocab", "[[[1, 2, 3]], [[4, 400, 6]]]", "batch 2, sequence 1, position 2: token id 400 is outside the vocabulary (ids 0..399 are valid)");
}

#[test]
fn refuses_sequences_longer_than_the_context() {
    let long: Vec<String> = (0..22).map(|i| i.to_string()).collect();
    refuse_batches("long", &format!("[[[{}]]]", long.join(",")), "longer than the context: their 21 inputs exceed the model's 20 positions");
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_checkpoint_already_there() {
    let out = tmp("nan");
    assert!(run_fixture(&out, &[]).status.success());
    let before = std::fs::read(out.join("model.safetensors")).unwrap();
    // A learning rate this large sends every weight to ±1e30 after one step; the next
    // forward pass overflows.
    let model = fixture("train/tiny-gpt2");
    let batches = model.join("batches.json");
    let o = train(&["--model", path(&model), "--batches", path(&batches), "--lr", "1e30", "--out", path(&out), "--force"]);
    refused(&o, "at step 2");
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), before, "the checkpoint already written is untouched");
    assert!(Model::load(&out).is_ok());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn refuses_a_model_that_is_not_gpt2() {
    let batches = fixture("train/tiny-gpt2/batches.json");
    for (name, family) in [("tiny-llama", "llama"), ("tiny-gemma3", "gemma3")] {
        let out = tmp(name);
        let o = train(&["--model", path(&fixture(name)), "--batches", path(&batches), "--out", path(&out)]);
        refused(&o, "the trainer trains GPT-2 models");
        assert!(stderr(&o).to_lowercase().contains(family), "the error names the model's family ({family}): {}", stderr(&o));
        assert!(!out.join("config.json").exists(), "nothing is written on a refusal");
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn refuses_an_output_that_is_a_file_and_a_missing_model() {
    let dir = tmp("file");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("f");
    std::fs::write(&file, "x").unwrap();
    refused(&run_fixture(&file, &[]), "exists and is not a folder");
    let batches = fixture("train/tiny-gpt2/batches.json");
    refused(&train(&["--model", path(&dir.join("nowhere")), "--batches", path(&batches)]), "nowhere");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The stdout lines `step k loss …` of a run, checked to count 1..=n with finite losses.
fn step_losses(o: &Output, n: usize) -> Vec<f64> {
    let text = String::from_utf8_lossy(&o.stdout);
    let losses: Vec<f64> = text
        .lines()
        .enumerate()
        .map(|(k, line)| {
            let w: Vec<&str> = line.split_whitespace().collect();
            assert_eq!((w[0], w[1], w[2]), ("step", &*(k + 1).to_string(), "loss"), "line {line:?}");
            w[3].parse().unwrap()
        })
        .collect();
    assert_eq!(losses.len(), n, "one line per step:\n{text}");
    assert!(losses.iter().all(|l| l.is_finite()));
    losses
}

#[test]
fn trains_from_scratch_on_the_induction_task_and_on_text() {
    let dir = tmp("scratch");
    let shape = "layers=2,heads=4,width=64,context=64";
    let out = dir.join("induction");
    let o = train(&["--init", shape, "--seed", "1", "--task", "induction", "--steps", "3", "--batch", "2", "--seq", "16", "--out", path(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    step_losses(&o, 3);
    let m = Model::load(&out).expect("the trained folder loads");
    assert_eq!((m.config.n_layer, m.config.n_head, m.config.n_embd, m.config.n_positions), (2, 4, 64, 64));
    assert!(stderr(&o).contains("learned parameters"), "{}", stderr(&o));

    let text = dir.join("text.txt");
    std::fs::write(&text, "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n".repeat(30)).unwrap();
    let o = train(&["--init", shape, "--seed", "2", "--task", "text", "--text", path(&text), "--steps", "2", "--batch", "2", "--seq", "16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    step_losses(&o, 2);

    // A sequence longer than the new model's context, and a task without its text.
    refused(&train(&["--init", shape, "--task", "induction", "--steps", "1", "--seq", "65"]), "do not fit the model's context of 64 positions");
    refused(&train(&["--init", shape, "--task", "text", "--steps", "1"]), "--task text needs --text FILE");
    refused(&train(&["--init", "layers=2,heads=4", "--task", "induction", "--steps", "1"]), "--init needs width=N");
    let _ = std::fs::remove_dir_all(&dir);
}
