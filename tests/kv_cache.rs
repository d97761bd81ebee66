//! A KV-cache step computes only the new position, yet its rows must equal the same rows of
//! a full recompute of the longer prompt.

mod common;
use common::*;
use llm_xray::{generate, CpuBackend, Engine, Part, Parts, Sampling, Tensor};

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
    for name in ["tiny-hf", "tiny-bare", "tiny-llama", "tiny-qwen2"] {
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
            // Every part the model has, from the one description: a step's rows equal the
            // full run's (a Keys part's row is as long as the context so far).
            for spec in llm_xray::trace::PARTS.iter().filter(|s| s.part.applies_to(&model.config)) {
                let (axis, width) = match spec.layout {
                    llm_xray::trace::Layout::Rows => (0, None),
                    llm_xray::trace::Layout::Heads => (1, None),
                    llm_xray::trace::Layout::Keys => (1, Some(p + 1)),
                };
                let layers: Vec<Option<usize>> = if spec.part.is_layer() { (0..model.config.n_layer).map(Some).collect() } else { vec![None] };
                for l in layers {
                    let get = |tr: &llm_xray::Trace| {
                        t(
                            match l {
                                Some(l) => tr.layer(l, spec.part),
                                None => tr.get(spec.part),
                            },
                            spec.name,
                        )
                        .clone()
                    };
                    let (a, b) = (get(&step), get(&full));
                    assert_close_scaled(&a.data, &row(&b, axis, p, width), 1e-5, &what(&format!("{} of layer {l:?}", spec.name)));
                }
            }
            assert_close_scaled(&step.next_logits, full.get(Part::Logits).unwrap().row(p), 1e-5, &what("next_logits"));
        }
    }
}

#[test]
fn generation_with_cache_equals_greedy_full_recompute() {
    let model = load("tiny-hf");
    let prompt = model.encode_prompt("Hello world").unwrap();
    let mut engine = Engine::cpu(model.clone());
    let (generated, _) = pollster::block_on(generate(&mut engine, &prompt, 8, &Sampling::default(), false)).unwrap();
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
    let mut engine = Engine::cpu(model.clone());
    let (out, stop) = pollster::block_on(generate(&mut engine, &prompt, 100, &Sampling::default(), false)).unwrap();
    assert_eq!(prompt.len() + out.len(), model.config.n_positions + 1, "one token may follow a full context");
    assert_eq!(stop, llm_xray::backend::Stop::ContextFull);
    let err = pollster::block_on(engine.run(&[1], Parts::none())).unwrap_err().to_string();
    assert!(err.contains("n_positions") && err.contains("already in it"), "{err}");
}

#[test]
fn generation_stops_at_an_end_of_sequence_token() {
    let model = load("tiny-hf");
    let prompt = model.encode_prompt("Hello").unwrap();
    let (free, _) = pollster::block_on(generate(&mut Engine::cpu(model.clone()), &prompt, 6, &Sampling::default(), false)).unwrap();
    // Declare the fourth generated token end-of-sequence: generation must stop right there.
    let mut m = llm_xray::Model::load(&fixture("tiny-hf")).unwrap();
    m.config.eos_token_ids = vec![free[3]];
    let first = free.iter().position(|&id| id == free[3]).unwrap();
    let (stopped, stop) = pollster::block_on(generate(&mut Engine::cpu(std::sync::Arc::new(m)), &prompt, 6, &Sampling::default(), true)).unwrap();
    assert_eq!(stop, llm_xray::backend::Stop::EndOfSequence);
    assert_eq!(stopped, free[..=first].to_vec());
}
