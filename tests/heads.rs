//! The head census scores known attention patterns as expected: a backend whose heads are,
//! by construction, a perfect previous-token head, a perfect induction head, a first-token
//! head and a self head must score 1 on its own behaviour.

mod common;
use common::*;
use llm_xray::trace::{LayerTrace, Tensor, TokenInfo};
use llm_xray::{Backend, Model, Parts, Trace};
use std::sync::Arc;

struct Patterned {
    model: Arc<Model>,
}

impl Backend for Patterned {
    fn describe(&self) -> String {
        "patterned".into()
    }
    fn model(&self) -> &Arc<Model> {
        &self.model
    }
    fn context_len(&self) -> usize {
        0
    }
    fn reset(&mut self) {}
    fn run(&mut self, ids: &[u32], _: Parts) -> llm_xray::Result<Trace> {
        let t = ids.len();
        let (nl, nh) = (self.model.config.n_layer, self.model.config.n_head);
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
        let layers = (0..nl)
            .map(|_| LayerTrace { attentions: Some(Tensor::new(vec![nh, t, t], data.clone())), ..Default::default() })
            .collect();
        Ok(Trace {
            tokens: ids.iter().map(|&id| TokenInfo { id, text: String::new(), bytes: vec![], span: (0, 0) }).collect(),
            start_position: 0,
            token_embeddings: None,
            position_embeddings: None,
            layers,
            ln_f: None,
            logits: None,
            probabilities: None,
            next_logits: vec![],
            elapsed_ms: 0.0,
        })
    }
}

#[test]
fn census_scores_constructed_heads() {
    let mut b = Patterned { model: load("tiny-hf") };
    let text: Vec<u32> = (0..30).map(|i| (i * 37 % 400) as u32).collect();
    let scores = llm_xray::heads::census(&mut b, Some(&text)).unwrap();
    assert_eq!(scores.len(), 2 * 4);
    let s = |h: usize| &scores[h];
    assert_eq!(s(0).previous_token, 1.0);
    assert!(s(0).induction_random < 0.2 && s(0).first_token < 0.1);
    assert!(s(1).induction_random > 0.97, "{}", s(1).induction_random);
    assert_eq!(s(1).induction_text, Some(1.0));
    assert_eq!(s(2).first_token, 1.0);
    assert_eq!(s(3).self_attention, 1.0);
    assert_eq!(s(3).previous_token, 0.0);
}

#[test]
fn census_on_a_real_model_gives_probabilities() {
    let mut cpu = llm_xray::CpuBackend::new(load("tiny-hf"));
    for s in llm_xray::heads::census(&mut cpu, None).unwrap() {
        for v in [s.previous_token, s.induction_random, s.first_token, s.self_attention] {
            assert!((0.0..=1.0).contains(&v), "{s:?}");
        }
    }
}
