//! The head census: scores every attention head on behaviours with names in the
//! interpretability literature, from the model's own attention maps.
//!
//! - previous-token: mean attention from each token to the one just before it;
//! - induction (Olsson et al. 2022): on a sequence repeated twice, the mean attention from
//!   each token of the second copy to the token after its earlier occurrence, measured on
//!   random tokens (pure pattern-matching) and on a repeated span of real text;
//! - first-token: mean attention to position 0 (a common "resting" place);
//! - self: mean attention of a token to itself.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::sampling::Rng;
use crate::trace::{Part, Parts, Tensor};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HeadScores {
    pub layer: usize,
    pub head: usize,
    pub previous_token: f32,
    pub induction_random: f32,
    /// None when no text was given.
    pub induction_text: Option<f32>,
    pub first_token: f32,
    pub self_attention: f32,
}

/// Mean over query rows `rows` of attn[row, key(row)] for one head of an [H, T, T] tensor.
fn mean_at(a: &Tensor, h: usize, rows: std::ops::Range<usize>, key: impl Fn(usize) -> usize) -> f32 {
    let t = a.shape[1];
    let n = rows.len().max(1) as f32;
    rows.map(|r| a.data[(h * t + r) * t + key(r)]).sum::<f32>() / n
}

fn attentions(backend: &mut dyn Backend, ids: &[u32]) -> Result<Vec<Tensor>> {
    let tr = backend.trace(ids, Parts::none().with(Part::AttnProbs))?;
    Ok(tr.layers.into_iter().map(|l| l.attentions.expect("attentions were requested")).collect())
}

/// Induction score per [layer][head] on `span` repeated twice.
fn induction(backend: &mut dyn Backend, span: &[u32]) -> Result<Vec<Vec<f32>>> {
    let l = span.len();
    let ids: Vec<u32> = span.iter().chain(span).copied().collect();
    let att = attentions(backend, &ids)?;
    // Query l+j holds span[j] again; its earlier copy at j is followed by position j+1.
    Ok(att.iter().map(|a| (0..a.shape[0]).map(|h| mean_at(a, h, l..2 * l - 1, |r| r - l + 1)).collect()).collect())
}

/// Scores every head. `text` (token ids of held-out text, at least 16) gives the natural
/// sequence for previous-token, first-token and self scores and the span for text induction;
/// without it those use random tokens.
pub fn census(backend: &mut dyn Backend, text: Option<&[u32]>) -> Result<Vec<HeadScores>> {
    let cfg = backend.model().config.clone();
    let half = (cfg.n_positions / 2).min(64);
    if half < 4 {
        return Err(Error::Input(format!("n_positions {} is too short for a head census (needs 8)", cfg.n_positions)));
    }
    let mut rng = Rng::new(0);
    let mut random_span = || -> Vec<u32> { (0..half).map(|_| (rng.next_u64() % cfg.vocab_size as u64) as u32).collect() };

    // Average random-token induction over a few sequences: one can be unlucky.
    const SEQS: usize = 4;
    let mut ind_random = vec![vec![0.0; cfg.n_head]; cfg.n_layer];
    for _ in 0..SEQS {
        for (acc, s) in ind_random.iter_mut().zip(induction(backend, &random_span())?) {
            acc.iter_mut().zip(s).for_each(|(a, v)| *a += v / SEQS as f32);
        }
    }
    let ind_text = match text {
        Some(t) if t.len() >= half => Some(induction(backend, &t[..half])?),
        Some(t) => return Err(Error::Input(format!("the census text has {} tokens; it needs at least {half}", t.len()))),
        None => None,
    };
    let natural: Vec<u32> = match text {
        Some(t) => t[..t.len().min(cfg.n_positions)].to_vec(),
        None => random_span(),
    };
    let att = attentions(backend, &natural)?;
    let n = natural.len();
    let mut out = Vec::new();
    for (layer, a) in att.iter().enumerate() {
        for head in 0..cfg.n_head {
            out.push(HeadScores {
                layer,
                head,
                previous_token: mean_at(a, head, 1..n, |r| r - 1),
                induction_random: ind_random[layer][head],
                induction_text: ind_text.as_ref().map(|s| s[layer][head]),
                first_token: mean_at(a, head, 1..n, |_| 0),
                self_attention: mean_at(a, head, 1..n, |r| r),
            });
        }
    }
    Ok(out)
}
