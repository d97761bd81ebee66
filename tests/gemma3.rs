//! Gemma 3 against transformers, on tiny random checkpoints made by
//! tests/fixtures/make_gemma3_fixtures.py: `tiny-gemma3/` (an HF folder: 3 layers, the middle
//! one global, window 4, query_pre_attn_scalar 24 with heads 32 wide, norms stored as w of
//! (1 + w)) and `tiny-gemma3-gguf/` (a GGUF as llama.cpp writes one: 6 layers, norms stored
//! as 1 + w, quantized, and none of the keys whose defaults the loader must supply). Logits
//! within 1e-4 (relative to the largest), attention within 1e-5, every extra part Gemma
//! records; the KV cache across the window; the refusals; and the instruments on a model
//! whose blocks end in norms.

mod common;
use common::*;
use llm_xray::config::LayerType;
use llm_xray::session::Session;
use llm_xray::trace::Positions;
use llm_xray::{Choice, CpuBackend, Engine, Model, Part, Parts};
use serde_json::Value;
use std::sync::Arc;

fn gguf(file: &str) -> Arc<Model> {
    let path = fixture("tiny-gemma3-gguf").join(file);
    Arc::new(Model::load(&path).unwrap_or_else(|e| panic!("loading {file}: {e}")))
}

/// Every part the reference holds, against our trace of the same ids.
fn check_prompt(model: &Arc<Model>, p: &Value, what: &str) {
    let ids = ids_of(&p["ids"]);
    let tr = CpuBackend::new(model.clone()).trace(&ids, Parts::all()).unwrap();
    let logits = &t(tr.get(Part::Logits), "logits").data;
    let want = flatten(&p["logits"]);
    assert_close_scaled(logits, &want, 1e-4, &format!("{what}: logits"));
    let per_layer = |key: &str| -> Vec<Vec<f32>> { p[key].as_array().unwrap().iter().map(flatten).collect() };
    let mut worst = 0.0f32;
    for (l, want) in per_layer("attentions").iter().enumerate() {
        let ours = &t(tr.layer(l, Part::AttnProbs), "attentions").data;
        worst = worst.max(max_diff(ours, want, "attention"));
        assert_close_abs(ours, want, 1e-5, &format!("{what}: attention of layer {}", l + 1));
    }
    eprintln!("{what}: max |logit diff| {:.1e}, max |attention diff| {worst:.1e}", max_diff(logits, &want, "logits"));
    if p.get("embeddings").is_none() {
        return;
    }
    assert_close_scaled(&t(tr.get(Part::TokEmb), "embeddings").data, &flatten(&p["embeddings"]), 1e-6, &format!("{what}: scaled token embeddings"));
    for (key, part, tol) in [
        ("q_normed", Part::QNorm, 1e-5),
        ("k_normed", Part::KNorm, 1e-5),
        ("q_rope", Part::QRot, 1e-5),
        ("k_rope", Part::KRot, 1e-5),
        ("post_attention_norm", Part::PostAttnNorm, 1e-4),
        ("post_mlp_norm", Part::PostMlpNorm, 1e-4),
        ("mlp_post", Part::MlpPost, 1e-4),
        ("resid_post", Part::ResidPost, 1e-4),
    ] {
        for (l, want) in per_layer(key).iter().enumerate() {
            assert_close_scaled(&t(tr.layer(l, part), key).data, want, tol, &format!("{what}: {key} of layer {}", l + 1));
        }
    }
}

#[test]
fn hf_folder_equals_transformers() {
    let model = load("tiny-gemma3");
    let c = &model.config;
    assert_eq!((c.n_layer, c.n_head, c.n_kv_head, c.head_dim, c.sliding_window), (3, 2, 1, 32, Some(4)));
    assert_eq!(c.layer_types, vec![LayerType::Sliding, LayerType::Global, LayerType::Sliding]);
    assert_eq!((c.query_pre_attn_scalar, c.rope_theta, c.rope_local_theta), (Some(24.0), Some(1e6), Some(1e4)));
    assert!(c.defaulted.is_empty(), "config.json gives every hyperparameter: {:?}", c.defaulted);
    // The HF file stores w of a norm that scales by (1 + w); the model holds 1 + w.
    let st = std::fs::read(fixture("tiny-gemma3/model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&st).unwrap();
    let w0 = st.tensor("model.layers.0.input_layernorm.weight").unwrap();
    let w0 = f32::from_le_bytes(w0.data()[..4].try_into().unwrap());
    assert_eq!(model.weights.layers[0].ln_1.g[0], w0 + 1.0);
    for (i, p) in read_json("tiny-gemma3/reference.json")["prompts"].as_array().unwrap().iter().enumerate() {
        check_prompt(&model, p, &format!("tiny-gemma3 prompt {i}"));
    }
}

#[test]
fn gguf_equals_transformers_with_the_defaults_it_lacks() {
    let model = gguf("model.gguf");
    let c = &model.config;
    assert_eq!(c.layer_types, [vec![LayerType::Sliding; 5], vec![LayerType::Global]].concat());
    assert_eq!((c.query_pre_attn_scalar, c.rope_theta, c.rope_local_theta, c.sliding_window), (Some(32.0), Some(1e5), Some(1e4), Some(4)));
    let defaulted: Vec<&str> = c.defaulted.iter().map(|d| d.name).collect();
    assert_eq!(defaulted, ["rope_local_base_freq", "query_pre_attn_scalar", "sliding_window_pattern"]);
    assert_eq!(c.layer_pattern().as_deref(), Some("sliding (4 tokens): 1–5; global: 6"));
    for (i, p) in read_json("tiny-gemma3-gguf/reference.json")["prompts"].as_array().unwrap().iter().enumerate() {
        check_prompt(&model, p, &format!("tiny-gemma3-gguf prompt {i}"));
    }
}

#[test]
fn gguf_layer_pattern_and_local_base_are_read_from_the_file() {
    let model = gguf("pattern.gguf");
    let c = &model.config;
    let (s, g) = (LayerType::Sliding, LayerType::Global);
    assert_eq!(c.layer_types, vec![s, g, s, s, g, s]);
    assert_eq!(c.rope_local_theta, Some(20000.0));
    assert_eq!(c.defaulted.iter().map(|d| d.name).collect::<Vec<_>>(), ["query_pre_attn_scalar"]);
    assert_eq!(c.layer_pattern().as_deref(), Some("sliding (4 tokens): 1, 3–4, 6; global: 2, 5"));
    for p in read_json("tiny-gemma3-gguf/pattern_reference.json")["prompts"].as_array().unwrap() {
        check_prompt(&model, p, "pattern.gguf");
    }
}

#[test]
fn refuses_other_gemmas_and_soft_capping_by_name() {
    let err = |file: &str| Model::load(&fixture("tiny-gemma3-gguf").join(file)).err().expect("refused").to_string();
    let e = err("gemma2.gguf");
    assert!(e.contains("gemma2.gguf") && e.contains("Gemma 2 is not supported"), "{e}");
    let e = err("softcap.gguf");
    assert!(e.contains("gemma3.final_logit_softcapping is 30") && e.contains("soft-capping is not implemented"), "{e}");
    let config = std::fs::read_to_string(fixture("tiny-gemma3/config.json")).unwrap();
    let e = llm_xray::arch::config_from_hf(config.replace("\"gemma3_text\"", "\"gemma2\"").as_bytes()).unwrap_err().to_string();
    assert!(e.contains("Gemma 2 is not supported"), "{e}");
    let e = llm_xray::arch::config_from_hf(config.replace("\"final_logit_softcapping\": null", "\"final_logit_softcapping\": 30.0").as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("final_logit_softcapping is 30"), "{e}");
}

/// The prompt run at once, and run as a prefix then one KV-cache step per token: the
/// sliding window must move over the cache exactly as over the whole prompt.
#[test]
fn kv_cache_steps_equal_one_run() {
    let model = load("tiny-gemma3");
    let reference = read_json("tiny-gemma3/reference.json");
    let p = &reference["prompts"][1];
    let ids = ids_of(&p["ids"]);
    let v = model.config.vocab_size;
    let want = flatten(&p["logits"]);
    let mut cpu = CpuBackend::new(model.clone());
    cpu.run(&ids[..3], Parts::none()).unwrap();
    for k in 3..ids.len() {
        let tr = cpu.run(&ids[k..k + 1], Parts::of(&[Part::AttnProbs])).unwrap();
        assert_close_scaled(&tr.next_logits, &want[k * v..(k + 1) * v], 1e-4, &format!("logits after step {k}"));
        // Layer 1 slides: its step sees the last 4 keys only.
        let a = &t(tr.layer(0, Part::AttnProbs), "attentions").data;
        let tk = k + 1;
        for h in 0..2 {
            let row = &a[h * tk..(h + 1) * tk];
            assert!(row[..tk.saturating_sub(4)].iter().all(|&x| x == 0.0), "step {k}, head {}: a key before the window has weight", h + 1);
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}

/// `--positions last`: the logits of the last position only, the attention maps whole.
#[test]
fn positions_last_keeps_attention_whole() {
    let model = load("tiny-gemma3");
    let reference = read_json("tiny-gemma3/reference.json");
    let p = &reference["prompts"][1];
    let ids = ids_of(&p["ids"]);
    let (v, n) = (model.config.vocab_size, ids.len());
    let tr = CpuBackend::new(model.clone()).run_positions(&ids, Parts::of(&[Part::AttnProbs, Part::Logits, Part::PostMlpNorm]), &Positions::Last).unwrap();
    let logits = t(tr.get(Part::Logits), "logits");
    assert_eq!(logits.shape, vec![1, v]);
    assert_close_scaled(&logits.data, &flatten(&p["logits"])[(n - 1) * v..], 1e-4, "last position's logits");
    assert_eq!(t(tr.layer(1, Part::AttnProbs), "attentions").shape, vec![2, n, n]);
    assert_eq!(t(tr.layer(2, Part::PostMlpNorm), "post_mlp_norm").shape, vec![1, 64]);
}

#[test]
fn the_gpu_refuses_gemma_and_the_engine_stays_on_the_cpu() {
    let model = load("tiny-gemma3");
    let e = pollster::block_on(Engine::new(model, Choice::Gpu, true));
    assert_eq!(e.info().kind, "cpu");
    let why = e.gpu_failure().expect("the GPU's refusal");
    assert!(why.contains("Gemma 3 is not yet on the GPU"), "{why}");
}

#[test]
fn info_shows_the_layer_pattern_and_the_defaults() {
    let model = gguf("model.gguf");
    let s = serde_json::to_value(model.summary()).unwrap();
    assert_eq!(s["layer_pattern"], "sliding (4 tokens): 1–5; global: 6");
    assert_eq!(s["config"]["layer_types"][5], "global");
    assert_eq!(s["config"]["defaulted"][1], serde_json::json!({"name": "query_pre_attn_scalar", "value": "32"}));
    assert_eq!(s["config"]["model_type"], "gemma3");
    // Norm gains of the post-norms and QK-norms are counted with the others.
    let norms = s["parameters"].as_array().unwrap().iter().find(|p| p["component"] == "RMSNorm gains").unwrap()["count"].as_u64().unwrap();
    assert_eq!(norms, 6 * (4 * 64 + 2 * 32) + 64);
}

/// Direct logit attribution with post-norms: each head's share passes the post-attention
/// norm with its scale frozen, so the shares still sum to the logit.
#[test]
fn attribution_sums_to_the_logit_through_the_post_norms() {
    let model = load("tiny-gemma3");
    let ids = model.encode_prompt("To the café, 3 men!").unwrap();
    let parts = llm_xray::instruments::attribution_parts().with(Part::Logits);
    let tr = CpuBackend::new(model.clone()).trace(&ids, parts).unwrap();
    let v = model.config.vocab_size;
    let pos = ids.len() - 2;
    let row = &t(tr.get(Part::Logits), "logits").data[pos * v..(pos + 1) * v];
    let token = llm_xray::sampling::argmax(row);
    let a = llm_xray::instruments::attribute(&model, &tr, pos, token).unwrap();
    let sum: f32 = a.components.iter().map(|c| c.value).sum();
    assert!((a.logit - row[token as usize]).abs() < 1e-4, "attributed logit {} vs the run's {}", a.logit, row[token as usize]);
    assert!((sum - a.logit).abs() < 1e-3 * a.logit.abs().max(1.0), "components sum to {sum}, logit {}", a.logit);
    assert_eq!(a.components.len(), 1 + 3 * (2 + 1));
}

/// The page's store: what each block adds to the residual stream is its post-norm's output.
#[test]
fn the_session_store_measures_what_the_blocks_add() {
    let model = load("tiny-gemma3");
    let mut s = Session::new(Engine::cpu(model.clone()));
    pollster::block_on(s.run_prompt("It was the best of times")).unwrap();
    let ids = s.ids().to_vec();
    let tr = CpuBackend::new(model).trace(&ids, Parts::of(&[Part::AttnOut, Part::PostAttnNorm, Part::PostMlpNorm])).unwrap();
    let norm = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>().sqrt();
    for l in 0..3 {
        let post = t(tr.layer(l, Part::PostAttnNorm), "post_attention_norm");
        let out = t(tr.layer(l, Part::AttnOut), "attention_output");
        for i in 0..ids.len() {
            let stored = s.store().norms().attention[l][i];
            assert!((stored - norm(post.row(i))).abs() < 1e-4 * stored.max(1.0), "layer {} token {i}", l + 1);
            assert!((stored - norm(out.row(i))).abs() > 1e-3, "the post-norm changes the norm");
            assert!((s.store().norms().mlp[l][i] - norm(t(tr.layer(l, Part::PostMlpNorm), "post_mlp_norm").row(i))).abs() < 1e-4);
        }
    }
    use llm_xray::trace::PartSource;
    assert!(s.store().part(Some(0), Part::QNorm).is_some(), "the page keeps q after QK-norm");
}
