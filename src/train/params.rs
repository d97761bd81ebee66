//! A GPT-2's learned parameters as one flat buffer, as llm.c keeps them: the gradients, and
//! AdamW's two moments, are buffers of the same layout, so the optimizer, the gradient norm
//! and clipping are single loops. Each tensor has a slot (its Hugging Face name, shape and
//! offset); the forward and backward passes read views of it. Converts to and from the
//! engine's [`Weights`], and initialises a new model.

use crate::config::{Config, Family, Norm};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::sampling::Rng;
use crate::weights::{LayerWeights, Linear, NormWeights, Weights};
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

/// The hyperparameters of a GPT-2 the trainer builds from scratch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    pub layers: usize,
    pub heads: usize,
    /// Width of the residual stream (n_embd).
    pub width: usize,
    /// Context length (n_positions).
    pub context: usize,
    /// Vocabulary size: the tokenizer's, so that the trained model opens in every view.
    pub vocab: usize,
    /// Width of the MLP's hidden layer; 4·width when 0.
    #[serde(default)]
    pub inner: usize,
}

impl ModelShape {
    /// The engine's description of this GPT-2 (tied embeddings, `gelu_new`, ε 1e-5).
    pub fn config(&self) -> Result<Config> {
        let c = Config {
            n_positions: self.context,
            n_layer: self.layers,
            n_inner: if self.inner == 0 { 4 * self.width } else { self.inner },
            ..crate::arch::gpt2::scheme(self.vocab, self.width, self.heads, Some(0), vec![0])
        };
        c.validate_named(|f| match f {
            "n_layer" => "layers".into(),
            "n_head" | "n_kv_head" => "heads".into(),
            "n_embd" | "head_dim" => "width".into(),
            "n_positions" => "context".into(),
            "vocab_size" => "vocab".into(),
            "n_inner" => "inner".into(),
            f => f.into(),
        })
        .map_err(|e| Error::Input(e.message().trim_start_matches("config.json: ").to_string()))?;
        Ok(c)
    }
}

/// Where one learned tensor lives in the flat buffer.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Its name in a Hugging Face GPT-2 checkpoint, without the `transformer.` prefix
    /// (`h.0.attn.c_attn.weight`).
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
    /// Decoupled weight decay applies (tensors of two or more dimensions: embeddings and
    /// matrices, not biases or norm gains, as nanoGPT's `configure_optimizers`).
    pub decay: bool,
}

/// The slots of one block, by role.
#[derive(Debug, Clone, Copy)]
pub struct LayerSlots {
    pub ln1_g: usize,
    pub ln1_b: usize,
    pub qkv_w: usize,
    pub qkv_b: usize,
    pub o_w: usize,
    pub o_b: usize,
    pub ln2_g: usize,
    pub ln2_b: usize,
    pub fc_w: usize,
    pub fc_b: usize,
    pub proj_w: usize,
    pub proj_b: usize,
}

/// Every tensor of a GPT-2 of `config`, in Hugging Face's order; the fields index `slots`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub config: Config,
    pub slots: Vec<Slot>,
    pub total: usize,
    pub wte: usize,
    pub wpe: usize,
    pub layers: Vec<LayerSlots>,
    pub lnf_g: usize,
    pub lnf_b: usize,
    /// An untied unembedding (`lm_head.weight`), when the model has one.
    pub lm_head: Option<usize>,
}

impl Layout {
    /// The layout of a GPT-2 of `cfg`; refuses other families and features the trainer
    /// does not differentiate, naming them.
    pub fn new(cfg: &Config) -> Result<Layout> {
        if cfg.model_type != Family::Gpt2 || cfg.norm != Norm::LayerNorm || cfg.rope_theta.is_some() || cfg.gated_mlp {
            let family = match cfg.model_type {
                Family::Gpt2 => "a GPT-2 variant with another norm, RoPE or a gated MLP",
                Family::Llama => "a Llama-family model (model_type \"llama\")",
                Family::Qwen2 => "a Qwen2 model (model_type \"qwen2\")",
                Family::Gemma3 => "a Gemma 3 model (model_type \"gemma3_text\")",
            };
            return Err(Error::Input(format!("the trainer trains GPT-2 models (model_type \"gpt2\"); this is {family}")));
        }
        if cfg.n_kv_head != cfg.n_head || cfg.q_width() != cfg.n_embd || !(cfg.qkv_bias && cfg.o_bias && cfg.mlp_bias) {
            return Err(Error::Input(
                "the trainer trains GPT-2's plain attention: as many key/value heads as query heads, every projection with a bias".into(),
            ));
        }
        let (v, p, d, f) = (cfg.vocab_size, cfg.n_positions, cfg.n_embd, cfg.n_inner);
        let mut slots: Vec<Slot> = Vec::new();
        let mut add = |name: String, shape: Vec<usize>| {
            let offset = slots.last().map_or(0, |s| s.offset + s.len);
            let len = shape.iter().product();
            let decay = shape.len() >= 2;
            slots.push(Slot { name, shape, offset, len, decay });
            slots.len() - 1
        };
        let wte = add("wte.weight".into(), vec![v, d]);
        let wpe = add("wpe.weight".into(), vec![p, d]);
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let mut a = |n: &str, shape: Vec<usize>| add(format!("h.{i}.{n}"), shape);
            layers.push(LayerSlots {
                ln1_g: a("ln_1.weight", vec![d]),
                ln1_b: a("ln_1.bias", vec![d]),
                qkv_w: a("attn.c_attn.weight", vec![d, 3 * d]),
                qkv_b: a("attn.c_attn.bias", vec![3 * d]),
                o_w: a("attn.c_proj.weight", vec![d, d]),
                o_b: a("attn.c_proj.bias", vec![d]),
                ln2_g: a("ln_2.weight", vec![d]),
                ln2_b: a("ln_2.bias", vec![d]),
                fc_w: a("mlp.c_fc.weight", vec![d, f]),
                fc_b: a("mlp.c_fc.bias", vec![f]),
                proj_w: a("mlp.c_proj.weight", vec![f, d]),
                proj_b: a("mlp.c_proj.bias", vec![d]),
            });
        }
        let lnf_g = add("ln_f.weight".into(), vec![d]);
        let lnf_b = add("ln_f.bias".into(), vec![d]);
        let lm_head = (!cfg.tie_word_embeddings).then(|| add("lm_head.weight".into(), vec![v, d]));
        let total = slots.last().map_or(0, |s| s.offset + s.len);
        Ok(Layout { config: cfg.clone(), slots, total, wte, wpe, layers, lnf_g, lnf_b, lm_head })
    }

    /// The unembedding's slot: `lm_head` when untied, else the token embedding.
    pub fn unembedding(&self) -> usize {
        self.lm_head.unwrap_or(self.wte)
    }

    pub fn get<'a>(&self, buf: &'a [f32], slot: usize) -> &'a [f32] {
        let s = &self.slots[slot];
        &buf[s.offset..s.offset + s.len]
    }

    pub fn get_mut<'a>(&self, buf: &'a mut [f32], slot: usize) -> &'a mut [f32] {
        let s = &self.slots[slot];
        &mut buf[s.offset..s.offset + s.len]
    }

    /// A matrix slot as [rows, cols].
    pub fn mat<'a>(&self, buf: &'a [f32], slot: usize) -> ArrayView2<'a, f32> {
        let s = &self.slots[slot];
        ArrayView2::from_shape((s.shape[0], s.shape[1]), self.get(buf, slot)).expect("slot shape")
    }

    pub fn mat_mut<'a>(&self, buf: &'a mut [f32], slot: usize) -> ArrayViewMut2<'a, f32> {
        let s = self.slots[slot].shape.clone();
        ArrayViewMut2::from_shape((s[0], s[1]), self.get_mut(buf, slot)).expect("slot shape")
    }

    /// The engine's weights as one flat buffer of this layout.
    pub fn flatten(&self, w: &Weights) -> Result<Vec<f32>> {
        let mut buf = vec![0.0f32; self.total];
        let mut put = |slot: usize, values: &[f32], what: &str| -> Result<()> {
            let s = &self.slots[slot];
            if values.len() != s.len {
                return Err(Error::Weights(format!("tensor \"{}\" ({what}) has {} values; expected {} for shape {:?}", s.name, values.len(), s.len, s.shape)));
            }
            buf[s.offset..s.offset + s.len].copy_from_slice(values);
            Ok(())
        };
        let wpe = w.wpe.as_ref().ok_or_else(|| Error::Weights("the model has no position embedding (wpe); a GPT-2 has one".into()))?;
        put(self.wte, &table(&w.wte), "token embedding")?;
        put(self.wpe, &table(wpe), "position embedding")?;
        for (lw, s) in w.layers.iter().zip(&self.layers) {
            put(s.ln1_g, &vec1(&lw.ln_1.g), "ln_1 gain")?;
            put(s.ln1_b, &vec1(bias(&lw.ln_1.b)?), "ln_1 bias")?;
            put(s.qkv_w, &contiguous(&lw.qkv.in_out()), "q|k|v weight")?;
            put(s.qkv_b, &vec1(bias(&lw.qkv.b)?), "q|k|v bias")?;
            put(s.o_w, &contiguous(&lw.o.in_out()), "attention output weight")?;
            put(s.o_b, &vec1(bias(&lw.o.b)?), "attention output bias")?;
            put(s.ln2_g, &vec1(&lw.ln_2.g), "ln_2 gain")?;
            put(s.ln2_b, &vec1(bias(&lw.ln_2.b)?), "ln_2 bias")?;
            put(s.fc_w, &contiguous(&lw.up.in_out()), "MLP input weight")?;
            put(s.fc_b, &vec1(bias(&lw.up.b)?), "MLP input bias")?;
            put(s.proj_w, &contiguous(&lw.down.in_out()), "MLP output weight")?;
            put(s.proj_b, &vec1(bias(&lw.down.b)?), "MLP output bias")?;
        }
        put(self.lnf_g, &vec1(&w.ln_f.g), "ln_f gain")?;
        put(self.lnf_b, &vec1(bias(&w.ln_f.b)?), "ln_f bias")?;
        match (self.lm_head, &w.lm_head) {
            (Some(slot), Some(u)) => put(slot, &table(u), "unembedding")?,
            (None, None) => {}
            _ => return Err(Error::Weights("the unembedding (lm_head) is tied in the config but not in the weights, or the other way round".into())),
        }
        Ok(buf)
    }

    /// The engine's weights from a flat buffer of this layout.
    pub fn weights(&self, buf: &[f32]) -> Weights {
        let m = |slot: usize| Matrix::F32(self.mat(buf, slot).to_owned());
        let v = |slot: usize| Array1::from_vec(self.get(buf, slot).to_vec());
        let lin = |w: usize, b: usize| Linear { w: m(w), b: Some(v(b)) };
        let norm = |g: usize, b: usize| NormWeights { g: v(g), b: Some(v(b)) };
        Weights {
            wte: m(self.wte),
            wpe: Some(m(self.wpe)),
            layers: self
                .layers
                .iter()
                .map(|s| LayerWeights {
                    ln_1: norm(s.ln1_g, s.ln1_b),
                    qkv: lin(s.qkv_w, s.qkv_b),
                    q_norm: None,
                    k_norm: None,
                    o: lin(s.o_w, s.o_b),
                    post_attn_norm: None,
                    ln_2: norm(s.ln2_g, s.ln2_b),
                    up: lin(s.fc_w, s.fc_b),
                    gate: None,
                    down: lin(s.proj_w, s.proj_b),
                    post_mlp_norm: None,
                })
                .collect(),
            ln_f: norm(self.lnf_g, self.lnf_b),
            lm_head: self.lm_head.map(m),
        }
    }
}

/// A table (embedding or unembedding, [rows, width] however it is held) as f32 values, row
/// after row: a model resumed from a GGUF may hold it in ggml blocks.
fn table(m: &Matrix) -> Vec<f32> {
    match m {
        Matrix::F32(a) => contiguous(a),
        m => m.to_f32().into_raw_vec_and_offset().0,
    }
}

fn contiguous(a: &Array2<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

fn vec1(a: &Array1<f32>) -> Vec<f32> {
    a.to_vec()
}

fn bias(b: &Option<Array1<f32>>) -> Result<&Array1<f32>> {
    b.as_ref().ok_or_else(|| Error::Weights("a GPT-2 projection or norm lacks its bias".into()))
}

/// How a new model's learned parameters start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// Standard deviation of the embeddings and matrices (GPT-2: 0.02); the two residual
    /// projections of each block get std/√(2·layers), as GPT-2 does.
    pub std: f32,
    /// Standard deviation of the query and key columns of c_attn, when it differs from std:
    /// attention logits are a product of the two, so at 0.02 both gradients start tiny and
    /// heads stay uniform for a long plateau.
    pub qk_std: f32,
    /// Position embeddings start as sinusoids (Vaswani et al. 2017) of the token rows' norm,
    /// rather than random: then "the token before" is one fixed rotation of every position,
    /// which a previous-token head can learn at once.
    pub sinusoidal_positions: bool,
}

impl Default for Init {
    fn default() -> Self {
        Init { std: 0.02, qk_std: 0.02, sinusoidal_positions: false }
    }
}

/// Normal samples by Box–Muller from the engine's seeded RNG: the same start on every
/// machine and in the browser.
fn normal(rng: &mut Rng, out: &mut [f32], std: f32) {
    let mut i = 0;
    while i < out.len() {
        let u1 = rng.next_f64().max(1e-300);
        let u2 = rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt() * std as f64;
        let a = 2.0 * std::f64::consts::PI * u2;
        out[i] = (r * a.cos()) as f32;
        if i + 1 < out.len() {
            out[i + 1] = (r * a.sin()) as f32;
        }
        i += 2;
    }
}

/// A new model's parameters in `layout`: GPT-2's initialisation (N(0, std) embeddings and
/// matrices, residual projections scaled by 1/√(2·layers), zero biases, unit norm gains)
/// with the changes `init` asks for.
pub fn initialise(layout: &Layout, init: &Init, seed: u64) -> Vec<f32> {
    let mut buf = vec![0.0f32; layout.total];
    let mut rng = Rng::new(seed);
    let cfg = &layout.config;
    let resid = init.std / (2.0 * cfg.n_layer as f32).sqrt();
    let d = cfg.n_embd;
    for (i, s) in layout.slots.iter().enumerate() {
        let out = &mut buf[s.offset..s.offset + s.len];
        let name = s.name.as_str();
        if name.ends_with("ln_1.weight") || name.ends_with("ln_2.weight") || name == "ln_f.weight" {
            out.fill(1.0);
        } else if name.ends_with(".bias") {
            // zero
        } else if name.ends_with("c_proj.weight") {
            normal(&mut rng, out, resid);
        } else if name.ends_with("c_attn.weight") {
            // [d, 3d] row-major: columns 0..d are queries, d..2d keys, 2d..3d values.
            normal(&mut rng, out, 1.0);
            for (k, v) in out.iter_mut().enumerate() {
                *v *= if k % (3 * d) < 2 * d { init.qk_std } else { init.std };
            }
        } else if i == layout.wpe && init.sinusoidal_positions {
            // Amplitude √2·std gives rows the norm of N(0, std) token rows.
            let amp = init.std as f64 * std::f64::consts::SQRT_2;
            for (k, v) in out.iter_mut().enumerate() {
                let (pos, j) = ((k / d) as f64, k % d);
                let angle = pos / 10000f64.powf((j / 2 * 2) as f64 / d as f64);
                *v = (amp * if j % 2 == 0 { angle.sin() } else { angle.cos() }) as f32;
            }
        } else {
            normal(&mut rng, out, init.std);
        }
    }
    buf
}
