//! The instruments against Hugging Face `transformers` (tests/fixtures/*/instruments.json,
//! written by make_llama_fixtures.py with forward hooks): head ablation (zero and mean) and
//! the logit lens, through the library and through the CLI; direct logit attribution sums
//! to the logit; and on the shipped model, ablating its induction head stops it copying.

mod common;
use common::*;
use llm_xray::ablation::AblationMode;
use llm_xray::backend::prompt_ablation;
use llm_xray::heads::{census, random_repeat};
use llm_xray::instruments::{attribute, attribution_parts, lens, lens_parts};
use llm_xray::{Ablation, CpuBackend, Engine, Model, Part, Parts};
use pollster::block_on;
use serde_json::Value;
use std::process::Command;
use std::sync::Arc;

const CLI: &str = env!("CARGO_BIN_EXE_llm-xray");
const FAMILIES: [&str; 3] = ["tiny-hf", "tiny-llama", "tiny-qwen2"];

fn cli_json(args: &[&str]) -> Value {
    let out = Command::new(CLI).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn heads_of(v: &Value) -> Vec<(usize, usize)> {
    v.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize)).collect()
}

#[test]
fn head_ablation_equals_transformers_with_the_heads_zeroed_or_mean_replaced() {
    for name in FAMILIES {
        let model = load(name);
        let reference = read_json(&format!("{name}/instruments.json"));
        for (i, case) in reference["ablations"].as_array().unwrap().iter().enumerate() {
            let ids = ids_of(&case["ids"]);
            let heads = heads_of(&case["heads"]);
            let mut e = Engine::cpu(model.clone());
            let mode = AblationMode::parse(case["mode"].as_str().unwrap()).unwrap();
            let (a, _) = block_on(prompt_ablation(&mut e, &heads, mode, &ids)).unwrap();
            e.set_ablation(a);
            let tr = block_on(e.trace(&ids, Parts::of(&[Part::Logits]))).unwrap();
            let what = format!("{name} ablation {i} ({} {:?})", case["mode"], heads);
            assert_close_scaled(&tr.get(Part::Logits).unwrap().data, &flatten(&case["logits"]), 1e-4, &what);
        }
    }
}

#[test]
fn cli_ablate_counts_heads_from_one() {
    for name in ["tiny-hf", "tiny-llama"] {
        let reference = read_json(&format!("{name}/instruments.json"));
        for case in reference["ablations"].as_array().unwrap() {
            let ids: Vec<String> = ids_of(&case["ids"]).iter().map(u32::to_string).collect();
            let heads: Vec<String> = heads_of(&case["heads"]).iter().map(|(l, h)| format!("{}.{}", l + 1, h + 1)).collect();
            let mode = case["mode"].as_str().unwrap();
            let dir = fixture(name);
            let out = cli_json(&[
                "trace",
                "--model",
                dir.to_str().unwrap(),
                "--ids",
                &ids.join(","),
                "--parts",
                "logits",
                "--ablate",
                &heads.join(","),
                "--ablate-mode",
                mode,
            ]);
            assert_close_scaled(&flatten(&out["logits"]), &flatten(&case["logits"]), 1e-4, &format!("{name} CLI --ablate {heads:?} {mode}"));
        }
    }
    // Bad head lists are input errors naming what was expected.
    let out = Command::new(CLI).args(["trace", "--model", fixture("tiny-hf").to_str().unwrap(), "--prompt", "Hi", "--ablate", "3.1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("\"3.1\"") && err.contains("layer 1..2"), "{err}");
}

#[test]
fn logit_lens_equals_transformers_top5() {
    for name in FAMILIES {
        let model = load(name);
        let reference = read_json(&format!("{name}/instruments.json"));
        for case in reference["lens"].as_array().unwrap() {
            let ids = ids_of(&case["ids"]);
            let tr = CpuBackend::new(model.clone()).trace(&ids, lens_parts()).unwrap();
            let layers = lens(&model, &tr, 5, None).unwrap();
            let want = case["top"].as_array().unwrap();
            assert_eq!(layers.len(), model.config.n_layer + 1);
            assert_eq!(layers[0].after, "embeddings");
            assert_eq!(layers.last().unwrap().after, format!("layer {}", model.config.n_layer));
            for (l, (ours, theirs)) in layers.iter().zip(want).enumerate() {
                for (pos, (o, t)) in ours.top.iter().zip(theirs.as_array().unwrap()).enumerate() {
                    let t = t.as_array().unwrap();
                    let ids: Vec<u32> = t.iter().map(|x| x[0].as_u64().unwrap() as u32).collect();
                    assert_eq!(o.iter().map(|x| x.id).collect::<Vec<_>>(), ids, "{name} lens layer {l} position {pos}: top-5 ids");
                    let ps: Vec<f32> = t.iter().map(|x| x[1].as_f64().unwrap() as f32).collect();
                    assert_close_abs(&o.iter().map(|x| x.p).collect::<Vec<_>>(), &ps, 1e-5, &format!("{name} lens layer {l} position {pos}: p"));
                }
            }
            // The last entry is the model's own output distribution.
            let full = CpuBackend::new(model.clone()).trace(&ids, Parts::of(&[Part::Probs])).unwrap();
            let probs = full.get(Part::Probs).unwrap();
            for (pos, top) in layers.last().unwrap().top.iter().enumerate() {
                assert_eq!(top[0].p, probs.row(pos)[top[0].id as usize], "the last lens layer is the output distribution");
            }
        }
    }
}

#[test]
fn cli_lens_json_has_the_documented_shape() {
    let name = "tiny-llama";
    let reference = read_json(&format!("{name}/instruments.json"));
    let case = &reference["lens"][0];
    let ids: Vec<String> = ids_of(&case["ids"]).iter().map(u32::to_string).collect();
    let out = cli_json(&["lens", "--model", fixture(name).to_str().unwrap(), "--ids", &ids.join(","), "--top", "5", "--json"]);
    assert_eq!(out["tokens"].as_array().unwrap().len(), ids.len());
    let layers = out["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[1]["after"], "layer 1");
    for (l, want) in case["top"].as_array().unwrap().iter().enumerate() {
        for (pos, w) in want.as_array().unwrap().iter().enumerate() {
            let got = layers[l]["top"][pos].as_array().unwrap();
            for (g, w) in got.iter().zip(w.as_array().unwrap()) {
                assert_eq!(g["id"], w[0], "layer {l} position {pos}");
                assert!((g["p"].as_f64().unwrap() - w[1].as_f64().unwrap()).abs() <= 1e-5);
                assert!(g["text"].is_string());
            }
        }
    }
}

#[test]
fn direct_logit_attribution_sums_to_the_logit() {
    for name in ["tiny-hf", "tiny-bare", "tiny-llama", "tiny-qwen2", "tiny-llama-gguf"] {
        let model = load(name);
        let ids = ids_of(&read_json(&format!("{name}/reference.json"))["prompts"][0]["ids"]);
        let parts = Parts::of(&attribution_parts().iter().chain([Part::Logits]).collect::<Vec<_>>());
        let tr = CpuBackend::new(model.clone()).trace(&ids, parts).unwrap();
        let logits = tr.get(Part::Logits).unwrap();
        for pos in [0, ids.len() / 2, ids.len() - 1] {
            for token in [ids[pos], llm_xray::sampling::argmax(logits.row(pos)), 7] {
                let a = attribute(&model, &tr, pos, token).unwrap();
                let want = logits.row(pos)[token as usize];
                let sum: f32 = a.components.iter().map(|c| c.value).sum();
                let scale = want.abs().max(1.0);
                assert!((a.logit - want).abs() <= 1e-4 * scale, "{name}: attribution's logit {} vs the model's {want}", a.logit);
                assert!((sum - want).abs() <= 1e-4 * scale, "{name} position {pos} token {token}: components sum to {sum}, logit {want}");
                let heads = a.components.iter().filter(|c| c.head.is_some()).count();
                assert_eq!(heads, model.config.n_layer * model.config.n_head, "one bar per head");
            }
        }
    }
}

/// The check on the shipped model: ablating the census's best induction head at
/// least halves the probability of the correct token in the second copy of a repeated
/// random-token sequence.
#[test]
fn ablating_the_default_models_induction_head_stops_it_copying() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/shakespeare");
    let model = Arc::new(Model::load(&dir).unwrap());
    let mut e = Engine::cpu(model.clone());
    let scores = block_on(census(&mut e, None, &mut |_, _| {})).unwrap();
    let best = scores.iter().max_by(|a, b| a.induction_random.total_cmp(&b.induction_random)).unwrap();
    let half = 32;
    let ids = random_repeat(model.config.vocab_size, half, 7);
    let copy_prob = |e: &mut Engine| {
        let tr = block_on(e.trace(&ids, Parts::of(&[Part::Probs]))).unwrap();
        let p = tr.get(Part::Probs).unwrap();
        // Position half + j predicts ids[half + j + 1] = ids[j + 1].
        (half..2 * half - 1).map(|r| p.row(r)[ids[r + 1] as usize]).sum::<f32>() / (half - 1) as f32
    };
    let before = copy_prob(&mut e);
    e.set_ablation(Ablation::zero(&model.config, &[(best.layer - 1, best.head - 1)]));
    let after = copy_prob(&mut e);
    eprintln!("head {}.{} (induction {:.2}): copy probability {before:.4} → {after:.4}", best.layer, best.head, best.induction_random);
    assert!(before > 0.5, "the default model should copy a repeated sequence: {before}");
    assert!(after <= before / 2.0, "ablating the induction head should at least halve copying: {before} → {after}");
}
