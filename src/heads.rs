//! The head census: scores every attention head on behaviours with names in the
//! interpretability literature, from the model's own attention maps.
//!
//! - previous-token: mean attention from each token to the one just before it;
//! - induction (Olsson et al. 2022): on a sequence repeated twice, the mean attention from
//!   each token of the second copy to the token after its earlier occurrence, measured on
//!   random tokens (pure pattern-matching) and on a repeated span of real text;
//! - first-token: mean attention to position 0 (a common "resting" place);
//! - self: mean attention of a token to itself.
//!
//! Layers and heads are counted from 1 here, in the JSON too, as the page shows them.

use crate::backend::Engine;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::sampling::Rng;
use crate::trace::{Part, Parts, Tensor};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HeadScores {
    /// Counted from 1.
    pub layer: usize,
    /// Counted from 1.
    pub head: usize,
    pub previous_token: f32,
    pub induction_random: f32,
    /// None when no text was given.
    pub induction_text: Option<f32>,
    pub first_token: f32,
    pub self_attention: f32,
}

/// An induction score at or above this names a head "induction", whatever else it does:
/// an induction head also rests on the first token when nothing repeats, and the rarer,
/// more specific behaviour is the one worth a label.
pub const INDUCTION_LABEL: f32 = 0.3;

impl HeadScores {
    /// The head's name for people: "induction" when its induction score (on random tokens,
    /// or on text) reaches [`INDUCTION_LABEL`]; else its strongest behaviour.
    pub fn label(&self) -> (&'static str, f32) {
        let induction = self.induction_random.max(self.induction_text.unwrap_or(0.0));
        if induction >= INDUCTION_LABEL {
            return ("induction", induction);
        }
        [("previous-token", self.previous_token), ("induction", induction), ("first-token", self.first_token), ("self", self.self_attention)]
            .into_iter()
            .fold(("previous-token", f32::MIN), |a, b| if b.1 > a.1 { b } else { a })
    }
}

/// A census entry with its label, as `llm-xray heads --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct LabelledHead {
    #[serde(flatten)]
    pub scores: HeadScores,
    pub label: &'static str,
    pub score: f32,
}

impl HeadScores {
    pub fn labelled(&self) -> LabelledHead {
        let (label, score) = self.label();
        LabelledHead { scores: self.clone(), label, score }
    }
}

/// Mean over query rows `rows` of attn[row, key(row)] for one head of an [H, T, T] tensor.
fn mean_at(a: &Tensor, h: usize, rows: std::ops::Range<usize>, key: impl Fn(usize) -> usize) -> f32 {
    let t = a.shape[1];
    let n = rows.len().max(1) as f32;
    rows.map(|r| a.data[(h * t + r) * t + key(r)]).sum::<f32>() / n
}

/// What the census needs of a model: its hyperparameters and its attention maps for a
/// sequence. The engine provides them; a test can provide constructed ones.
#[allow(async_fn_in_trait)] // used on one thread (the page's worker, or the CLI)
pub trait Attends {
    fn config(&self) -> &Config;
    /// Attention probabilities [H, T, T] of every layer for a fresh run of `ids`.
    async fn attentions(&mut self, ids: &[u32]) -> Result<Vec<Tensor>>;
}

impl Attends for Engine {
    fn config(&self) -> &Config {
        &self.model().config
    }
    async fn attentions(&mut self, ids: &[u32]) -> Result<Vec<Tensor>> {
        let mut tr = self.trace(ids, Parts::none().with(Part::AttnProbs)).await?;
        Ok(tr.layers.iter_mut().map(|l| l.take(Part::AttnProbs).expect("attentions were requested")).collect())
    }
}

/// Induction score per [layer][head] on `span` repeated twice.
async fn induction(engine: &mut impl Attends, span: &[u32]) -> Result<Vec<Vec<f32>>> {
    let l = span.len();
    let ids: Vec<u32> = span.iter().chain(span).copied().collect();
    let att = engine.attentions(&ids).await?;
    // Query l+j holds span[j] again; its earlier copy at j is followed by position j+1.
    Ok(att.iter().map(|a| (0..a.shape[0]).map(|h| mean_at(a, h, l..2 * l - 1, |r| r - l + 1)).collect()).collect())
}

/// The repeated random-token sequence the census measures induction on: `half` random
/// tokens, then the same again (also the page's "watch an induction head" demo).
pub fn random_repeat(vocab: usize, half: usize, seed: u64) -> Vec<u32> {
    let span = random_tokens(&mut Rng::new(seed), vocab, half);
    span.iter().chain(&span).copied().collect()
}

/// `n` token ids drawn uniformly from the vocabulary: the census's spans, and so the demo's
/// first one.
fn random_tokens(rng: &mut Rng, vocab: usize, n: usize) -> Vec<u32> {
    (0..n).map(|_| (rng.next_u64() % vocab as u64) as u32).collect()
}

/// Random-token sequences the random induction score averages over: one can be unlucky.
const SEQS: usize = 4;

/// The census as a sequence of model runs, one per `step`, so a caller (the page's worker)
/// can answer other requests between them.
pub struct Census {
    cfg: Config,
    half: usize,
    rng: Rng,
    text: Option<Vec<u32>>,
    ind_random: Vec<Vec<f32>>,
    ind_text: Option<Vec<Vec<f32>>>,
    done: usize,
    out: Option<Vec<HeadScores>>,
}

impl Census {
    /// `text` (token ids of held-out text) gives the natural sequence for previous-token,
    /// first-token and self scores and the span for text induction; without it those use
    /// random tokens.
    pub fn new(cfg: &Config, text: Option<&[u32]>) -> Result<Census> {
        Self::with_span(cfg, text, 64)
    }

    /// As `new`, with repeated spans of at most `span` tokens (the page uses shorter ones
    /// on big models: each run's cost grows with the span).
    pub fn with_span(cfg: &Config, text: Option<&[u32]>, span: usize) -> Result<Census> {
        let half = (cfg.n_positions / 2).min(span);
        if half < 4 {
            return Err(Error::Input(format!("the context of {} tokens is too short for a head census (needs 8)", cfg.n_positions)));
        }
        if let Some(t) = text.filter(|t| t.len() < half) {
            return Err(Error::Input(format!("the census text has {} tokens; it needs at least {half}", t.len())));
        }
        Ok(Census {
            cfg: cfg.clone(),
            half,
            rng: Rng::new(0),
            text: text.map(<[u32]>::to_vec),
            ind_random: vec![vec![0.0; cfg.n_head]; cfg.n_layer],
            ind_text: None,
            done: 0,
            out: None,
        })
    }

    /// Model runs in all.
    pub fn total(&self) -> usize {
        SEQS + 1 + self.text.is_some() as usize
    }

    pub fn done(&self) -> usize {
        self.done
    }

    /// Runs the next run; returns the scores after the last one.
    pub async fn step(&mut self, engine: &mut impl Attends) -> Result<Option<Vec<HeadScores>>> {
        if self.out.is_some() {
            return Ok(self.out.clone());
        }
        let k = self.done;
        if k < SEQS {
            let span = random_tokens(&mut self.rng, self.cfg.vocab_size, self.half);
            for (acc, sc) in self.ind_random.iter_mut().zip(induction(engine, &span).await?) {
                acc.iter_mut().zip(sc).for_each(|(a, v)| *a += v / SEQS as f32);
            }
        } else if k == SEQS && self.text.is_some() {
            let span = self.text.as_ref().expect("checked")[..self.half].to_vec();
            self.ind_text = Some(induction(engine, &span).await?);
        } else {
            let natural: Vec<u32> = match &self.text {
                Some(t) => t[..t.len().min(self.cfg.n_positions)].to_vec(),
                None => random_tokens(&mut self.rng, self.cfg.vocab_size, self.half),
            };
            let att = engine.attentions(&natural).await?;
            let n = natural.len();
            let mut out = Vec::new();
            for (layer, a) in att.iter().enumerate() {
                for head in 0..self.cfg.n_head {
                    out.push(HeadScores {
                        layer: layer + 1,
                        head: head + 1,
                        previous_token: mean_at(a, head, 1..n, |r| r - 1),
                        induction_random: self.ind_random[layer][head],
                        induction_text: self.ind_text.as_ref().map(|s| s[layer][head]),
                        first_token: mean_at(a, head, 1..n, |_| 0),
                        self_attention: mean_at(a, head, 1..n, |r| r),
                    });
                }
            }
            self.out = Some(out);
        }
        self.done += 1;
        Ok(self.out.clone())
    }
}

/// Scores every head (see [`Census::new`]); `progress(done, total)` is called after each run.
pub async fn census(engine: &mut impl Attends, text: Option<&[u32]>, progress: &mut dyn FnMut(usize, usize)) -> Result<Vec<HeadScores>> {
    let mut c = Census::new(engine.config(), text)?;
    loop {
        let out = c.step(engine).await?;
        progress(c.done(), c.total());
        if let Some(out) = out {
            return Ok(out);
        }
    }
}
