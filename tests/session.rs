//! The session the page runs on, natively: typing that extends or edits the prompt reuses
//! the cached keys and values yet equals a fresh run, generation and the history, head
//! ablation with its un-ablated baseline, instruments over the stored context, and errors.

mod common;
use common::*;
use llm_xray::ablation::AblationMode;
use llm_xray::session::Session;
use llm_xray::trace::PartSource;
use llm_xray::trace::PARTS;
use llm_xray::{Choice, Engine, Sampling};
use pollster::block_on;

fn session(name: &str) -> Session {
    Session::new(Engine::cpu(load(name)))
}

/// Every part `a` holds agrees with `b` (another session's store, or a fresh trace).
fn assert_same_parts(a: &dyn PartSource, b: &dyn PartSource, n_layer: usize, what: &str) {
    let mut compared = 0;
    for spec in PARTS.iter() {
        let layers: Vec<Option<usize>> = if spec.part.is_layer() { (0..n_layer).map(Some).collect() } else { vec![None] };
        for l in layers {
            if let Some(x) = a.part(l, spec.part) {
                let y = b.part(l, spec.part).unwrap_or_else(|| panic!("{what}: {} of layer {l:?} missing", spec.name));
                assert_eq!(x.shape, y.shape, "{what}: {} shape", spec.name);
                assert_close_scaled(&x.data, &y.data, 1e-5, &format!("{what}: {} of layer {l:?}", spec.name));
                compared += 1;
            }
        }
    }
    assert!(compared > 3 * n_layer, "{what}: only {compared} parts stored");
}

/// Two sessions' contexts agree: tokens, every stored part, norms, next-token logits.
fn assert_same_store(a: &Session, b: &Session, what: &str) {
    assert_eq!(a.store().tokens(), b.store().tokens(), "{what}: tokens");
    let cfg = &a.model().config;
    assert_same_parts(a.store(), b.store(), cfg.n_layer, what);
    let (na, nb) = (a.store().norms(), b.store().norms());
    assert_close_scaled(&na.embedding, &nb.embedding, 1e-5, &format!("{what}: embedding norms"));
    for l in 0..cfg.n_layer {
        for (x, y, name) in [(&na.after_layer, &nb.after_layer, "residual"), (&na.attention, &nb.attention, "attention"), (&na.mlp, &nb.mlp, "MLP")] {
            assert_close_scaled(&x[l], &y[l], 1e-5, &format!("{what}: layer {l} {name} norms"));
        }
    }
    let n = a.store().len();
    assert_close_scaled(a.store().logits_at(n).unwrap(), b.store().logits_at(n).unwrap(), 1e-5, &format!("{what}: next-token logits"));
}

#[test]
fn typing_reuses_the_cache_and_equals_a_fresh_run() {
    for name in ["tiny-hf", "tiny-llama"] {
        let mut s = session(name);
        let first = block_on(s.run_prompt("The cat sat")).unwrap();
        assert_eq!((first.computed, first.reused), (first.tokens.len(), 0));
        // Typing more at the end: only the new tokens are computed.
        let typed = block_on(s.run_prompt("The cat sat on the mat")).unwrap();
        assert_eq!((typed.reused, typed.computed), (first.tokens.len(), typed.tokens.len() - first.tokens.len()), "{name}");
        let mut fresh = session(name);
        block_on(fresh.run_prompt("The cat sat on the mat")).unwrap();
        assert_same_store(&s, &fresh, &format!("{name} after typing"));
        // Editing the last word rewinds to the common prefix.
        let edited = block_on(s.run_prompt("The cat sat on the hat")).unwrap();
        assert!(edited.reused > 0 && edited.computed < edited.tokens.len());
        let mut fresh = session(name);
        block_on(fresh.run_prompt("The cat sat on the hat")).unwrap();
        assert_same_store(&s, &fresh, &format!("{name} after editing"));
        // The same prompt again computes nothing.
        assert_eq!(block_on(s.run_prompt("The cat sat on the hat")).unwrap().computed, 0);
    }
}

#[test]
fn generating_and_going_back_in_the_history() {
    let mut s = session("tiny-llama");
    let p = block_on(s.run_prompt("Hello there")).unwrap().prompt_len;
    let greedy = Sampling::default();
    block_on(s.generate_next(p, &greedy)).unwrap();
    let two = block_on(s.generate_next(p + 1, &greedy)).unwrap();
    assert_eq!(two.tokens.len(), p + 2);
    // The store after two steps equals a fresh run of the same tokens, row for row.
    let fresh = llm_xray::CpuBackend::new(s.model().clone()).trace(s.ids(), llm_xray::Parts::all()).unwrap();
    assert_same_parts(s.store(), &fresh, s.model().config.n_layer, "after two steps");
    // Generating again from the prompt replaces the later steps; greedy gives the same token.
    let again = block_on(s.generate_next(p, &greedy)).unwrap();
    assert_eq!(again.tokens.len(), p + 1);
    assert_eq!(again.tokens[p].id, two.tokens[p].id);
    assert!(block_on(s.generate_next(p + 5, &greedy)).is_err(), "a step past the context is refused");
    // Sampled steps use the k-th draw of the seeded generator, as `llm-xray generate` does.
    let sampled = Sampling { temperature: 0.8, top_k: 0, top_p: 1.0, seed: 7 };
    let mut e = Engine::cpu(load("tiny-llama"));
    let (cli, _) = block_on(llm_xray::generate(&mut e, &s.ids()[..p], 2, &sampled, false)).unwrap();
    block_on(s.generate_next(p, &sampled)).unwrap();
    let got = block_on(s.generate_next(p + 1, &sampled)).unwrap();
    assert_eq!(got.tokens[p..].iter().map(|t| t.id).collect::<Vec<_>>(), cli);
}

#[test]
fn ablation_reruns_the_context_and_keeps_the_baseline() {
    let mut s = session("tiny-hf");
    let info = block_on(s.run_prompt("Hello world, hello")).unwrap();
    let at = info.prompt_len;
    let greedy = Sampling { temperature: 1.0, ..Sampling::default() };
    let (before, _) = s.distribution(at, &greedy, 5, false).unwrap();
    let info = block_on(s.set_ablation(vec![(0, 1), (1, 2)], AblationMode::Zero)).unwrap().unwrap();
    assert_eq!(info.ablated, vec![(1, 2), (2, 3)], "reported counted from 1");
    let (after, _) = s.distribution(at, &greedy, 5, false).unwrap();
    let (baseline, _) = s.distribution(at, &greedy, 5, true).unwrap();
    assert_eq!(baseline, before, "the baseline is the un-ablated distribution");
    assert_ne!(after, before, "ablating two heads changes the distribution");
    // Mean-ablation, and typing while ablated, still run.
    block_on(s.set_ablation(vec![(1, 0)], AblationMode::Mean)).unwrap();
    block_on(s.run_prompt("Hello world, hello there")).unwrap();
    assert!(block_on(s.set_ablation(vec![(5, 0)], AblationMode::Zero)).is_err(), "a head that does not exist is refused");
    block_on(s.set_ablation(vec![], AblationMode::Zero)).unwrap();
    assert!(s.distribution(at, &greedy, 5, true).is_err(), "no baseline without an ablation");
}

/// Heads chosen before any prompt (the page restores them from its URL before the first
/// run) ablate that first run, and typing while ablated keeps both the ablated run and its
/// un-ablated baseline those of the new prompt.
#[test]
fn an_ablation_holds_from_before_the_first_prompt_and_while_typing() {
    let greedy = Sampling { temperature: 1.0, ..Sampling::default() };
    for mode in [AblationMode::Zero, AblationMode::Mean] {
        let heads = vec![(0, 1), (1, 0)];
        let mut s = session("tiny-hf");
        assert!(block_on(s.set_ablation(heads.clone(), mode)).unwrap().is_none());
        for prompt in ["Hello world", "Hello world, hello"] {
            let info = block_on(s.run_prompt(prompt)).unwrap();
            let at = info.prompt_len;
            // The same heads ablated after the prompt ran, and no ablation at all.
            let mut after = session("tiny-hf");
            block_on(after.run_prompt(prompt)).unwrap();
            let (plain, _) = after.distribution(at, &greedy, 8, false).unwrap();
            block_on(after.set_ablation(heads.clone(), mode)).unwrap();
            assert_same_store(&s, &after, &format!("{mode:?} ablation, prompt {prompt:?}"));
            assert_eq!(s.distribution(at, &greedy, 8, true).unwrap().0, plain, "{mode:?}: the baseline is {prompt:?} un-ablated");
            assert_ne!(s.distribution(at, &greedy, 8, false).unwrap().0, plain, "{mode:?}: the run is ablated");
        }
    }
}

#[test]
fn instruments_run_on_the_stored_context() {
    let mut s = session("tiny-llama");
    block_on(s.run_prompt("It's 3:45, ok?")).unwrap();
    let n = s.store().len();
    let lens = s.lens(3, Some(5)).unwrap();
    assert_eq!(lens.len(), s.model().config.n_layer + 1);
    assert_eq!(lens[0].top.len(), n);
    assert_eq!(lens[0].target.as_ref().unwrap().len(), n);
    let a = s.attribute(n - 1, 5).unwrap();
    let sum: f32 = a.components.iter().map(|c| c.value).sum();
    assert!((sum - a.logit).abs() <= 1e-4 * a.logit.abs().max(1.0));
}

#[test]
fn bad_prompts_leave_the_context_as_it_was() {
    let mut s = session("tiny-hf");
    block_on(s.run_prompt("Hello")).unwrap();
    let before = s.ids().to_vec();
    let err = block_on(s.run_prompt(&"word ".repeat(100))).unwrap_err().to_string();
    assert!(err.contains("do not fit") && err.contains("24 tokens"), "{err}");
    assert!(block_on(s.run_prompt("")).unwrap_err().to_string().contains("empty"));
    assert_eq!(s.ids(), &before[..]);
}

#[test]
fn switching_backend_reruns_the_context() {
    let mut s = session("tiny-hf");
    block_on(s.run_prompt("Hello world")).unwrap();
    let switch = block_on(s.set_backend(Choice::Cpu, false)).unwrap();
    assert_eq!(switch.backend.kind, "cpu");
    let info = switch.run.unwrap();
    assert_eq!(info.backend.kind, "cpu");
    assert_eq!(info.computed, info.tokens.len());
    let switch = block_on(s.set_backend(Choice::Gpu, false)).unwrap();
    assert!(switch.backend.why.contains("no GPU API"), "{}", switch.backend.why);
    assert!(switch.run.is_some(), "the context is re-run on the fallback");
}

#[test]
fn a_big_model_keeps_fewer_tokens_than_its_context() {
    // The page caps the context where stored activations would pass its budget.
    let mut m = llm_xray::Model::load(&fixture("tiny-llama")).unwrap();
    m.config.n_positions = 1 << 20;
    let max = llm_xray::session::max_tokens(&m, llm_xray::session::STORE_BUDGET);
    assert!(max < 1 << 20 && max > 1000, "{max}");
}
