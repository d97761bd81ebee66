//! "The same word in two sentences": one word's vector in two contexts, compared depth by
//! depth. A token enters the model as its row of the token-embedding table, the same row
//! in every sentence; each block then adds what attention and the MLP computed from the
//! context. The cosine of the word's two residual-stream vectors, from the embedding to
//! the last block, shows how far the contexts have moved them apart (or together).
//!
//! - Depth 0 compares the token embeddings alone (1 for the same token); GPT-2's position
//!   embedding is left out, so that depth 0 is the word and nothing else.
//! - Depth l (1..=L) compares the residual stream after block l, before the final norm.
//! - The word's position is its last token, at its first occurrence as a whole word
//!   (else at its first occurrence inside a longer word).
//!
//! The raw cosine of residual vectors is dominated, in many models, by a direction that
//! every token's vector shares at that depth, so it climbs for any two tokens. The
//! *centred* cosine subtracts, at each depth, the mean vector of every token of both
//! sentences except each sentence's first (which many models give an outsized vector of
//! its own), and compares what is left: how the word differs from the tokens around it.

use crate::backend::Engine;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::trace::{Part, PartSource, Parts, TokenInfo};
use serde::Serialize;

/// The parts a comparison needs from each sentence's run.
pub fn contrast_parts() -> Parts {
    Parts::of(&[Part::TokEmb, Part::ResidPost])
}

/// One of the two sentences: its tokens and the compared position.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub text: String,
    pub tokens: Vec<TokenInfo>,
    /// The compared token's position (0-based).
    pub position: usize,
}

/// The comparison, depth by depth: L + 1 entries each.
#[derive(Debug, Clone, Serialize)]
pub struct Contrast {
    /// The word as given (empty when both positions were chosen).
    pub word: String,
    pub a: Side,
    pub b: Side,
    /// "token embedding", then "layer 1" … "layer L" (counted from 1).
    pub depths: Vec<String>,
    /// Raw cosine of the two vectors at each depth.
    pub cosine: Vec<f32>,
    /// Cosine after subtracting each depth's mean token vector (see the module comment).
    pub centred: Vec<f32>,
    /// ‖vector‖ in sentence A and in B at each depth.
    pub norms: Vec<[f32; 2]>,
    /// The two vectors at each depth, [L + 1][2][d], when asked for (the page draws them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vectors: Option<Vec<[Vec<f32>; 2]>>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte range of `word` in `text`: its first whole-word occurrence (no letter, digit
/// or underscore right before or after it: the regex `(?<!\w)word(?!\w)`), else its first
/// occurrence at all.
fn find_word(text: &str, word: &str) -> Option<(usize, usize)> {
    let whole = text.match_indices(word).find(|(at, _)| {
        let before = text[..*at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    });
    whole.or_else(|| text.match_indices(word).next()).map(|(at, _)| (at, at + word.len()))
}

/// The token ids of `text` as the model reads a prompt, and the position of `word`'s last
/// token at its first occurrence. `which` names the sentence in errors.
pub fn locate(model: &Model, text: &str, word: &str, which: &str) -> Result<(Vec<u32>, usize)> {
    if text.is_empty() {
        return Err(Error::Input(format!("sentence {which} is empty; type a sentence that contains the word")));
    }
    let pieces = model.tokenizer.encode_prompt_pieces(text);
    let ids: Vec<u32> = pieces.iter().map(|p| p.id).collect();
    model.check_ids(&ids, 0)?;
    if word.is_empty() {
        return Err(Error::Input("the word to compare is empty; give a word that occurs in both sentences".into()));
    }
    let (_, end) = find_word(text, word).ok_or_else(|| Error::Input(format!("the word \"{word}\" does not occur in sentence {which} (\"{text}\")")))?;
    let last = end - 1;
    let position = pieces
        .iter()
        .position(|p| p.span.0 <= last && last < p.span.1)
        .ok_or_else(|| Error::Input(format!("no token of sentence {which} covers byte {last} of the word \"{word}\"")))?;
    Ok((ids, position))
}

fn cosine(x: &[f32], y: &[f32]) -> f32 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in x.iter().zip(y) {
        let (a, b) = (*a as f64, *b as f64);
        xy += a * b;
        xx += a * a;
        yy += b * b;
    }
    (xy / (xx.sqrt() * yy.sqrt()).max(f64::MIN_POSITIVE)) as f32
}

fn norm(x: &[f32]) -> f32 {
    x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>().sqrt() as f32
}

/// Every depth's rows [T][d] of a run recorded with [`contrast_parts`]: the token
/// embeddings, then the residual stream after each block.
fn depth_rows(tr: &(impl PartSource + ?Sized), n_layer: usize) -> Result<Vec<&crate::trace::Tensor>> {
    let missing = |what: &str| Error::Input(format!("the run did not record {what}, which the comparison needs"));
    let mut out = vec![tr.part(None, Part::TokEmb).ok_or_else(|| missing("token_embeddings"))?];
    for l in 0..n_layer {
        out.push(tr.part(Some(l), Part::ResidPost).ok_or_else(|| missing("residual_after_mlp"))?);
    }
    Ok(out)
}

/// Compares position `pa` of run `ta` with position `pb` of run `tb`, both recorded with
/// [`contrast_parts`].
pub fn compare(
    model: &Model,
    (a, ta): (Side, &(impl PartSource + ?Sized)),
    (b, tb): (Side, &(impl PartSource + ?Sized)),
    word: &str,
    vectors: bool,
) -> Result<Contrast> {
    let n_layer = model.config.n_layer;
    let (ra, rb) = (depth_rows(ta, n_layer)?, depth_rows(tb, n_layer)?);
    let d = model.config.n_embd;
    let (mut cos, mut centred, mut norms, mut vecs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (x, y) in ra.iter().zip(&rb) {
        let (va, vb) = (x.row(a.position), y.row(b.position));
        cos.push(cosine(va, vb));
        norms.push([norm(va), norm(vb)]);
        // The mean of every token's vector at this depth, each sentence's first left out
        // unless it is the only one.
        let mut mean = vec![0.0f64; d];
        let mut n = 0usize;
        for t in [x, y] {
            let rows = t.shape[0];
            for i in (if rows > 1 { 1 } else { 0 })..rows {
                for (m, v) in mean.iter_mut().zip(t.row(i)) {
                    *m += *v as f64;
                }
                n += 1;
            }
        }
        let centre = |v: &[f32]| -> Vec<f32> { v.iter().zip(&mean).map(|(v, m)| (*v as f64 - m / n as f64) as f32).collect() };
        centred.push(cosine(&centre(va), &centre(vb)));
        if vectors {
            vecs.push([va.to_vec(), vb.to_vec()]);
        }
    }
    let depths = std::iter::once("token embedding".to_string()).chain((1..=n_layer).map(|l| format!("layer {l}"))).collect();
    Ok(Contrast { word: word.to_string(), a, b, depths, cosine: cos, centred, norms, vectors: vectors.then_some(vecs) })
}

/// Runs both sentences on `engine` (each a fresh context) and compares `word` in them, or
/// the given positions where `positions` names them. `vectors` adds the compared vectors.
pub async fn contrast(engine: &mut Engine, texts: [&str; 2], word: &str, positions: [Option<usize>; 2], vectors: bool) -> Result<Contrast> {
    let model = engine.model().clone();
    let mut sides = Vec::with_capacity(2);
    let mut traces = Vec::with_capacity(2);
    for ((text, at), which) in texts.iter().zip(positions).zip(["A", "B"]) {
        let (ids, position) = match at {
            Some(p) => {
                let ids = model.tokenizer.encode_prompt(text);
                if text.is_empty() {
                    return Err(Error::Input(format!("sentence {which} is empty")));
                }
                model.check_ids(&ids, 0)?;
                if p >= ids.len() {
                    return Err(Error::Input(format!("position {p} is past the {} tokens of sentence {which}", ids.len())));
                }
                (ids, p)
            }
            None => locate(&model, text, word, which)?,
        };
        let tr = engine.trace(&ids, contrast_parts()).await?;
        sides.push(Side { text: text.to_string(), tokens: tr.tokens.clone(), position });
        traces.push(tr);
    }
    let b = sides.pop().expect("two sides");
    let a = sides.pop().expect("two sides");
    compare(&model, (a, &traces[0]), (b, &traces[1]), word, vectors)
}
