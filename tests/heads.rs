//! The head census scores known attention patterns as expected: a model whose heads are,
//! by construction, a perfect previous-token head, a perfect induction head, a first-token
//! head and a self head must score 1 on its own behaviour, and be labelled by it.

mod common;
use common::*;
use llm_xray::heads::{census, Attends, HeadScores};
use llm_xray::{Config, Engine, Tensor};

struct Patterned {
    config: Config,
}

impl Attends for Patterned {
    fn config(&self) -> &Config {
        &self.config
    }
    async fn attentions(&mut self, ids: &[u32]) -> llm_xray::Result<Vec<Tensor>> {
        let t = ids.len();
        let (nl, nh) = (self.config.n_layer, self.config.n_head);
        let target = |h: usize, r: usize| -> usize {
            match h {
                0 => r.saturating_sub(1),
                // Induction: the token after the latest earlier occurrence of this token.
                1 => (0..r).rev().find(|&j| ids[j] == ids[r]).map_or(0, |j| j + 1),
                2 => 0,
                _ => r,
            }
        };
        let mut data = vec![0.0; nh * t * t];
        for h in 0..nh {
            for r in 0..t {
                data[(h * t + r) * t + target(h, r)] = 1.0;
            }
        }
        Ok((0..nl).map(|_| Tensor::new(vec![nh, t, t], data.clone())).collect())
    }
}

#[test]
fn census_scores_constructed_heads() {
    let mut b = Patterned { config: load("tiny-hf").config.clone() };
    let text: Vec<u32> = (0..30).map(|i| (i * 37 % 400) as u32).collect();
    let mut calls = Vec::new();
    let scores = pollster::block_on(census(&mut b, Some(&text), &mut |d, n| calls.push((d, n)))).unwrap();
    assert_eq!(scores.len(), 2 * 4);
    assert_eq!(calls.last(), Some(&(6, 6)), "progress reaches its total: {calls:?}");
    let s = |h: usize| &scores[h];
    // Counted from 1, as the page and the text output show them.
    assert_eq!((s(0).layer, s(0).head), (1, 1));
    assert_eq!(s(0).previous_token, 1.0);
    assert!(s(0).induction_random < 0.2 && s(0).first_token < 0.1);
    assert!(s(1).induction_random > 0.97, "{}", s(1).induction_random);
    assert_eq!(s(1).induction_text, Some(1.0));
    assert_eq!(s(2).first_token, 1.0);
    assert_eq!(s(3).self_attention, 1.0);
    assert_eq!(s(3).previous_token, 0.0);
    assert_eq!(s(0).label().0, "previous-token");
    assert_eq!(s(1).label().0, "induction");
    assert_eq!(s(2).label().0, "first-token");
    assert_eq!(s(3).label().0, "self");
}

#[test]
fn an_induction_head_is_named_induction_even_when_it_rests_on_the_first_token() {
    // The shipped model's induction head scores 0.876 on first-token and 0.874 on random
    // induction: the rarer behaviour names it.
    let h =
        HeadScores { layer: 3, head: 4, previous_token: 0.01, induction_random: 0.874, induction_text: Some(0.51), first_token: 0.876, self_attention: 0.02 };
    assert_eq!(h.label(), ("induction", 0.874));
    let weak = HeadScores { induction_random: 0.2, induction_text: Some(0.1), ..h };
    assert_eq!(weak.label().0, "first-token");
}

#[test]
fn census_on_real_models_gives_probabilities() {
    for name in ["tiny-hf", "tiny-llama"] {
        let mut e = Engine::cpu(load(name));
        for s in pollster::block_on(census(&mut e, None, &mut |_, _| {})).unwrap() {
            for v in [s.previous_token, s.induction_random, s.first_token, s.self_attention] {
                assert!((0.0..=1.0).contains(&v), "{name}: {s:?}");
            }
        }
    }
}
