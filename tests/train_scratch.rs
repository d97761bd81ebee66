//! The trainer from scratch, through the API the page's worker calls: a short run on the
//! induction task whose loss falls, the same run again from the same seed (the same numbers:
//! the seeded RNG is the same on every platform), the head census and snapshots, and the
//! trained model handed to the engine: its loss on the probe, computed from the engine's
//! own logits, equals the trainer's held-out loss (one model definition for training and
//! inference), and its Hugging Face files open.

mod common;

use common::fixture;
use llm_xray::model::{CONFIG_FILE, WEIGHTS_FILE};
use llm_xray::tokenizer::Tokenizer;
use llm_xray::train::adamw::AdamWConfig;
use llm_xray::train::task::Layout;
use llm_xray::train::{Hyper, Induction, Init, ModelShape, Schedule, Snapshot, Task, Trainer};
use llm_xray::{CpuBackend, Model, Part, Parts};
use std::sync::Arc;

fn tokenizer() -> Tokenizer {
    Tokenizer::from_json(&std::fs::read(fixture("tiny/tokenizer.json")).unwrap()).unwrap()
}

fn trainer(seed: u64) -> Trainer {
    let vocab = tokenizer().vocab_len();
    let hyper = Hyper {
        model: ModelShape { layers: 2, heads: 2, width: 32, context: 32, vocab, inner: 0 },
        init: Init { std: 0.02, qk_std: 0.1, sinusoidal_positions: true },
        batch: 8,
        seq: 24,
        schedule: Schedule { lr: 3e-3, warmup: 5, decay_steps: 0, min_lr: 3e-3 },
        optimizer: AdamWConfig { weight_decay: 0.0, ..Default::default() },
        eval_every: 20,
    };
    let task = Induction {
        alphabet: Induction::alphabet(vocab, 32, seed).unwrap(),
        min_span: 2,
        max_span: 8,
        layout: Layout::Pairs,
        skip_fraction: 0.25,
        distinct: false,
        skip_until: 0,
    };
    Trainer::new(hyper, Task::Induction(task), seed).unwrap()
}

#[test]
fn loss_falls_and_the_run_repeats_exactly() {
    let mut a = trainer(3);
    let reports: Vec<_> = (0..60).map(|_| a.step().unwrap()).collect();
    let first = reports[..3].iter().map(|r| r.loss).sum::<f64>() / 3.0;
    let last = reports[57..].iter().map(|r| r.loss).sum::<f64>() / 3.0;
    // From ln(400) ≈ 6.0 (uniform over the vocabulary) toward ln(32) ≈ 3.5 (the alphabet).
    assert!(last < 0.8 * first, "the loss fell only from {first:.3} to {last:.3} in 60 steps");
    assert_eq!(reports.iter().filter(|r| r.held_out_loss.is_some()).count(), 3, "a held-out loss every 20 steps");
    assert!(reports.iter().all(|r| r.grad_norm.is_finite() && r.update_norms.len() == a.tensor_names().len()));
    assert_eq!(reports[59].tokens, 8 * 24);
    let mut b = trainer(3);
    for r in &reports[..5] {
        assert_eq!(b.step().unwrap().loss, r.loss, "the same seed gives the same run");
    }
}

#[test]
fn the_engine_runs_the_trained_model_as_the_trainer_does() {
    let mut tr = trainer(5);
    for _ in 0..15 {
        tr.step().unwrap();
    }
    let held = tr.held_out_loss().unwrap();
    let probe = tr.census_probe().batch.clone();
    let model = Arc::new(tr.to_model(tokenizer()).unwrap());
    let mut cpu = CpuBackend::new(model.clone());
    let v = model.config.vocab_size;
    let mut total = 0.0f64;
    for seq in probe.ids.chunks(probe.len) {
        let logits = cpu.trace(&seq[..seq.len() - 1], Parts::none().with(Part::Logits)).unwrap().global.take(Part::Logits).unwrap();
        for (row, &target) in logits.data.chunks(v).zip(&seq[1..]) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max + row.iter().map(|&z| (z as f64 - max).exp()).sum::<f64>().ln();
            total += lse - row[target as usize] as f64;
        }
    }
    let engine = total / (probe.seqs * (probe.len - 1)) as f64;
    assert!((engine - held).abs() < 1e-5 * held, "engine's loss {engine} vs trainer's {held}");

    // The Hugging Face files open as a model.
    let files = tr.hf_files().unwrap();
    let get = |n: &str| files.iter().find(|(f, _)| *f == n).unwrap().1.clone();
    let reopened = Model::from_bytes(&get(CONFIG_FILE), &get(WEIGHTS_FILE), &std::fs::read(fixture("tiny/tokenizer.json")).unwrap()).unwrap();
    assert_eq!(reopened.weights.wte.to_f32(), model.weights.wte.to_f32());
    assert_eq!(reopened.config, model.config);
}

#[test]
fn census_and_snapshots() {
    let mut tr = trainer(7);
    tr.step().unwrap();
    let scores = tr.census();
    assert_eq!(scores.len(), 2 * 2);
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(&s.previous_token) && (0.0..=1.0).contains(&s.induction)));
    assert_eq!((scores[3].layer, scores[3].head), (2, 2));
    // W_Q·W_Kᵀ of layer 2, head 1, against the product of c_attn's columns.
    let qk = tr.snapshot(&Snapshot::QueryKey { layer: 2, head: 1 }).unwrap();
    let w = tr.tensor("h.1.attn.c_attn.weight").unwrap();
    let (d, hd) = (32, 16);
    let want: f32 = (0..hd).map(|c| w[3 * 3 * d + c] * w[5 * 3 * d + d + c]).sum();
    assert_eq!((qk.rows, qk.cols), (d, d));
    assert!((qk.data[3 * d + 5] - want).abs() < 1e-6);
    let rows = tr.snapshot(&Snapshot::TokenEmbedding { ids: vec![7, 9] }).unwrap();
    assert_eq!(&rows.data[d..], &tr.tensor("wte.weight").unwrap()[9 * d..10 * d]);
    assert!(tr.snapshot(&Snapshot::MlpIn { layer: 3 }).is_err(), "layer 3 does not exist");
    assert_eq!(tr.snapshot(&Snapshot::MlpOut { layer: 1 }).unwrap().rows, 4 * d);
}

#[test]
fn periodic_sequences_repeat_one_distinct_segment_and_the_skip_rule_can_end() {
    use llm_xray::sampling::Rng;
    let alphabet: Vec<u32> = (1..=32).collect();
    let task = Induction { alphabet, min_span: 3, max_span: 10, layout: Layout::Periodic, skip_fraction: 0.0, distinct: true, skip_until: 0 };
    let mut rng = Rng::new(7);
    let mut periods = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let s = task.sequence(&mut rng, 33);
        // The period is the first repeat of the first token (its segment is distinct).
        let n = s[1..].iter().position(|&x| x == s[0]).expect("the first token comes back") + 1;
        assert!((3..=10).contains(&n), "period {n} outside 3..=10 in {s:?}");
        let mut seen = s[..n].to_vec();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "the segment of {s:?} repeats a token");
        assert!((n..33).all(|i| s[i] == s[i - n]), "{s:?} is not periodic with period {n}");
        periods.insert(n);
    }
    assert!(periods.len() > 3, "the period should vary; saw {periods:?}");

    // The skip rule (each token the successor of the one two before) applies before step 5
    // only; after it every sequence is periodic.
    let skip = Induction { skip_fraction: 1.0, skip_until: 5, ..task };
    let succ = |s: &[u32]| (2..s.len()).all(|i| s[i] == s[i - 2] % 32 + 1);
    assert!(succ(&skip.sequence_at(&mut rng, 33, 4)));
    assert!(!succ(&skip.sequence_at(&mut rng, 33, 5)));
}
