//! Causal self-attention with grouped-query heads and a KV-cache offset, optionally within a
//! sliding window and with another scale (Gemma 3).

use super::softmax;
use ndarray::{Array2, ArrayView2};

/// What causal attention computes for T new queries.
pub struct AttentionOut {
    /// Each head's probability-weighted sum of values, side by side: [T, H·hd].
    pub heads: Array2<f32>,
    /// Scores q·k/√hd with the causal mask (−∞), [H, T, Tk]; empty unless asked for.
    pub scores: Vec<f32>,
    /// Softmax of the scores, [H, T, Tk]; empty unless asked for.
    pub probs: Vec<f32>,
}

/// How scores are scaled and which keys a query sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheme {
    /// What q·k is multiplied by (1/√hd, or Gemma's query_pre_attn_scalar^−½).
    pub scale: f32,
    /// The token at position i sees keys j with i − w < j ≤ i; None: every j ≤ i.
    pub window: Option<usize>,
}

/// The keys the token at position `pos` sees: lo..pos + 1, clipped to the context's `tk`.
pub fn seen_keys(pos: usize, tk: usize, window: Option<usize>) -> std::ops::Range<usize> {
    let end = (pos + 1).min(tk);
    let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w)).min(end);
    lo..end
}

/// Causal attention of queries q [T, H·hd] for the tokens at positions start.. over keys
/// and values [Tk, Hkv·hd] of the whole context (the KV cache, these tokens included).
/// Query head h reads key/value head h / (H / Hkv) (grouped-query attention). `keep` asks
/// for the scores and the probabilities to be returned.
pub fn attention(
    q: ArrayView2<f32>,
    keys: ArrayView2<f32>,
    values: ArrayView2<f32>,
    start: usize,
    n_head: usize,
    n_kv_head: usize,
    keep: (bool, bool),
) -> AttentionOut {
    let scheme = Scheme { scale: 1.0 / ((q.ncols() / n_head) as f32).sqrt(), window: None };
    attention_with(q, keys, values, start, (n_head, n_kv_head), scheme, keep)
}

/// As [`attention`], with the scale and the window of `scheme`; keys outside the window are
/// masked as future keys are (score −∞, probability 0). `heads` is (H, Hkv).
pub fn attention_with(
    q: ArrayView2<f32>,
    keys: ArrayView2<f32>,
    values: ArrayView2<f32>,
    start: usize,
    (n_head, n_kv_head): (usize, usize),
    scheme: Scheme,
    keep: (bool, bool),
) -> AttentionOut {
    let (t, tk) = (q.nrows(), keys.nrows());
    let hd = q.ncols() / n_head;
    let group = n_head / n_kv_head;
    let scale = scheme.scale;
    let mut heads = Array2::zeros((t, n_head * hd));
    let (mut scores, mut probs) = (vec![0.0; n_head * t * tk], vec![0.0; n_head * t * tk]);
    for h in 0..n_head {
        let kv = h / group;
        for i in 0..t {
            let row = (h * t + i) * tk;
            let seen = seen_keys(start + i, tk, scheme.window);
            for j in 0..tk {
                scores[row + j] =
                    if seen.contains(&j) { (0..hd).map(|c| q[[i, h * hd + c]] * keys[[j, kv * hd + c]]).sum::<f32>() * scale } else { f32::NEG_INFINITY };
            }
            let p = &mut probs[row..row + tk];
            p.fill(0.0);
            p[seen.clone()].copy_from_slice(&scores[row + seen.start..row + seen.end]);
            softmax(&mut p[seen.clone()]);
            for c in 0..hd {
                heads[[i, h * hd + c]] = seen.clone().map(|j| p[j] * values[[j, kv * hd + c]]).sum();
            }
        }
    }
    let kept = |v: Vec<f32>, k: bool| if k { v } else { Vec::new() };
    AttentionOut { heads, scores: kept(scores, keep.0), probs: kept(probs, keep.1) }
}
