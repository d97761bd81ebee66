//! The induction recipe: the task, model and schedule meant to grow a two-layer circuit (a
//! previous-token head feeding an induction head in the layer above). The page's Induction
//! settings and `llm-xray train --task induction` start from it. No setting measured so far
//! grows a layer-2 induction head within the time the page allows; README ("The induction
//! recipe") lists what was tried, with figures.

use super::adamw::AdamWConfig;
use super::params::{Init, ModelShape};
use super::task::{Induction, Layout};
use super::{Hyper, Schedule};
use crate::error::Result;

/// The recipe's hyperparameters and task for a vocabulary of `vocab` tokens (the alphabet is
/// drawn from it with `seed`).
pub fn induction(vocab: usize, seed: u64) -> Result<(Hyper, Induction)> {
    let hyper = Hyper {
        model: ModelShape { layers: 2, heads: 4, width: 64, context: 64, vocab, inner: 0 },
        init: Init { std: 0.02, qk_std: 0.1, sinusoidal_positions: true },
        batch: 16,
        seq: 64,
        schedule: Schedule { lr: 3e-3, warmup: 50, decay_steps: 0, min_lr: 3e-3 },
        optimizer: AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0, grad_clip: 1.0 },
        eval_every: 0,
    };
    let task = Induction {
        alphabet: Induction::alphabet(vocab, 256, seed)?,
        min_span: 2,
        max_span: 16,
        layout: Layout::Pairs,
        skip_fraction: 0.0,
        distinct: false,
        skip_until: 0,
    };
    Ok((hyper, task))
}
