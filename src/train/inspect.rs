//! What the page shows of a model while it trains: the head census on the probe (each
//! head's previous-token and induction score, from its attention on fixed sequences) and
//! snapshots of chosen learned parameters (a head's W_Q·W_Kᵀ and W_V·W_O, an MLP matrix,
//! embedding rows), each cheap enough to take between steps.

use super::params::Layout;
use super::task::Probe;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// One head's scores on the probe. Layers and heads count from 1, as the page shows them.
#[derive(Debug, Clone, Serialize)]
pub struct HeadScore {
    pub layer: usize,
    pub head: usize,
    /// Mean attention from each token to the one just before it.
    pub previous_token: f32,
    /// Mean attention from each token of a repeated span (but its last) to the token after
    /// its earlier occurrence.
    pub induction: f32,
}

/// Scores every head from the attention probabilities of a forward pass over the probe:
/// `probs(layer)` is [B, H, T, T].
pub fn census<'a>(layout: &Layout, probe: &Probe, probs: impl Fn(usize) -> &'a [f32]) -> Vec<HeadScore> {
    let c = &layout.config;
    let (b, t, h) = (probe.batch.seqs, probe.batch.t(), c.n_head);
    let mut out = Vec::with_capacity(c.n_layer * h);
    for layer in 0..c.n_layer {
        let p = probs(layer);
        for head in 0..h {
            let (mut prev, mut prev_n, mut ind, mut ind_n) = (0.0f64, 0usize, 0.0f64, 0usize);
            for (seq, &(offset, len)) in probe.spans.iter().enumerate().take(b) {
                let a = &p[(seq * h + head) * t * t..(seq * h + head + 1) * t * t];
                for i in 1..t {
                    prev += a[i * t + i - 1] as f64;
                }
                prev_n += t - 1;
                // Query offset + len + j holds the token at offset + j, which was followed by
                // the token at offset + j + 1 = query − len + 1.
                for q in offset + len..offset + 2 * len - 1 {
                    ind += a[q * t + q - len + 1] as f64;
                }
                ind_n += len - 1;
            }
            out.push(HeadScore {
                layer: layer + 1,
                head: head + 1,
                previous_token: (prev / prev_n.max(1) as f64) as f32,
                induction: (ind / ind_n.max(1) as f64) as f32,
            });
        }
    }
    out
}

/// A learned-parameter view to snapshot. Layers and heads count from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Snapshot {
    /// W_Q·W_Kᵀ of one head, [d, d]: entry (i, j) is how much residual direction i at the
    /// query attends to direction j at the key.
    QueryKey { layer: usize, head: usize },
    /// W_V·W_O of one head, [d, d]: what the head writes for what it reads.
    ValueOutput { layer: usize, head: usize },
    /// The MLP's input matrix (c_fc), [d, n_inner].
    MlpIn { layer: usize },
    /// The MLP's output matrix (c_proj), [n_inner, d].
    MlpOut { layer: usize },
    /// Rows of the token embedding, [ids, d] (every row when `ids` is empty).
    TokenEmbedding { ids: Vec<u32> },
    /// The position embedding, [n_positions, d].
    PositionEmbedding,
}

/// A matrix, row-major.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

/// The matrix `what` names, from parameters `params` of `layout`.
pub fn snapshot(layout: &Layout, params: &[f32], what: &Snapshot) -> Result<Matrix> {
    let c = &layout.config;
    let (d, hd) = (c.n_embd, c.head_dim);
    let layer = |l: usize| {
        layout.layers.get(l.wrapping_sub(1)).ok_or_else(|| Error::Input(format!("layer {l} does not exist; this model has layers 1..={}", c.n_layer)))
    };
    let head = |h: usize| {
        if (1..=c.n_head).contains(&h) {
            Ok(h - 1)
        } else {
            Err(Error::Input(format!("head {h} does not exist; each layer has heads 1..={}", c.n_head)))
        }
    };
    let copy = |slot: usize| {
        let s = &layout.slots[slot];
        Matrix { rows: s.shape[0], cols: s.shape[1], data: layout.get(params, slot).to_vec() }
    };
    Ok(match what {
        Snapshot::QueryKey { layer: l, head: h } | Snapshot::ValueOutput { layer: l, head: h } => {
            let (s, h) = (layer(*l)?, head(*h)?);
            let w = layout.mat(params, s.qkv_w);
            let mut data = vec![0.0f32; d * d];
            if matches!(what, Snapshot::QueryKey { .. }) {
                let (q, k) = (h * hd, d + h * hd);
                for i in 0..d {
                    for j in 0..d {
                        data[i * d + j] = (0..hd).map(|c| w[[i, q + c]] * w[[j, k + c]]).sum();
                    }
                }
            } else {
                let o = layout.mat(params, s.o_w);
                let v = 2 * d + h * hd;
                for i in 0..d {
                    for j in 0..d {
                        data[i * d + j] = (0..hd).map(|c| w[[i, v + c]] * o[[h * hd + c, j]]).sum();
                    }
                }
            }
            Matrix { rows: d, cols: d, data }
        }
        Snapshot::MlpIn { layer: l } => copy(layer(*l)?.fc_w),
        Snapshot::MlpOut { layer: l } => copy(layer(*l)?.proj_w),
        Snapshot::PositionEmbedding => copy(layout.wpe),
        Snapshot::TokenEmbedding { ids } if ids.is_empty() => copy(layout.wte),
        Snapshot::TokenEmbedding { ids } => {
            let wte = layout.get(params, layout.wte);
            let mut data = Vec::with_capacity(ids.len() * d);
            for &id in ids {
                if id as usize >= c.vocab_size {
                    return Err(Error::Input(format!("token id {id} is outside the vocabulary (ids 0..{} are valid)", c.vocab_size - 1)));
                }
                data.extend_from_slice(&wte[id as usize * d..][..d]);
            }
            Matrix { rows: ids.len(), cols: d, data }
        }
    })
}
