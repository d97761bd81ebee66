//! A KV-cache step computes only the new position, yet its rows must equal the same rows of
//! a full recompute of the longer prompt.

mod common;
use common::*;
use llm_xray::{generate, Backend, CpuBackend, Parts, Sampling, Tensor};

/// Row `r` of a tensor whose row axis is `axis` (0 for [T, x], 1 for [H, T, x]), for every
/// outer index, with the last axis cut to `width` (a step's attention row is as long as the
/// context so far, the full recompute's as long as the whole prompt).
fn row(t: &Tensor, axis: usize, r: usize, width: Option<usize>) -> Vec<f32> {
    let outer: usize = t.shape[..axis].iter().product();
    let n = t.shape[axis];
    let inner: usize = t.shape[axis + 1..].iter().product();
    let w = width.unwrap_or(inner);
    (0..outer).flat_map(|o| t.data[(o * n + r) * inner..][..w].to_vec()).collect()
}

#[test]
fn steps_equal_full_recompute() {
    for name in ["tiny-hf", "tiny-bare"] {
        let model = load(name);
        let ids = model.encode_prompt("It's 3:45, ok? Hello").unwrap();
        let n = ids.len();
        let mut cpu = CpuBackend::new(model.clone());
        let full = cpu.trace(&ids, Parts::all()).unwrap();
        // Prefix of 3 tokens, then one token at a time.
        cpu.trace(&ids[..3], Parts::none()).unwrap();
        for p in 3..n {
            let step = cpu.run(&ids[p..p + 1], Parts::all()).unwrap();
            assert_eq!(step.start_position, p);
            assert_eq!(step.tokens[0].id, ids[p]);
            assert_eq!(cpu.context_len(), p + 1);
            let what = |s: &str| format!("{name} step {p} {s}");
            let cmp = |a: &Option<Tensor>, b: &Option<Tensor>, axis: usize, width: Option<usize>, s: &str| {
                let (a, b) = (t(a, s), t(b, s));
                assert_close_scaled(&a.data, &row(b, axis, p, width), 1e-5, &what(s));
            };
            cmp(&step.token_embeddings, &full.token_embeddings, 0, None, "token embeddings");
            cmp(&step.position_embeddings, &full.position_embeddings, 0, None, "position embeddings");
            for (l, (s, f)) in step.layers.iter().zip(&full.layers).enumerate() {
                let l = format!("layer {l}");
                cmp(&s.q, &f.q, 1, None, &format!("{l} q"));
                cmp(&s.k, &f.k, 1, None, &format!("{l} k"));
                cmp(&s.attentions, &f.attentions, 1, Some(p + 1), &format!("{l} attentions"));
                cmp(&s.attention_scores, &f.attention_scores, 1, Some(p + 1), &format!("{l} scores"));
                cmp(&s.mlp_activation, &f.mlp_activation, 0, None, &format!("{l} mlp"));
                cmp(&s.residual_after_mlp, &f.residual_after_mlp, 0, None, &format!("{l} residual"));
            }
            cmp(&step.logits, &full.logits, 0, None, "logits");
            cmp(&step.probabilities, &full.probabilities, 0, None, "probabilities");
            assert_close_scaled(&step.next_logits, full.logits.as_ref().unwrap().row(p), 1e-5, &what("next_logits"));
        }
    }
}

#[test]
fn generation_with_cache_equals_greedy_full_recompute() {
    let model = load("tiny-hf");
    let prompt = model.encode_prompt("Hello world").unwrap();
    let mut cpu = CpuBackend::new(model.clone());
    let generated = generate(&mut cpu, &prompt, 8, &Sampling::default()).unwrap();
    let mut ids = prompt.clone();
    let mut fresh = CpuBackend::new(model.clone());
    for &g in &generated {
        let tr = fresh.trace(&ids, Parts::none()).unwrap();
        assert_eq!(g, llm_xray::sampling::argmax(&tr.next_logits));
        ids.push(g);
    }
}

#[test]
fn generation_stops_at_a_full_context() {
    let model = load("tiny-hf");
    let prompt = model.encode_prompt("Hello world").unwrap();
    let mut cpu = CpuBackend::new(model.clone());
    let out = generate(&mut cpu, &prompt, 100, &Sampling::default()).unwrap();
    assert_eq!(prompt.len() + out.len(), model.config.n_positions + 1, "one token may follow a full context");
    let err = cpu.run(&[1], Parts::none()).unwrap_err().to_string();
    assert!(err.contains("n_positions") && err.contains("already in it"), "{err}");
}
