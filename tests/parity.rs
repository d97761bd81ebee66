//! The CPU reference against Hugging Face `transformers` (fixtures written by
//! tests/fixtures/make_fixtures.py): tokens identical, logits and hidden states within 1e-4
//! of the reference scale, attention probabilities within 1e-5.

mod common;
use common::*;
use llm_xray::{Backend, CpuBackend, Parts};

fn check_model(name: &str) {
    let model = load(name);
    let reference = read_json(&format!("{name}/reference.json"));
    let prompts = reference["prompts"].as_array().expect("prompts");
    assert!(prompts.len() >= 4, "{name}: too few reference prompts");
    let mut cpu = CpuBackend::new(model.clone());
    for (i, p) in prompts.iter().enumerate() {
        let ids: Vec<u32> = p["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        if let Some(text) = p["text"].as_str() {
            assert_eq!(model.encode_prompt(text).unwrap(), ids, "{name} prompt {i}: tokens differ from HF tokenizers");
        }
        let what = |s: &str| format!("{name} prompt {i} ({:?}) {s}", p["text"]);
        let tr = cpu.trace(&ids, Parts::all()).unwrap();
        assert_close_scaled(&t(&tr.logits, "logits").data, &flatten(&p["logits"]), 1e-4, &what("logits"));

        let hidden = p["hidden_states"].as_array().unwrap();
        assert_eq!(hidden.len(), model.config.n_layer + 1);
        let emb: Vec<f32> = t(&tr.token_embeddings, "tok")
            .data
            .iter()
            .zip(&t(&tr.position_embeddings, "pos").data)
            .map(|(a, b)| a + b)
            .collect();
        assert_close_scaled(&emb, &flatten(&hidden[0]), 1e-4, &what("hidden_states[0] (embeddings)"));
        for l in 0..model.config.n_layer {
            let lt = &tr.layers[l];
            // HF's last hidden state is after ln_f; the others are block outputs.
            let ours = if l + 1 == model.config.n_layer { t(&tr.ln_f, "ln_f") } else { t(&lt.residual_after_mlp, "resid") };
            assert_close_scaled(&ours.data, &flatten(&hidden[l + 1]), 1e-4, &what(&format!("hidden_states[{}]", l + 1)));
            assert_close_scaled(&t(&lt.residual_after_mlp, "resid").data, &flatten(&p["resid_post"][l]), 1e-4, &what(&format!("layer {l} residual")));
            assert_close_scaled(&t(&lt.mlp_activation, "mlp").data, &flatten(&p["mlp_post"][l]), 1e-4, &what(&format!("layer {l} MLP activation")));
            assert_close_abs(&t(&lt.attentions, "attn").data, &flatten(&p["attentions"][l]), 1e-5, &what(&format!("layer {l} attentions")));
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
fn attention_is_sharp_in_fixtures() {
    // Guards the fixtures themselves: near-uniform maps would let a wrong mask or scale pass.
    let model = load("tiny-hf");
    let ids = model.encode_prompt("It's 3:45, ok? The fox.").unwrap();
    let tr = CpuBackend::new(model.clone()).trace(&ids, Parts::all()).unwrap();
    let a = t(&tr.layers[0].attentions, "attn");
    let tk = ids.len();
    let rows = a.data.chunks(tk).skip(1).filter(|r| r.iter().cloned().fold(0.0, f32::max) > 0.5).count();
    assert!(rows * 2 > a.data.len() / tk, "fewer than half the attention rows have a weight above 0.5");
}
