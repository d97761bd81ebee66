//! Head ablation: which heads' outputs are replaced, and by what. Both backends apply it
//! (the CPU on the head outputs, the GPU as a mask in a kernel), so it lives below them.

use crate::config::Config;
use crate::error::{Error, Result};
use ndarray::Array2;
use serde::Serialize;

/// Heads whose output (their slice of the input to the attention output projection) is
/// replaced, per layer: by zeros, or by its mean over a prompt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ablation {
    /// Per layer: (head, replacement [head_dim]).
    layers: Vec<Vec<(usize, Vec<f32>)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AblationMode {
    Zero,
    Mean,
}

impl AblationMode {
    pub fn parse(s: &str) -> Option<AblationMode> {
        match s {
            "zero" => Some(AblationMode::Zero),
            "mean" => Some(AblationMode::Mean),
            _ => None,
        }
    }
}

impl Ablation {
    /// Parses `L.H[,L.H…]`, layers and heads counted from 1 as the page and `heads` show
    /// them, into 0-based (layer, head) pairs.
    pub fn parse_heads(list: &str, cfg: &Config) -> Result<Vec<(usize, usize)>> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parsed = item.split_once('.').and_then(|(l, h)| Some((l.parse::<usize>().ok()?, h.parse::<usize>().ok()?)));
            match parsed {
                Some((l, h)) if (1..=cfg.n_layer).contains(&l) && (1..=cfg.n_head).contains(&h) => out.push((l - 1, h - 1)),
                _ => {
                    return Err(Error::Input(format!(
                        "head \"{item}\" is not LAYER.HEAD with layer 1..{} and head 1..{} (counted from 1)",
                        cfg.n_layer, cfg.n_head
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Zeroes the outputs of `heads` (0-based (layer, head)).
    pub fn zero(cfg: &Config, heads: &[(usize, usize)]) -> Ablation {
        Self::build(cfg, heads, |_, _| vec![0.0; cfg.head_dim])
    }

    /// Replaces each head's output by its mean over the rows of `head_outputs` (one
    /// [T, H·hd] tensor per layer, from an un-ablated run of the prompt).
    pub fn mean(cfg: &Config, heads: &[(usize, usize)], head_outputs: &[&[f32]]) -> Ablation {
        let (hd, w) = (cfg.head_dim, cfg.q_width());
        Self::build(cfg, heads, |l, h| {
            let rows = head_outputs[l].chunks_exact(w);
            let n = rows.len().max(1) as f32;
            let mut m = vec![0.0f32; hd];
            for r in rows {
                m.iter_mut().zip(&r[h * hd..(h + 1) * hd]).for_each(|(a, b)| *a += b);
            }
            m.iter_mut().for_each(|v| *v /= n);
            m
        })
    }

    fn build(cfg: &Config, heads: &[(usize, usize)], mut repl: impl FnMut(usize, usize) -> Vec<f32>) -> Ablation {
        let mut layers = vec![Vec::new(); cfg.n_layer];
        for &(l, h) in heads {
            if !layers[l].iter().any(|(x, _)| *x == h) {
                layers[l].push((h, repl(l, h)));
            }
        }
        Ablation { layers }
    }

    /// Replaces the ablated heads' columns of layer `l`'s head outputs z [T, H·hd].
    pub fn apply(&self, l: usize, z: &mut Array2<f32>, hd: usize) {
        for (h, r) in self.layers.get(l).into_iter().flatten() {
            for mut row in z.rows_mut() {
                row.slice_mut(ndarray::s![h * hd..(h + 1) * hd]).assign(&ndarray::ArrayView1::from(&r[..]));
            }
        }
    }

    /// Layer `l` as a keep-mask [H] (1 keep, 0 replace) and replacements [H·hd], for a
    /// kernel; None when no head of that layer is ablated.
    pub fn layer_mask(&self, l: usize, n_head: usize, hd: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        let hs = self.layers.get(l).filter(|hs| !hs.is_empty())?;
        let mut keep = vec![1.0; n_head];
        let mut repl = vec![0.0; n_head * hd];
        for (h, r) in hs {
            keep[*h] = 0.0;
            repl[h * hd..(h + 1) * hd].copy_from_slice(r);
        }
        Some((keep, repl))
    }
}
