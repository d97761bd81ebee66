//! The forward pass on the CPU, written to be read next to the GPT-2, Llama and Gemma 3
//! papers: embed, then per block norm → q|k|v → (QK-norm) → RoPE → causal attention (within
//! a sliding window on Gemma's local layers) → output projection → (post-norm) → add, norm →
//! MLP → (post-norm) → add; then the final norm and the unembedding. Each step is an op of
//! [`super::fast`] (held to the plain [`super::ops`] by tests, and this whole pass held to
//! Hugging Face `transformers` by tests/parity.rs); what the caller asked to record goes into
//! the trace as it is computed.

use super::fast::{activate_gated_into, activate_into, attention_with, data, data_mut, linear, norm, rms_norm_heads, rope_with, softmax_rows_into, unembed};
use super::ops::{embedding, rope_angles, split_heads, Scheme};
use crate::ablation::Ablation;
use crate::clock::now_ms;
use crate::config::Config;
use crate::error::Result;
use crate::model::Model;
use crate::trace::{Dims, Part, Parts, Positions, Recorder, Trace};
use ndarray::{s, Array2, ArrayView2, Axis};
use std::sync::Arc;

/// Keys and values of every token already in the context, per layer, as rows [Tk, kv_width]
/// (key/value head j owns columns j·hd .. (j+1)·hd). Llama's keys are stored rotated.
struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

/// (sin, cos) of RoPE's angle for each position of a run and each frequency: [T, hd/2].
type SinCos = Vec<(f32, f32)>;

pub struct CpuBackend {
    model: Arc<Model>,
    cache: KvCache,
    /// The context's token ids (what the cache holds).
    ids: Vec<u32>,
    ablation: Ablation,
}

impl CpuBackend {
    pub fn new(model: Arc<Model>) -> Self {
        let n = model.config.n_layer;
        CpuBackend { model, cache: KvCache { k: vec![Vec::new(); n], v: vec![Vec::new(); n] }, ids: Vec::new(), ablation: Ablation::default() }
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Tokens currently in the context (the KV cache).
    pub fn context(&self) -> &[u32] {
        &self.ids
    }

    pub fn context_len(&self) -> usize {
        self.ids.len()
    }

    /// Keeps the first `n` tokens of the context: their keys and values stay valid, since
    /// attention is causal.
    pub fn truncate(&mut self, n: usize) {
        let w = self.model.config.kv_width();
        self.ids.truncate(n);
        let c = &mut self.cache;
        c.k.iter_mut().chain(c.v.iter_mut()).for_each(|x| x.truncate(n * w));
    }

    /// Empties the context.
    pub fn reset(&mut self) {
        self.truncate(0)
    }

    /// Heads to ablate from now on; the context is emptied, since its cached keys and values
    /// were computed without it.
    pub fn set_ablation(&mut self, a: Ablation) {
        self.ablation = a;
        self.reset();
    }

    /// A fresh run of a whole prompt (the context is emptied first).
    pub fn trace(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.reset();
        self.run(ids, parts)
    }

    /// Runs `ids` after the tokens already in the context and records `parts`: a fresh
    /// prompt and a one-token step are the same call.
    pub fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.run_positions(ids, parts, &Positions::All)
    }

    /// As [`CpuBackend::run`], keeping the per-position parts of `positions` only (the
    /// unembedding then runs on those rows alone). Tensors that are not used after they are
    /// recorded move into the trace (`into_flat`); the others are copied (`flat`).
    pub fn run_positions(&mut self, ids: &[u32], parts: Parts, positions: &Positions) -> Result<Trace> {
        let started = now_ms();
        let model = self.model.clone();
        let (m, start) = (&*model, self.ids.len());
        m.check_ids(ids, start)?;
        let (cfg, w) = (&m.config, &m.weights);
        let t = ids.len();
        let mut rec = Recorder::new(cfg, parts, Dims::new(cfg, start, t)).keep(positions, start);
        let eps = cfg.layer_norm_epsilon;
        // The (sin, cos) tables of this run's positions, one per RoPE base (Gemma's sliding
        // layers have their own), computed once for every layer and head.
        let mut angles: Vec<(f32, SinCos)> = Vec::new();
        for l in 0..cfg.n_layer {
            if let Some(theta) = cfg.layer_rope_theta(l).filter(|th| !angles.iter().any(|(a, _)| a == th)) {
                angles.push((theta, rope_angles(start, t, &cfg.layer_rope_inv_freq(l))));
            }
        }

        let mut tok_emb = embedding(&w.wte, ids.iter().map(|&i| i as usize));
        if let Some(scale) = cfg.embedding_scale {
            tok_emb *= scale;
        }
        let mut x = match &w.wpe {
            Some(wpe) => {
                let pos_emb = embedding(wpe, start..start + t);
                let x = &tok_emb + &pos_emb;
                rec.put(None, Part::PosEmb, || into_flat(pos_emb));
                rec.put(None, Part::TokEmb, || into_flat(tok_emb));
                x
            }
            None => {
                rec.put(None, Part::TokEmb, || flat(&tok_emb));
                tok_emb
            }
        };

        for (l, lw) in w.layers.iter().enumerate() {
            let at = Some(l);
            let h = norm(&x, &lw.ln_1, cfg.norm, eps);
            let mut qkv = linear(&h, &lw.qkv);
            rec.put(at, Part::Ln1, || into_flat(h));
            let (qw, kvw) = (cfg.q_width(), cfg.kv_width());
            let (qc, kc, vc) = (s![.., ..qw], s![.., qw..qw + kvw], s![.., qw + kvw..]);
            rec.put(at, Part::Q, || split_heads(qkv.slice(qc), cfg.n_head));
            rec.put(at, Part::K, || split_heads(qkv.slice(kc), cfg.n_kv_head));
            rec.put(at, Part::V, || split_heads(qkv.slice(vc), cfg.n_kv_head));
            if let (Some(qn), Some(kn)) = (&lw.q_norm, &lw.k_norm) {
                rms_norm_heads(qkv.slice_mut(qc), qn, eps);
                rms_norm_heads(qkv.slice_mut(kc), kn, eps);
                rec.put(at, Part::QNorm, || split_heads(qkv.slice(qc), cfg.n_head));
                rec.put(at, Part::KNorm, || split_heads(qkv.slice(kc), cfg.n_kv_head));
            }
            if let Some((_, angles)) = cfg.layer_rope_theta(l).and_then(|theta| angles.iter().find(|(th, _)| *th == theta)) {
                rope_with(qkv.slice_mut(qc), cfg.head_dim, angles);
                rope_with(qkv.slice_mut(kc), cfg.head_dim, angles);
                rec.put(at, Part::QRot, || split_heads(qkv.slice(qc), cfg.n_head));
                rec.put(at, Part::KRot, || split_heads(qkv.slice(kc), cfg.n_kv_head));
            }
            for row in qkv.rows() {
                let row = row.to_slice().expect("fresh array is contiguous");
                self.cache.k[l].extend_from_slice(&row[qw..qw + kvw]);
                self.cache.v[l].extend_from_slice(&row[qw + kvw..]);
            }
            let keys = ArrayView2::from_shape((start + t, kvw), &self.cache.k[l][..]).expect("cache rows are [Tk, kv_width]");
            let values = ArrayView2::from_shape((start + t, kvw), &self.cache.v[l][..]).expect("cache rows are [Tk, kv_width]");

            let keep = (rec.wants(Part::AttnScores), rec.wants(Part::AttnProbs));
            let scheme = Scheme { scale: cfg.attention_scale(), window: cfg.layer_window(l) };
            let mut a = attention_with(qkv.slice(qc), keys, values, start, (cfg.n_head, cfg.n_kv_head), scheme, keep);
            rec.put(at, Part::AttnScores, || std::mem::take(&mut a.scores));
            rec.put(at, Part::AttnProbs, || std::mem::take(&mut a.probs));
            self.ablation.apply(l, &mut a.heads, cfg.head_dim);
            let attn_out = linear(&a.heads, &lw.o);
            rec.put(at, Part::HeadOutputs, || into_flat(a.heads));
            match &lw.post_attn_norm {
                Some(pn) => {
                    let added = norm(&attn_out, pn, cfg.norm, eps);
                    rec.put(at, Part::AttnOut, || into_flat(attn_out));
                    x += &added;
                    rec.put(at, Part::PostAttnNorm, || into_flat(added));
                }
                None => {
                    x += &attn_out;
                    rec.put(at, Part::AttnOut, || into_flat(attn_out));
                }
            }
            rec.put(at, Part::ResidMid, || flat(&x));

            let h = norm(&x, &lw.ln_2, cfg.norm, eps);
            let hidden = mlp_hidden(cfg, lw, &h, &mut rec, l);
            rec.put(at, Part::Ln2, || into_flat(h));
            let mlp_out = linear(&hidden, &lw.down);
            rec.put(at, Part::MlpPost, || into_flat(hidden));
            match &lw.post_mlp_norm {
                Some(pn) => {
                    let added = norm(&mlp_out, pn, cfg.norm, eps);
                    rec.put(at, Part::MlpOut, || into_flat(mlp_out));
                    x += &added;
                    rec.put(at, Part::PostMlpNorm, || into_flat(added));
                }
                None => {
                    x += &mlp_out;
                    rec.put(at, Part::MlpOut, || into_flat(mlp_out));
                }
            }
            rec.put(at, Part::ResidPost, || flat(&x));
        }

        let ln_f = norm(&x, &w.ln_f, cfg.norm, eps);
        // The unembedding runs on the rows whose logits are kept, and on the last row, whose
        // logits generation needs: with a large vocabulary it is the largest matmul of a run.
        let kept = if rec.wants(Part::Logits) || rec.wants(Part::Probs) { rec.rows() } else { Vec::new() };
        let mut rows = kept.clone();
        if rows.last() != Some(&(t - 1)) {
            rows.push(t - 1);
        }
        let logits = if rows.len() == t && rows.iter().enumerate().all(|(i, &r)| i == r) {
            unembed(ln_f.view(), w.unembedding())
        } else {
            unembed(ln_f.select(Axis(0), &rows).view(), w.unembedding())
        };
        rec.put(None, Part::LnF, || into_flat(ln_f));
        let next_logits = logits.index_axis(Axis(0), rows.len() - 1).to_vec();
        let n = kept.len() * cfg.vocab_size;
        rec.put_kept(None, Part::Probs, || {
            let mut p = vec![0.0; n];
            softmax_rows_into(&data(&logits)[..n], &mut p, cfg.vocab_size);
            p
        });
        rec.put_kept(None, Part::Logits, || if logits.nrows() == kept.len() { into_flat(logits) } else { data(&logits)[..n].to_vec() });

        let tokens = m.token_infos(ids, m.tokenizer.bytes_len(&self.ids));
        self.ids.extend_from_slice(ids);
        Ok(rec.finish(tokens, start, next_logits, now_ms() - started))
    }
}

/// The MLP's hidden neurons for input h (after ln_2): act(h·W_in) for a plain MLP, or
/// act(h·W_gate) ⊙ h·W_up for a gated one; the input of the down projection. Records the
/// projections before the nonlinearity.
fn mlp_hidden(cfg: &Config, lw: &crate::weights::LayerWeights, h: &Array2<f32>, rec: &mut Recorder, l: usize) -> Array2<f32> {
    let at = Some(l);
    let up = linear(h, &lw.up);
    match &lw.gate {
        None => {
            let mut act = Array2::zeros(up.raw_dim());
            activate_into(cfg.activation, data(&up), data_mut(&mut act));
            rec.put(at, Part::MlpPre, || into_flat(up));
            act
        }
        Some(gate) => {
            let g = linear(h, gate);
            let mut act = Array2::zeros(up.raw_dim());
            activate_gated_into(cfg.activation, data(&g), data(&up), data_mut(&mut act));
            rec.put(at, Part::MlpGate, || into_flat(g));
            rec.put(at, Part::MlpUp, || into_flat(up));
            act
        }
    }
}

fn flat(a: &Array2<f32>) -> Vec<f32> {
    match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    }
}

/// The array's elements in row-major order, moved out without a copy when they are its
/// whole buffer (as for every array made here).
fn into_flat(a: Array2<f32>) -> Vec<f32> {
    if a.is_standard_layout() {
        let n = a.len();
        let (v, offset) = a.into_raw_vec_and_offset();
        return match offset.unwrap_or(0) {
            0 if v.len() == n => v,
            o => v[o..o + n].to_vec(),
        };
    }
    a.iter().copied().collect()
}
