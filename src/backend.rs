//! What every compute backend offers, and the generation loop built on it.

use crate::error::Result;
use crate::model::Model;
use crate::sampling::{Rng, Sampling};
use crate::trace::{Parts, Trace};
use std::sync::Arc;

/// A forward-pass engine with its own KV cache. `run` appends tokens to the context and
/// returns the activations of just those tokens, so a fresh prompt and a one-token step
/// are the same call.
pub trait Backend {
    /// A short description for people, e.g. "CPU (ndarray reference)" or the GPU adapter.
    fn describe(&self) -> String;
    fn model(&self) -> &Arc<Model>;
    /// Tokens currently in the context (the KV cache).
    fn context_len(&self) -> usize;
    /// Empties the context.
    fn reset(&mut self);
    /// Runs `ids` after the tokens already in the context and records `parts`.
    fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace>;

    /// A fresh run of a whole prompt (the context is emptied first).
    fn trace(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.reset();
        self.run(ids, parts)
    }
}

/// Generates up to `max_tokens` tokens after `prompt` with the KV cache: one full run of the
/// prompt, then one single-token step per new token. Stops early when the context is full.
pub fn generate(
    backend: &mut dyn Backend,
    prompt: &[u32],
    max_tokens: usize,
    sampling: &Sampling,
) -> Result<Vec<u32>> {
    let mut rng = Rng::new(sampling.seed);
    let n_positions = backend.model().config.n_positions;
    let mut trace = backend.trace(prompt, Parts::none())?;
    let mut out = Vec::with_capacity(max_tokens);
    while out.len() < max_tokens {
        let next = sampling.sample(&trace.next_logits, &mut rng);
        out.push(next);
        if out.len() == max_tokens || backend.context_len() >= n_positions {
            break;
        }
        trace = backend.run(&[next], Parts::none())?;
    }
    Ok(out)
}
