//! The CPU reference against Hugging Face `transformers` (fixtures written by
//! tests/fixtures/make_fixtures.py and make_llama_fixtures.py): tokens identical, logits and
//! hidden states within 1e-4 of the reference scale, attention probabilities within 1e-5.
//! GPT-2 folders, Llama and Qwen2 folders, and a llama.cpp-style GGUF file (its reference
//! from transformers' own GGUF loader, which dequantizes and un-permutes).

mod common;
use common::*;
use llm_xray::instruments::embedding_stream;
use llm_xray::{CpuBackend, Part, Parts};

fn check_model(name: &str) {
    let model = load(name);
    let reference = read_json(&format!("{name}/reference.json"));
    let prompts = reference["prompts"].as_array().expect("prompts");
    assert!(prompts.len() >= 4, "{name}: too few reference prompts");
    let cfg = &model.config;
    let mut cpu = CpuBackend::new(model.clone());
    for (i, p) in prompts.iter().enumerate() {
        let ids = ids_of(&p["ids"]);
        if let Some(text) = p["text"].as_str() {
            assert_eq!(model.encode_prompt(text).unwrap(), ids, "{name} prompt {i}: tokens differ from HF tokenizers");
        }
        let what = |s: &str| format!("{name} prompt {i} ({:?}) {s}", p["text"]);
        let tr = cpu.trace(&ids, Parts::all()).unwrap();
        assert_close_scaled(&t(tr.get(Part::Logits), "logits").data, &flatten(&p["logits"]), 1e-4, &what("logits"));

        let hidden = p["hidden_states"].as_array().unwrap();
        assert_eq!(hidden.len(), cfg.n_layer + 1);
        let emb = embedding_stream(&tr).unwrap();
        assert_close_scaled(emb.as_slice().unwrap(), &flatten(&hidden[0]), 1e-4, &what("hidden_states[0] (embeddings)"));
        for l in 0..cfg.n_layer {
            let part = |p: Part| t(tr.layer(l, p), p.name());
            // HF's last hidden state is after the final norm; the others are block outputs.
            let ours = if l + 1 == cfg.n_layer { t(tr.get(Part::LnF), "ln_f") } else { part(Part::ResidPost) };
            assert_close_scaled(&ours.data, &flatten(&hidden[l + 1]), 1e-4, &what(&format!("hidden_states[{}]", l + 1)));
            assert_close_scaled(&part(Part::ResidPost).data, &flatten(&p["resid_post"][l]), 1e-4, &what(&format!("layer {l} residual")));
            assert_close_scaled(&part(Part::MlpPost).data, &flatten(&p["mlp_post"][l]), 1e-4, &what(&format!("layer {l} MLP activation")));
            assert_close_abs(&part(Part::AttnProbs).data, &flatten(&p["attentions"][l]), 1e-5, &what(&format!("layer {l} attentions")));
            // Llama family: q and k after RoPE, v per key/value head, as transformers computes them.
            if !p["q_rope"].is_null() {
                assert_close_scaled(&part(Part::QRot).data, &flatten(&p["q_rope"][l]), 1e-4, &what(&format!("layer {l} q after RoPE")));
                assert_close_scaled(&part(Part::KRot).data, &flatten(&p["k_rope"][l]), 1e-4, &what(&format!("layer {l} k after RoPE")));
                assert_close_scaled(&part(Part::V).data, &flatten(&p["v"][l]), 1e-4, &what(&format!("layer {l} v")));
            }
        }
    }
}

#[test]
fn hf_layout_with_transformer_prefix_and_tied_unembedding() {
    check_model("tiny-hf");
}

#[test]
fn bare_layout_with_mask_buffers_untied_head_and_explicit_n_inner() {
    let m = load("tiny-bare");
    assert!(m.weights.lm_head.is_some(), "tiny-bare ships its own lm_head.weight");
    assert_eq!(m.config.n_inner, 80);
    check_model("tiny-bare");
}

#[test]
fn f16_weights_computed_in_f32() {
    check_model("tiny-f16");
}

#[test]
fn llama_with_grouped_query_attention_bf16_untied_head_and_top_level_rope_theta() {
    let m = load("tiny-llama");
    assert_eq!((m.config.n_head, m.config.n_kv_head), (4, 2));
    assert!(m.weights.lm_head.is_some());
    assert_eq!(m.config.rope_theta, Some(10000.0));
    check_model("tiny-llama");
}

#[test]
fn qwen2_with_qkv_biases_tied_and_rope_parameters() {
    let m = load("tiny-qwen2");
    assert!(m.config.qkv_bias && !m.config.o_bias);
    assert_eq!(m.config.rope_theta, Some(50000.0));
    assert!(m.weights.lm_head.is_none());
    check_model("tiny-qwen2");
}

#[test]
fn llama_gguf_with_permuted_qk_and_mixed_quantization() {
    let m = load("tiny-llama-gguf");
    let types: Vec<&str> = m.storage.types.iter().map(|(t, _)| t.as_str()).collect();
    for want in ["Q8_0", "Q4_0", "Q4_1", "F32"] {
        assert!(types.contains(&want), "expected {want} tensors in the fixture, found {types:?}");
    }
    check_model("tiny-llama-gguf");
}

#[test]
fn attention_is_sharp_in_fixtures() {
    // Guards the fixtures themselves: near-uniform maps would let a wrong mask or scale pass.
    for name in ["tiny-hf", "tiny-llama", "tiny-qwen2"] {
        let model = load(name);
        let ids = model.encode_prompt("It's 3:45, ok? The fox.").unwrap();
        let tr = CpuBackend::new(model.clone()).trace(&ids, Parts::all()).unwrap();
        let a = t(tr.layer(0, Part::AttnProbs), "attn");
        let tk = ids.len();
        let rows = a.data.chunks(tk).skip(1).filter(|r| r.iter().cloned().fold(0.0, f32::max) > 0.5).count();
        assert!(rows * 3 > a.data.len() / tk, "{name}: fewer than a third of the attention rows have a weight above 0.5");
    }
}
