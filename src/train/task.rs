//! What the trainer learns from: batches of B sequences of T + 1 token ids (inputs are the
//! first T, targets the last T), drawn from a task: the induction task (random tokens with
//! repeated spans, which only a two-layer copying circuit can predict), windows of a text,
//! or fixed batches given in order (the CLI's `--batches`). Also the probe the head census
//! runs on.

use crate::error::{Error, Result};
use crate::sampling::Rng;
use serde::{Deserialize, Serialize};

/// B sequences of `len` ids each (T + 1: inputs and, shifted by one, targets), row after row.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub seqs: usize,
    pub len: usize,
    pub ids: Vec<u32>,
}

impl Batch {
    /// Inputs and targets, each B·T ids, sequence after sequence.
    pub fn split(&self) -> (Vec<u32>, Vec<u32>) {
        let rows = self.ids.chunks(self.len);
        let inputs = rows.clone().flat_map(|r| r[..r.len() - 1].iter().copied()).collect();
        let targets = rows.flat_map(|r| r[1..].iter().copied()).collect();
        (inputs, targets)
    }

    /// Tokens per sequence the model reads (T).
    pub fn t(&self) -> usize {
        self.len - 1
    }
}

/// How the induction task lays out the repeats in a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// The whole sequence is back-to-back pairs: a random span, then the same span again.
    Pairs,
    /// Random tokens with one span of random length at a random offset, followed at once by
    /// its repeat (the probe's layout).
    Single,
    /// One segment of random length repeated back to back to fill the sequence: after the
    /// first period every token is predictable by induction, and the period varies, so
    /// position alone cannot predict it.
    Periodic,
}

/// Sequences of random tokens of a small alphabet with repeated spans of random length at
/// random places: the second copy of a span is predictable only by finding the earlier
/// occurrence of the current token and copying what followed it (an induction head reading
/// a previous-token head), and the distance to it varies, so no head attending by position
/// can do it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Induction {
    /// The token ids the sequences are drawn from (ids of the model's vocabulary).
    pub alphabet: Vec<u32>,
    /// Span lengths, uniform in min_span..=max_span.
    pub min_span: usize,
    pub max_span: usize,
    pub layout: Layout,
    /// The fraction of sequences that follow the skip rule instead: each token is the
    /// successor (in the alphabet's order) of the token two before it. Predicting it needs
    /// the previous token at the current position, so a previous-token head pays for itself
    /// from the start, as trigram statistics make it pay in text; in random tokens it pays
    /// only once an induction head reads it.
    #[serde(default)]
    pub skip_fraction: f64,
    /// Within a sequence, tokens outside the repeats are drawn without replacement (the
    /// alphabet must have as many tokens as a sequence needs): then every token of a repeat
    /// has exactly one earlier occurrence, and copying what followed it is always right.
    #[serde(default)]
    pub distinct: bool,
    /// When non-zero, the skip rule is used only before this training step (from 0): a
    /// curriculum that builds the previous-token head first, then leaves the repeats alone.
    #[serde(default)]
    pub skip_until: usize,
}

impl Induction {
    /// `size` distinct ids drawn from 1..vocab (id 0 is the tokenizer's end-of-text), fixed
    /// by `seed`.
    pub fn alphabet(vocab: usize, size: usize, seed: u64) -> Result<Vec<u32>> {
        if size < 2 || size >= vocab {
            return Err(Error::Input(format!("an alphabet of {size} tokens does not fit a vocabulary of {vocab}; expected 2 to {}", vocab.saturating_sub(1))));
        }
        let mut rng = Rng::new(seed ^ 0x0A1F_ABE7);
        let mut ids: Vec<u32> = (1..vocab as u32).collect();
        // Partial Fisher–Yates: the first `size` of a random permutation.
        for i in 0..size {
            let j = i + (rng.next_u64() % (ids.len() - i) as u64) as usize;
            ids.swap(i, j);
        }
        ids.truncate(size);
        Ok(ids)
    }

    fn token(&self, rng: &mut Rng) -> u32 {
        self.alphabet[(rng.next_u64() % self.alphabet.len() as u64) as usize]
    }

    /// A source of this sequence's fresh tokens: uniform draws, or (`distinct`) draws without
    /// replacement while the alphabet lasts.
    fn draws(&self) -> Draws<'_> {
        Draws { task: self, left: if self.distinct { self.alphabet.clone() } else { Vec::new() } }
    }

    fn span_len(&self, rng: &mut Rng, room: usize) -> usize {
        let hi = self.max_span.min(room).max(1);
        let lo = self.min_span.min(hi).max(1);
        lo + (rng.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// One sequence of `len` ids.
    pub fn sequence(&self, rng: &mut Rng, len: usize) -> Vec<u32> {
        self.sequence_at(rng, len, 0)
    }

    /// One sequence of `len` ids for training step `step` (from 0), which decides whether
    /// the skip rule still applies (`skip_until`).
    pub fn sequence_at(&self, rng: &mut Rng, len: usize, step: usize) -> Vec<u32> {
        let skipping = self.skip_until == 0 || step < self.skip_until;
        if skipping && self.skip_fraction > 0.0 && rng.next_f64() < self.skip_fraction {
            let a = self.alphabet.len();
            let mut idx: Vec<usize> = (0..2).map(|_| (rng.next_u64() % a as u64) as usize).collect();
            while idx.len() < len {
                idx.push((idx[idx.len() - 2] + 1) % a);
            }
            return idx[..len].iter().map(|&i| self.alphabet[i]).collect();
        }
        match self.layout {
            Layout::Pairs => {
                let mut s = Vec::with_capacity(len + 2 * self.max_span);
                let mut draws = self.draws();
                while s.len() < len {
                    let n = self.span_len(rng, self.max_span);
                    let start = s.len();
                    s.extend((0..n).map(|_| draws.next(rng)));
                    s.extend_from_within(start..start + n);
                }
                s.truncate(len);
                s
            }
            Layout::Single => self.single(rng, len).0,
            Layout::Periodic => {
                let mut draws = self.draws();
                let n = self.span_len(rng, len / 2);
                let mut s: Vec<u32> = (0..n).map(|_| draws.next(rng)).collect();
                while s.len() < len {
                    s.push(s[s.len() - n]);
                }
                s
            }
        }
    }

    /// Random tokens with one span at a random offset followed by its repeat: the sequence,
    /// the span's offset and its length.
    pub fn single(&self, rng: &mut Rng, len: usize) -> (Vec<u32>, usize, usize) {
        let mut draws = self.draws();
        let mut s: Vec<u32> = (0..len).map(|_| draws.next(rng)).collect();
        let n = self.span_len(rng, len / 2);
        let offset = (rng.next_u64() % (len - 2 * n + 1) as u64) as usize;
        s.copy_within(offset..offset + n, offset + n);
        (s, offset, n)
    }

    pub fn check(&self, vocab: usize) -> Result<()> {
        if self.alphabet.len() < 2 {
            return Err(Error::Input("the induction task needs an alphabet of at least 2 tokens".into()));
        }
        if let Some(&bad) = self.alphabet.iter().find(|&&i| i as usize >= vocab) {
            return Err(Error::Input(format!("alphabet token id {bad} is outside the vocabulary (ids 0..{} are valid)", vocab - 1)));
        }
        if self.min_span == 0 || self.min_span > self.max_span {
            return Err(Error::Input(format!("span lengths {}..={} are empty; expected 1 ≤ min ≤ max", self.min_span, self.max_span)));
        }
        Ok(())
    }
}

struct Draws<'a> {
    task: &'a Induction,
    left: Vec<u32>,
}

impl Draws<'_> {
    fn next(&mut self, rng: &mut Rng) -> u32 {
        if self.left.is_empty() {
            return self.task.token(rng);
        }
        let i = (rng.next_u64() % self.left.len() as u64) as usize;
        self.left.swap_remove(i)
    }
}

/// Where a trainer's batches come from.
#[derive(Debug, Clone)]
pub enum Task {
    Induction(Induction),
    /// Random windows of a token stream; held-out loss on fixed windows of another.
    Text {
        train: Vec<u32>,
        held_out: Vec<u32>,
    },
    /// These batches, in order, one per step.
    Batches(Vec<Batch>),
}

impl Task {
    /// The batch for step `step` (from 0) of `b` sequences of `t` + 1 ids.
    pub fn batch(&self, rng: &mut Rng, step: usize, b: usize, t: usize) -> Option<Batch> {
        match self {
            Task::Batches(all) => all.get(step).cloned(),
            Task::Induction(ind) => Some(Batch { seqs: b, len: t + 1, ids: (0..b).flat_map(|_| ind.sequence_at(rng, t + 1, step)).collect() }),
            Task::Text { train, .. } => {
                let ids = (0..b)
                    .flat_map(|_| {
                        let start = (rng.next_u64() % (train.len() - t) as u64) as usize;
                        train[start..start + t + 1].to_vec()
                    })
                    .collect();
                Some(Batch { seqs: b, len: t + 1, ids })
            }
        }
    }

    /// Checks the task against a model of `vocab` tokens and `context` positions for
    /// sequences of `t` tokens, naming what is wrong.
    pub fn check(&self, vocab: usize, context: usize, t: usize) -> Result<()> {
        match self {
            Task::Induction(ind) => ind.check(vocab)?,
            Task::Text { train, held_out } => {
                for (name, s) in [("training", train), ("held-out", held_out)] {
                    if s.len() < t + 2 {
                        return Err(Error::Input(format!("the {name} text has {} tokens; sequences of {t} tokens need at least {}", s.len(), t + 2)));
                    }
                    if let Some(&bad) = s.iter().find(|&&i| i as usize >= vocab) {
                        return Err(Error::Input(format!("the {name} text holds token id {bad}, outside the vocabulary (ids 0..{} are valid)", vocab - 1)));
                    }
                }
            }
            Task::Batches(all) => {
                for (k, b) in all.iter().enumerate() {
                    check_batch(b, k, vocab, context)?;
                }
            }
        }
        if t > context {
            return Err(Error::Input(format!("sequences of {t} tokens do not fit the model's context of {context} positions")));
        }
        Ok(())
    }
}

/// A batch's ids against the model: each below the vocabulary size, each sequence's inputs
/// within the context. `k` (from 0) names the batch as people count it, from 1.
pub fn check_batch(b: &Batch, k: usize, vocab: usize, context: usize) -> Result<()> {
    if b.len < 2 {
        return Err(Error::Input(format!(
            "batch {}: sequences of {} ids have nothing to predict; each needs at least 2 (inputs, then targets shifted by one)",
            k + 1,
            b.len
        )));
    }
    if b.len - 1 > context {
        return Err(Error::Input(format!(
            "batch {}: sequences of {} ids are longer than the context: their {} inputs exceed the model's {} positions (n_positions)",
            k + 1,
            b.len,
            b.len - 1,
            context
        )));
    }
    if let Some(i) = b.ids.iter().position(|&id| id as usize >= vocab) {
        return Err(Error::Input(format!(
            "batch {}, sequence {}, position {}: token id {} is outside the vocabulary (ids 0..{} are valid)",
            k + 1,
            i / b.len + 1,
            i % b.len + 1,
            b.ids[i],
            vocab - 1
        )));
    }
    Ok(())
}

/// Fixed sequences for the head census and the held-out loss: random tokens of the
/// alphabet with one span of random length at a random offset, then its repeat at once.
/// Induction is scored from each token of the repeat (but its last) to the token after its
/// earlier occurrence, a distance that varies with the span, so a head attending by
/// position cannot score.
#[derive(Debug, Clone)]
pub struct Probe {
    pub batch: Batch,
    /// (offset, length) of each sequence's first copy.
    pub spans: Vec<(usize, usize)>,
}

impl Probe {
    pub fn new(task: &Induction, seqs: usize, t: usize, seed: u64) -> Probe {
        let mut rng = Rng::new(seed ^ 0x0009_A0BE_5EED);
        let single = Induction { layout: Layout::Single, skip_fraction: 0.0, ..task.clone() };
        let (mut ids, mut spans) = (Vec::with_capacity(seqs * (t + 1)), Vec::with_capacity(seqs));
        for _ in 0..seqs {
            // The span is placed within the first t tokens: the inputs.
            let (mut s, offset, len) = single.single(&mut rng, t);
            s.push(single.token(&mut rng)); // the last target: never scored
            ids.extend(s);
            spans.push((offset, len));
        }
        Probe { batch: Batch { seqs, len: t + 1, ids }, spans }
    }
}

/// Batches from JSON: a list of batches, each a list of sequences of the same length, each a
/// list of token ids (`[[[464, 3290, …], …], …]`). Errors name the batch and sequence (from
/// 1) and what was expected.
pub fn batches_from_json(bytes: &[u8]) -> Result<Vec<Batch>> {
    use serde_json::Value;
    let shape = "expected a list of batches, each a list of sequences of equal length, each a list of token ids";
    let root: Value = serde_json::from_slice(bytes).map_err(|e| Error::Input(format!("not valid JSON ({e}); {shape}")))?;
    let all = root.as_array().ok_or_else(|| Error::Input(format!("the top level is not a list; {shape}")))?;
    if all.is_empty() {
        return Err(Error::Input(format!("holds no batches; {shape}")));
    }
    all.iter()
        .enumerate()
        .map(|(k, b)| {
            let rows =
                b.as_array().filter(|r| !r.is_empty()).ok_or_else(|| Error::Input(format!("batch {} is not a non-empty list of sequences; {shape}", k + 1)))?;
            let mut ids = Vec::new();
            let mut len = None;
            for (i, row) in rows.iter().enumerate() {
                let seq = row.as_array().ok_or_else(|| Error::Input(format!("batch {}, sequence {} is not a list of token ids", k + 1, i + 1)))?;
                if *len.get_or_insert(seq.len()) != seq.len() {
                    return Err(Error::Input(format!(
                        "batch {}, sequence {} has {} ids but sequence 1 has {}; the sequences of a batch must be of equal length",
                        k + 1,
                        i + 1,
                        seq.len(),
                        len.unwrap_or(0)
                    )));
                }
                for (j, v) in seq.iter().enumerate() {
                    let id = v.as_u64().filter(|&x| x <= u32::MAX as u64).ok_or_else(|| {
                        Error::Input(format!("batch {}, sequence {}, position {}: {v} is not a token id (a non-negative integer)", k + 1, i + 1, j + 1))
                    })?;
                    ids.push(id as u32);
                }
            }
            Ok(Batch { seqs: rows.len(), len: len.unwrap_or(0), ids })
        })
        .collect()
}
