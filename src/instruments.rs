//! Instruments that ask *why* the model predicts what it predicts, computed from the
//! recorded parts of a run (a trace of either backend, or the page's store): the logit
//! lens, direct logit attribution, and the embedding space (nearest tokens, cosines, a 2-D
//! PCA map). Head ablation changes the run itself, so it is a setting of the backends
//! ([`crate::ablation`]).
//!
//! - Logit lens (nostalgebraist 2020): the residual stream after the embeddings and after
//!   each block, put through the final norm and the unembedding as if the model ended
//!   there. It shows what the stream "would predict" at each depth; it does not claim the
//!   model uses that prediction.
//! - Direct logit attribution (as TransformerLens decomposes it): the final residual is a
//!   sum of the embeddings, each head's output, each attention bias and each MLP output;
//!   with the final norm's scale frozen from the actual run, the norm is linear, so each
//!   component's share of one token's logit is its own dot product with that token's
//!   unembedding direction. Direct effects only: a head's influence through later layers
//!   is not counted here. Where a block's output passes a norm before the residual add
//!   (Gemma's post-norms), that norm's scale is frozen from the run too, so each head's share
//!   of it stays linear and the shares still sum to the logit.

use crate::config::Norm;
use crate::cpu::fast::{norm, rms_scale, softmax, unembed};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::trace::{Part, PartSource, Parts};
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

/// The parts a lens needs from a run.
pub fn lens_parts() -> Parts {
    Parts::of(&[Part::TokEmb, Part::PosEmb, Part::ResidPost])
}

/// The parts attribution needs from a run.
pub fn attribution_parts() -> Parts {
    Parts::of(&[Part::TokEmb, Part::PosEmb, Part::HeadOutputs, Part::MlpOut])
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopToken {
    pub id: u32,
    pub text: String,
    pub p: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct LensLayer {
    /// "embeddings" or "layer N" (counted from 1).
    pub after: String,
    /// [T][K]: the K most probable tokens at each position.
    pub top: Vec<Vec<TopToken>>,
    /// For the target token, at each position: its probability and rank (1 = top).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Vec<(f32, usize)>>,
}

fn missing(what: &str) -> Error {
    Error::Input(format!("the run did not record {what}, which this instrument needs"))
}

/// The residual stream entering layer 1 [T, d]: token embedding (+ position embedding).
pub fn embedding_stream(tr: &(impl PartSource + ?Sized)) -> Result<Array2<f32>> {
    let te = tr.part(None, Part::TokEmb).ok_or_else(|| missing("token_embeddings"))?;
    let mut x = Array2::from_shape_vec((te.shape[0], te.shape[1]), te.data.clone()).expect("shape checked by the recorder");
    if let Some(pe) = tr.part(None, Part::PosEmb) {
        x += &ArrayView2::from_shape((pe.shape[0], pe.shape[1]), &pe.data).expect("shape checked by the recorder");
    }
    Ok(x)
}

/// Ranks (1-based) of every token and the top-k, by probability, lower ids first on ties.
fn top_k(model: &Model, probs: &[f32], k: usize) -> Vec<TopToken> {
    let mut idx: Vec<u32> = (0..probs.len() as u32).collect();
    let k = k.min(idx.len());
    idx.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| probs[b as usize].total_cmp(&probs[a as usize]).then(a.cmp(&b)));
    idx.truncate(k);
    idx.sort_by(|&a, &b| probs[b as usize].total_cmp(&probs[a as usize]).then(a.cmp(&b)));
    idx.into_iter().map(|id| TopToken { id, text: token_text(model, id), p: probs[id as usize] }).collect()
}

/// Positions unembedded at once by the lens.
const LENS_ROWS: usize = 16;

/// The logit lens of a run recorded with [`lens_parts`]: L + 1 entries, the last being the
/// model's own output distribution. `target` adds that token's probability and rank.
pub fn lens(model: &Model, tr: &(impl PartSource + ?Sized), k: usize, target: Option<u32>) -> Result<Vec<LensLayer>> {
    let cfg = &model.config;
    let w = &model.weights;
    let mut streams = vec![("embeddings".to_string(), embedding_stream(tr)?)];
    for l in 0..cfg.n_layer {
        let r = tr.part(Some(l), Part::ResidPost).ok_or_else(|| missing("residual_after_mlp"))?;
        streams.push((format!("layer {}", l + 1), Array2::from_shape_vec((r.shape[0], r.shape[1]), r.data.clone()).expect("shape checked")));
    }
    let mut out = Vec::with_capacity(streams.len());
    for (after, x) in streams {
        let normed = norm(&x, &w.ln_f, cfg.norm, cfg.layer_norm_epsilon);
        let mut top = Vec::with_capacity(x.nrows());
        let mut tgt = target.map(|_| Vec::with_capacity(x.nrows()));
        // A few rows at a time: logits of every position at once would be [T, V], 0.7 GB for
        // 700 tokens of a 262,144-token vocabulary.
        for rows in normed.axis_chunks_iter(ndarray::Axis(0), LENS_ROWS) {
            let logits = unembed(rows, w.unembedding());
            for row in logits.rows() {
                let mut p = row.to_vec();
                softmax(&mut p);
                top.push(top_k(model, &p, k));
                if let (Some(t), Some(v)) = (target, tgt.as_mut()) {
                    let pt = p[t as usize];
                    let rank = 1 + p.iter().enumerate().filter(|(i, &q)| q > pt || (q == pt && (*i as u32) < t)).count();
                    v.push((pt, rank));
                }
            }
        }
        out.push(LensLayer { after, top, target: tgt });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// "embeddings", "layer N head H", "layer N attention bias", "layer N MLP", "final norm bias".
    pub name: String,
    /// Counted from 1; None for the embeddings and the final norm bias.
    pub layer: Option<usize>,
    pub head: Option<usize>,
    /// This component's direct contribution to the target token's logit.
    pub value: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attribution {
    pub position: usize,
    /// The target token.
    pub token: u32,
    pub text: String,
    /// The model's logit for the token at this position.
    pub logit: f32,
    /// The contributions, which sum to `logit`.
    pub components: Vec<Component>,
    /// The final norm's divisor at this position, frozen from the run (σ for LayerNorm,
    /// the root mean square for RMSNorm).
    pub norm_scale: f32,
}

/// Direct logit attribution of `token` at `position` for a run recorded with
/// [`attribution_parts`].
pub fn attribute(model: &Model, tr: &(impl PartSource + ?Sized), position: usize, token: u32) -> Result<Attribution> {
    let cfg = &model.config;
    let w = &model.weights;
    let (d, hd) = (cfg.n_embd, cfg.head_dim);
    let emb = embedding_stream(tr)?;
    if position >= emb.nrows() {
        return Err(Error::Input(format!("position {position} is past the {} tokens of this run", emb.nrows())));
    }
    check_token(model, token)?;
    // Every component as (name, layer, head, d-vector at this position); their sum is the
    // final residual.
    type Piece = (String, Option<usize>, Option<usize>, Vec<f32>);
    let mut parts: Vec<Piece> = Vec::new();
    parts.push(("embeddings".into(), None, None, emb.row(position).to_vec()));
    let eps = cfg.layer_norm_epsilon;
    for (l, lw) in w.layers.iter().enumerate() {
        let z = tr.part(Some(l), Part::HeadOutputs).ok_or_else(|| missing("head_outputs"))?;
        let z = &z.row(position);
        // W_O as f32 [q_width, d], dequantized for this layer only when held in blocks.
        let w_o = lw.o.in_out();
        let mut attn: Vec<Piece> = Vec::with_capacity(cfg.n_head + 1);
        for h in 0..cfg.n_head {
            let wo = w_o.slice(ndarray::s![h * hd..(h + 1) * hd, ..]);
            let c = ndarray::ArrayView1::from(&z[h * hd..(h + 1) * hd]).dot(&wo).to_vec();
            attn.push((format!("layer {} head {}", l + 1, h + 1), Some(l + 1), Some(h + 1), c));
        }
        if let Some(b) = &lw.o.b {
            attn.push((format!("layer {} attention bias", l + 1), Some(l + 1), None, b.to_vec()));
        }
        if let Some(pn) = &lw.post_attn_norm {
            // The post-norm of the attention output, its scale frozen: linear in each share.
            let out: Vec<f32> = (0..d).map(|j| attn.iter().map(|p| p.3[j]).sum()).collect();
            let inv = 1.0 / rms_scale(&out, eps);
            for p in &mut attn {
                p.3.iter_mut().zip(&pn.g).for_each(|(v, g)| *v = g * (*v * inv));
            }
        }
        parts.extend(attn);
        let m = tr.part(Some(l), Part::MlpOut).ok_or_else(|| missing("mlp_output"))?;
        let mut m = m.row(position).to_vec();
        if let Some(pn) = &lw.post_mlp_norm {
            let inv = 1.0 / rms_scale(&m, eps);
            m.iter_mut().zip(&pn.g).for_each(|(v, g)| *v = g * (*v * inv));
        }
        parts.push((format!("layer {} MLP", l + 1), Some(l + 1), None, m));
    }
    let x: Vec<f32> = (0..d).map(|j| parts.iter().map(|p| p.3[j]).sum()).collect();
    let u = &w.unembedding().row(token as usize);
    let g = &w.ln_f.g;
    // With the scale frozen, the norm is linear in x; LayerNorm also centres each component.
    let (scale, centre) = match cfg.norm {
        Norm::LayerNorm => {
            let mean = x.iter().sum::<f32>() / d as f32;
            ((x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32 + eps).sqrt(), true)
        }
        Norm::RmsNorm => (rms_scale(&x, eps), false),
    };
    let direct = |c: &[f32]| -> f32 {
        let mean = if centre { c.iter().sum::<f32>() / d as f32 } else { 0.0 };
        c.iter().zip(g).zip(u).map(|((v, g), u)| (v - mean) * g * u).sum::<f32>() / scale
    };
    let mut components: Vec<Component> =
        parts.iter().map(|(name, layer, head, c)| Component { name: name.clone(), layer: *layer, head: *head, value: direct(c) }).collect();
    if let Some(b) = &w.ln_f.b {
        components.push(Component { name: "final norm bias".into(), layer: None, head: None, value: b.iter().zip(u).map(|(b, u)| b * u).sum() });
    }
    let logit = {
        let y = norm(&Array2::from_shape_vec((1, d), x).expect("d values"), &w.ln_f, cfg.norm, eps);
        y.row(0).iter().zip(u).map(|(a, b)| a * b).sum()
    };
    Ok(Attribution { position, token, text: token_text(model, token), logit, components, norm_scale: scale })
}

/// A token and how close its embedding is to another's.
#[derive(Debug, Clone, Serialize)]
pub struct Neighbour {
    pub id: u32,
    pub text: String,
    /// Cosine similarity of the two rows of the token-embedding table.
    pub cosine: f32,
}

fn token_text(model: &Model, id: u32) -> String {
    String::from_utf8_lossy(model.tokenizer.token_bytes(id).unwrap_or_default()).into_owned()
}

fn check_token(model: &Model, id: u32) -> Result<()> {
    if id as usize >= model.config.vocab_size {
        return Err(Error::Input(format!("token id {id} is outside the vocabulary (ids 0..{} are valid)", model.config.vocab_size - 1)));
    }
    Ok(())
}

/// Cosine similarity of the token-embedding rows of `a` and `b`.
pub fn cosine(model: &Model, a: u32, b: u32) -> Result<f32> {
    check_token(model, a)?;
    check_token(model, b)?;
    let (x, y) = (model.weights.wte.row(a as usize), model.weights.wte.row(b as usize));
    let dot = |a: &[f32], b: &[f32]| ndarray::ArrayView1::from(a).dot(&ndarray::ArrayView1::from(b));
    Ok(dot(&x, &y) / (dot(&x, &x).sqrt() * dot(&y, &y).sqrt()).max(f32::MIN_POSITIVE))
}

/// Cosine similarities [n][n] between the token-embedding rows of `ids`.
pub fn cosines(model: &Model, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
    ids.iter().map(|&a| ids.iter().map(|&b| cosine(model, a, b)).collect()).collect()
}

/// The `k` tokens whose rows of the token-embedding table are nearest `id`'s by cosine
/// (the token itself left out). Tokens the tokenizer never produces are skipped.
pub fn neighbours(model: &Model, id: u32, k: usize) -> Result<Vec<Neighbour>> {
    check_token(model, id)?;
    let wte = &model.weights.wte;
    let dot = |a: &[f32], b: &[f32]| ndarray::ArrayView1::from(a).dot(&ndarray::ArrayView1::from(b));
    let x = wte.row(id as usize);
    let xn = dot(&x, &x).sqrt().max(f32::MIN_POSITIVE);
    // Row by row into one buffer: a table held in blocks is dequantized a row at a time.
    let mut r = vec![0.0; wte.cols()];
    let mut scored: Vec<(u32, f32)> = Vec::with_capacity(wte.rows());
    for i in (0..wte.rows()).filter(|&i| i as u32 != id && model.tokenizer.token_bytes(i as u32).is_some()) {
        wte.row_into(i, &mut r);
        scored.push((i as u32, dot(&r, &x) / (dot(&r, &r).sqrt() * xn).max(f32::MIN_POSITIVE)));
    }
    let k = k.min(scored.len());
    if k == 0 {
        return Ok(Vec::new());
    }
    scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(scored.into_iter().map(|(id, cosine)| Neighbour { id, text: token_text(model, id), cosine }).collect())
}

/// Each token's coordinates on the first two principal components of the embedding rows of
/// `ids` (centred): a 2-D map in which tokens the model embeds alike sit close together.
pub fn pca_2d(model: &Model, ids: &[u32]) -> Result<Vec<[f32; 2]>> {
    for &id in ids {
        check_token(model, id)?;
    }
    let n = ids.len();
    if n < 2 {
        return Ok(vec![[0.0, 0.0]; n]);
    }
    let mut x = crate::cpu::ops::embedding(&model.weights.wte, ids.iter().map(|&i| i as usize));
    let mean = x.mean_axis(ndarray::Axis(0)).expect("at least two rows");
    x -= &mean;
    // X = U S Vᵀ: the coordinates on the principal axes are U·S, the eigenvectors of the
    // small Gram matrix X·Xᵀ [n, n] scaled by √eigenvalue. Power iteration with deflation.
    let mut g = x.dot(&x.t()).mapv(|v| v as f64);
    let mut axes = Vec::with_capacity(2);
    for _ in 0..2 {
        let mut v = ndarray::Array1::from_shape_fn(n, |i| 1.0 + i as f64 / n as f64);
        let mut lambda = 0.0;
        for _ in 0..500 {
            let w = g.dot(&v);
            let norm = w.dot(&w).sqrt();
            if norm < 1e-12 {
                break;
            }
            lambda = v.dot(&w) / v.dot(&v);
            v = w / norm;
        }
        axes.push(&v * lambda.max(0.0).sqrt());
        let vv = v.insert_axis(ndarray::Axis(1));
        g = g - lambda * vv.dot(&vv.t());
    }
    Ok((0..n).map(|i| [axes[0][i] as f32, axes[1][i] as f32]).collect())
}
