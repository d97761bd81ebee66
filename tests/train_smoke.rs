//! The trainer (`llm-xray-train`, feature `train`): a few steps on a tiny corpus lower the
//! loss, the folder it writes loads in the engine, and the trainer's candle forward pass and
//! the engine's CPU trace give the same logits (within 1e-4), on the smoke-test weights and
//! on the shipped default model. Together these show the two implementations are one model.
//!
//! Run: cargo test --release --features train --test train_smoke
#![cfg(feature = "train")]

use llm_xray::{CpuBackend, Model, Part, Parts};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const TRAINER: &str = env!("CARGO_BIN_EXE_llm-xray-train");
/// The shipped default model (www/models/index.json lists it first).
const SHIPPED: &str = "www/models/shakespeare";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> String {
    let out = Command::new(TRAINER).args(args).output().expect("trainer runs");
    assert!(out.status.success(), "llm-xray-train {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Max |engine − trainer| over every logit of `ids`.
fn max_logit_gap(dir: &Path, ids: &[u32]) -> f32 {
    let model = Arc::new(Model::load(dir).expect("the engine loads the trainer's folder"));
    let mut cpu = CpuBackend::new(model);
    let engine = cpu.trace(ids, Parts::none().with(Part::Logits)).unwrap().global.take(Part::Logits).unwrap();
    let list: Vec<String> = ids.iter().map(u32::to_string).collect();
    let trainer: Vec<Vec<f32>> = serde_json::from_str(&run(&["logits", "--model", dir.to_str().unwrap(), "--ids", &list.join(",")])).unwrap();
    assert_eq!(engine.shape, vec![ids.len(), trainer[0].len()]);
    engine.data.iter().zip(trainer.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

#[test]
fn trainer_learns_and_engine_agrees() {
    let tmp = std::env::temp_dir().join(format!("llm-xray-train-smoke-{}", std::process::id()));
    let corpus = tmp.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let verse = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n\
                 Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date.\n\n";
    std::fs::write(corpus.join("train.txt"), verse.repeat(40)).unwrap();
    std::fs::write(corpus.join("val.txt"), verse.repeat(4)).unwrap();
    let out = tmp.join("model");
    let tokenizer = root().join("tests/fixtures/tiny/tokenizer.json");
    let t = std::time::Instant::now();
    run(&[
        "train",
        "--corpus",
        corpus.to_str().unwrap(),
        "--tokenizer",
        tokenizer.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--layers",
        "2",
        "--heads",
        "2",
        "--width",
        "32",
        "--ctx",
        "32",
        "--batch",
        "8",
        "--steps",
        "60",
        "--lr",
        "1e-2",
        "--warmup",
        "5",
        "--eval-every",
        "30",
        "--eval-batches",
        "2",
        "--f16",
        "0",
    ]);
    eprintln!("trained 60 steps in {:.1}s", t.elapsed().as_secs_f64());

    // Loss goes down: the mean of the last five steps is well under the first five.
    let csv = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    let losses: Vec<f64> = csv.lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect();
    assert_eq!(losses.len(), 60);
    let (first, last) = (losses[..5].iter().sum::<f64>() / 5.0, losses[55..].iter().sum::<f64>() / 5.0);
    assert!(last < 0.7 * first, "training loss went from {first:.3} to {last:.3}");

    // The folder loads in the engine, and both forward passes agree.
    let ids: Vec<u32> = (0..32).map(|i| (i * 37 + 5) % 400).collect();
    let gap = max_logit_gap(&out, &ids);
    assert!(gap < 1e-4, "engine and trainer logits differ by {gap}");
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn shipped_model_engine_and_trainer_agree() {
    let dir = root().join(SHIPPED);
    if !dir.join("model.safetensors").exists() {
        eprintln!("{SHIPPED} not present; skipping");
        return;
    }
    let model = Model::load(&dir).unwrap();
    let text = "ROMEO.\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\
                Arise, fair sun, and kill the envious moon,\nWho is already sick and pale with grief,\n";
    let mut ids = model.tokenizer.encode_ids(text);
    ids.truncate(model.config.n_positions);
    assert!(ids.len() >= 16);
    let gap = max_logit_gap(&dir, &ids);
    assert!(gap < 1e-4, "engine and trainer logits differ by {gap} on the shipped weights");
}
