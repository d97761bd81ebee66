//! What each architecture *is*, one module each: the keys of its `config.json` and of its
//! GGUF metadata, the names of its tensors in Hugging Face and GGUF files, and its scheme
//! (norm, activation, how position enters, which projections carry biases). Loaders read
//! files through these descriptions onto the engine's one layout ([`Weights`]); backends
//! read only [`Config`]. Adding an architecture is one module here plus the ops it needs.
//!
//! | module | `model_type` (HF) | `general.architecture` (GGUF) |
//! | --- | --- | --- |
//! | [`gpt2`] | `gpt2` | `gpt2` |
//! | [`llama`] | `llama`, `mistral` (no sliding window), `qwen2` | `llama`, `qwen2` |
//! | [`gemma3`] | `gemma3_text` | `gemma3` |

pub mod gemma3;
pub mod gpt2;
pub mod llama;

use crate::config::{Config, Family};
use crate::error::{Error, Result};
use crate::gguf::{gguf_error, Gguf};
use crate::weights::{fuse_qkv, transpose, Blocks, Bytes, LayerWeights, Linear, Matrix, NormWeights, Progress, Weights};
use ndarray::{Array1, Array2};
use serde_json::Value;

/// The hyperparameters of a Hugging Face `config.json`, read by the module of its
/// `model_type` (absent: GPT-2, as the oldest checkpoints leave it out) and validated.
pub fn config_from_hf(bytes: &[u8]) -> Result<Config> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| Error::Config(format!("not valid JSON of a model config: {e}")))?;
    let cfg = match root.get("model_type").and_then(Value::as_str) {
        None | Some("gpt2") => gpt2::config_from_hf(&root)?,
        Some("llama" | "mistral") => llama::config_from_hf(&root, Family::Llama)?,
        Some("qwen2") => llama::config_from_hf(&root, Family::Qwen2)?,
        Some("gemma3_text") => gemma3::config_from_hf(&root)?,
        Some(t) => {
            return Err(Error::Config(match gemma3::other_gemma(t) {
                Some(why) => format!("model_type is \"{t}\": {why}"),
                None => format!(
                    "model_type is \"{t}\"; this engine runs GPT-2, the Llama family and Gemma 3 (model_type \"gpt2\", \"llama\", \"mistral\", \"qwen2\" or \"gemma3_text\")"
                ),
            }))
        }
    };
    cfg.validate()?;
    Ok(cfg)
}

/// `bos_token_id` and `eos_token_id` (a number or a list) of a `config.json`.
pub(crate) fn hf_special_ids(root: &Value) -> (Option<u32>, Vec<u32>) {
    let id = |v: &Value| v.as_u64().filter(|&x| x <= u32::MAX as u64).map(|x| x as u32);
    let bos = root.get("bos_token_id").and_then(id);
    let eos = match root.get("eos_token_id") {
        Some(Value::Array(a)) => a.iter().filter_map(id).collect(),
        Some(v) => id(v).into_iter().collect(),
        None => Vec::new(),
    };
    (bos, eos)
}

/// "missing \"name\"" for a required `config.json` count.
pub(crate) fn need(v: Option<usize>, name: &str) -> Result<usize> {
    v.ok_or_else(|| Error::Config(format!("missing \"{name}\" (a positive integer)")))
}

/// The architecture a GGUF file's `general.architecture` names.
pub fn family_of_gguf(g: &Gguf) -> Result<Family> {
    match g.get_str("general.architecture")? {
        "llama" => Ok(Family::Llama),
        "qwen2" => Ok(Family::Qwen2),
        "gpt2" => Ok(Family::Gpt2),
        "gemma3" => Ok(Family::Gemma3),
        other => Err(gguf_error(match gemma3::other_gemma(other) {
            Some(why) => format!("general.architecture is \"{other}\": {why}"),
            None => format!("general.architecture is \"{other}\"; this engine runs llama, qwen2, gpt2 and gemma3"),
        })),
    }
}

/// The hyperparameters of a GGUF file, from its `{arch}.*` and `tokenizer.ggml.*` keys,
/// validated with errors that name the file's own keys.
pub fn config_from_gguf(g: &Gguf) -> Result<Config> {
    let family = family_of_gguf(g)?;
    let keys = GgufKeys { g, arch: g.get_str("general.architecture")? };
    let common = keys.common()?;
    let cfg = match family {
        Family::Gpt2 => gpt2::config_from_gguf(&keys, common)?,
        Family::Llama | Family::Qwen2 => llama::config_from_gguf(&keys, common, family)?,
        Family::Gemma3 => gemma3::config_from_gguf(&keys, common)?,
    };
    let key_length = keys.opt_usize("attention.key_length")?;
    let explicit_vocab = keys.opt_usize("vocab_size")?;
    cfg.validate_named(|field| match field {
        "vocab_size" if explicit_vocab.is_none() => "the length of tokenizer.ggml.tokens".into(),
        "vocab_size" => keys.key("vocab_size"),
        "n_positions" => keys.key("context_length"),
        "n_embd" => keys.key("embedding_length"),
        "n_layer" => keys.key("block_count"),
        "n_head" => keys.key("attention.head_count"),
        "n_kv_head" => keys.key("attention.head_count_kv"),
        "head_dim" if key_length.is_none() => format!("head_dim ({} / {})", keys.key("embedding_length"), keys.key("attention.head_count")),
        "head_dim" => keys.key("attention.key_length"),
        "n_inner" => keys.key("feed_forward_length"),
        f => f.to_string(),
    })
    .map_err(|e| match e {
        Error::Config(m) => gguf_error(m),
        other => other,
    })?;
    // After validation, so that a zero head count is named as such rather than as 0-wide heads.
    if let Some(n) = keys.opt_usize("rope.dimension_count")?.filter(|_| cfg.rope_theta.is_some()) {
        if n != cfg.head_dim {
            return Err(gguf_error(format!(
                "{} is {n}, but heads are {} wide; rotating only part of each head is not supported",
                keys.key("rope.dimension_count"),
                cfg.head_dim
            )));
        }
    }
    Ok(cfg)
}

/// Typed access to a GGUF file's `{arch}.*` keys, for the architecture modules.
pub struct GgufKeys<'g> {
    pub g: &'g Gguf<'g>,
    pub arch: &'g str,
}

impl GgufKeys<'_> {
    /// `{arch}.{k}`.
    pub fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }
    pub fn usize(&self, k: &str) -> Result<usize> {
        self.g.get_usize(&self.key(k))
    }
    pub fn opt_usize(&self, k: &str) -> Result<Option<usize>> {
        self.g.opt_as::<usize>(&self.key(k))
    }
    pub fn f32(&self, k: &str) -> Result<f32> {
        self.g.get_f32(&self.key(k))
    }
    pub fn opt_f32(&self, k: &str) -> Result<Option<f32>> {
        self.g.opt_as::<f32>(&self.key(k))
    }
    pub fn opt_str(&self, k: &str) -> Result<Option<&str>> {
        self.g.opt_as::<&str>(&self.key(k))
    }
    /// The value of `{arch}.{k}`, of whatever type, if the file has the key.
    pub fn get(&self, k: &str) -> Option<&crate::gguf::Value> {
        self.g.get(&self.key(k))
    }
    pub fn has_tensor(&self, name: &str) -> bool {
        self.g.tensor(name).is_some()
    }

    /// The keys every architecture of llama.cpp's converter writes the same way.
    fn common(&self) -> Result<Common> {
        let n_embd = self.usize("embedding_length")?;
        let n_head = self.usize("attention.head_count")?;
        let vocab_size = match self.opt_usize("vocab_size")? {
            Some(v) => v,
            None => self.g.get_str_array("tokenizer.ggml.tokens")?.len(),
        };
        let mut eos_token_ids = Vec::new();
        for k in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let Some(id) = self.g.opt_as::<u32>(k)? {
                if !eos_token_ids.contains(&id) {
                    eos_token_ids.push(id);
                }
            }
        }
        Ok(Common {
            vocab_size,
            n_positions: self.usize("context_length")?,
            n_embd,
            n_layer: self.usize("block_count")?,
            n_head,
            n_kv_head: self.opt_usize("attention.head_count_kv")?.unwrap_or(n_head),
            // A head count of 0 leaves head_dim 0 here, for validate_named to refuse by its key.
            head_dim: self.opt_usize("attention.key_length")?.unwrap_or(n_embd.checked_div(n_head).unwrap_or(0)),
            n_inner: self.usize("feed_forward_length")?,
            bos_token_id: self.g.opt_as("tokenizer.ggml.bos_token_id")?,
            eos_token_ids,
        })
    }
}

/// The hyperparameters every GGUF architecture stores under the same keys.
pub struct Common {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub n_inner: usize,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

/// One tensor's names: in a Hugging Face `model.safetensors` (after the model's prefix) and
/// in a GGUF file, without the `.weight`/`.bias` suffix; `{i}` stands for the layer.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub hf: &'static str,
    pub gguf: &'static str,
}

/// How an architecture stores its attention's input projections.
#[derive(Debug, Clone, Copy)]
pub enum QkvNames {
    /// One fused q|k|v projection (GPT-2's `c_attn`).
    Fused(Names),
    /// Separate q, k and v projections (Llama), fused on load.
    Split([Names; 3]),
}

/// Every learned parameter of an architecture, by where it goes in [`Weights`].
#[derive(Debug, Clone, Copy)]
pub struct TensorNames {
    /// Hugging Face prefixes, tried in order (`transformer.` for GPT2LMHeadModel, none for
    /// GPT2Model; `model.` for LlamaForCausalLM). The unembedding never has one.
    pub hf_prefixes: [&'static str; 2],
    /// Hugging Face files store linear weights [in, out] (GPT-2's Conv1D) rather than
    /// nn.Linear's [out, in]; GGUF files always store [out, in].
    pub hf_conv1d: bool,
    /// llama.cpp's converter permuted the rows of q and k (for its interleaved RoPE); the
    /// loader undoes it.
    pub gguf_qk_permuted: bool,
    pub token_embedding: Names,
    pub position_embedding: Option<Names>,
    pub ln_1: Names,
    pub qkv: QkvNames,
    pub o: Names,
    pub ln_2: Names,
    pub up: Names,
    pub gate: Option<Names>,
    pub down: Names,
    pub ln_f: Names,
    pub unembedding: Names,
    /// Gemma 3's QK-norm gains [head_dim] (one for every query head, one for every key head).
    pub q_norm: Option<Names>,
    pub k_norm: Option<Names>,
    /// Gemma's norms on the attention's and the MLP's outputs, before the residual add.
    pub post_attn_norm: Option<Names>,
    pub post_mlp_norm: Option<Names>,
    /// Hugging Face checkpoints store Gemma's norm gains as w of a norm that scales by
    /// (1 + w); GGUF files store 1 + w (llama.cpp's converter adds the 1). The loader adds it
    /// to a Hugging Face file's, so that every norm here scales by its gain.
    pub hf_norm_plus_one: bool,
}

/// The tensor names of an architecture.
pub fn tensor_names(family: Family) -> TensorNames {
    match family {
        Family::Gpt2 => gpt2::TENSORS,
        Family::Llama => llama::TENSORS,
        Family::Qwen2 => llama::QWEN2_TENSORS,
        Family::Gemma3 => gemma3::TENSORS,
    }
}

/// A file's tensors, as the loaders of each format read them: by name, in PyTorch's order
/// and shape, checked against the shape the hyperparameters imply.
pub trait TensorSource {
    /// The file's name for `names`, with layer `i` filled in.
    fn name(&self, names: &Names, i: Option<usize>) -> String;
    /// The values of tensor `name`, row-major over `shape`.
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>>;
    /// Matrix `name` of `shape` [rows, cols] as the engine holds it: its blocks read in
    /// place when its type is held in blocks ([`crate::quant::BLOCKS`]), else f32.
    fn matrix(&self, name: &str, shape: [usize; 2]) -> Result<Matrix>;
    fn has(&self, name: &str) -> bool;
    /// The error for a tensor this format's file should have but lacks.
    fn missing(&self, name: &str, shape: &[usize]) -> Error;
}

/// `{i}` of a layer tensor's name, filled in.
pub fn at(name: &str, i: Option<usize>) -> String {
    match i {
        Some(i) => name.replace("{i}", &i.to_string()),
        None => name.to_string(),
    }
}

/// The file formats whose tensor names [`TensorNames`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    HuggingFace,
    Gguf,
}

/// Reads every learned parameter of a model of `cfg` from `src`, a file of `format`, onto
/// the engine's layout: linear weights as [in, out], q|k|v fused, norms with their biases
/// where the scheme has them.
pub fn load_weights(cfg: &Config, src: &dyn TensorSource, format: Format, progress: Progress) -> Result<Weights> {
    let names = tensor_names(cfg.model_type);
    let conv1d = names.hf_conv1d && format == Format::HuggingFace;
    let permuted = names.gguf_qk_permuted && format == Format::Gguf;
    let (d, f, v) = (cfg.n_embd, cfg.n_inner, cfg.vocab_size);
    let layer_norm = cfg.norm == crate::config::Norm::LayerNorm;
    let plus_one = names.hf_norm_plus_one && format == Format::HuggingFace;
    let vec = |n: &str, len: usize| -> Result<Array1<f32>> { Ok(Array1::from_vec(src.read(n, &[len])?)) };
    // A norm's gain, as the forward pass applies it (see `hf_norm_plus_one`).
    let gain = |nm: &Names, i: Option<usize>, len: usize| -> Result<Array1<f32>> {
        let g = vec(&format!("{}.weight", src.name(nm, i)), len)?;
        Ok(if plus_one { g + 1.0 } else { g })
    };
    let mat = |n: &str, rows: usize, cols: usize| -> Result<Matrix> { src.matrix(n, [rows, cols]) };
    let bias = |n: &str, len: usize, has: bool| -> Result<Option<Array1<f32>>> {
        if has {
            Ok(Some(vec(&format!("{n}.bias"), len)?))
        } else {
            Ok(None)
        }
    };
    // A linear layer as nn.Linear stores it, [out, in], with its bias.
    let rows = |nm: &Names, i: usize, out: usize, inp: usize, has_bias: bool, unpermute: Option<usize>| -> Result<(Matrix, Option<Array1<f32>>)> {
        let n = src.name(nm, Some(i));
        let mut w = if conv1d { transposed(mat(&format!("{n}.weight"), inp, out)?) } else { mat(&format!("{n}.weight"), out, inp)? };
        if let Some(heads) = unpermute {
            w = match w {
                Matrix::F32(a) => Matrix::F32(unpermute_rows(&a, heads)),
                Matrix::Blocks(mut parts) => {
                    parts.iter_mut().for_each(|p| p.permuted = Some(p.rows / heads));
                    Matrix::Blocks(parts)
                }
            };
        }
        Ok((w, bias(&n, out, has_bias)?))
    };
    let linear = |nm: &Names, i: usize, out: usize, inp: usize, has_bias: bool| -> Result<Linear> {
        let n = src.name(nm, Some(i));
        let w = match (conv1d, mat(&format!("{n}.weight"), if conv1d { inp } else { out }, if conv1d { out } else { inp })?) {
            (true, Matrix::F32(a)) => Matrix::F32(a),
            (true, blocks) => transposed(blocks),
            (false, Matrix::F32(a)) => Matrix::F32(transpose(a)),
            (false, blocks) => blocks,
        };
        Ok(Linear { w, b: bias(&n, out, has_bias)? })
    };
    let norm = |nm: &Names, i: Option<usize>| -> Result<NormWeights> { Ok(NormWeights { g: gain(nm, i, d)?, b: bias(&src.name(nm, i), d, layer_norm)? }) };
    let head_norm = |nm: &Option<Names>, i: usize| nm.as_ref().filter(|_| cfg.qk_norm).map(|nm| gain(nm, Some(i), cfg.head_dim)).transpose();
    let post_norm = |nm: &Option<Names>, i: usize| nm.as_ref().filter(|_| cfg.post_norms).map(|nm| norm(nm, Some(i))).transpose();
    let mut layers = Vec::with_capacity(cfg.n_layer);
    for i in 0..cfg.n_layer {
        // In the order of the block, so that a file cut short names its first missing tensor.
        let ln_1 = norm(&names.ln_1, Some(i))?;
        let qkv = match &names.qkv {
            QkvNames::Fused(nm) => linear(nm, i, cfg.qkv_width(), d, cfg.qkv_bias)?,
            QkvNames::Split([q, k, v]) => fuse_qkv([
                rows(q, i, cfg.q_width(), d, cfg.qkv_bias, permuted.then_some(cfg.n_head))?,
                rows(k, i, cfg.kv_width(), d, cfg.qkv_bias, permuted.then_some(cfg.n_kv_head))?,
                rows(v, i, cfg.kv_width(), d, cfg.qkv_bias, None)?,
            ]),
        };
        let (q_norm, k_norm) = (head_norm(&names.q_norm, i)?, head_norm(&names.k_norm, i)?);
        let o = linear(&names.o, i, d, cfg.q_width(), cfg.o_bias)?;
        let post_attn_norm = post_norm(&names.post_attn_norm, i)?;
        layers.push(LayerWeights {
            ln_1,
            qkv,
            q_norm,
            k_norm,
            o,
            post_attn_norm,
            ln_2: norm(&names.ln_2, Some(i))?,
            up: linear(&names.up, i, f, d, cfg.mlp_bias)?,
            gate: names.gate.as_ref().filter(|_| cfg.gated_mlp).map(|g| linear(g, i, f, d, cfg.mlp_bias)).transpose()?,
            down: linear(&names.down, i, d, f, cfg.mlp_bias)?,
            post_mlp_norm: post_norm(&names.post_mlp_norm, i)?,
        });
        progress(i + 1, cfg.n_layer);
    }
    let wpe = match (&names.position_embedding, cfg.rope_theta) {
        (Some(nm), None) => Some(mat(&format!("{}.weight", src.name(nm, None)), cfg.n_positions, d)?),
        _ => None,
    };
    let unembedding = format!("{}.weight", src.name(&names.unembedding, None));
    let lm_head = match (src.has(&unembedding), cfg.tie_word_embeddings) {
        (true, false) => Some(mat(&unembedding, v, d)?),
        // A tied checkpoint may still carry a copy of the table.
        (_, true) => None,
        (false, false) => return Err(src.missing(&unembedding, &[v, d])),
    };
    let wte = format!("{}.weight", src.name(&names.token_embedding, None));
    Ok(Weights { wte: mat(&wte, v, d)?, wpe, layers, ln_f: norm(&names.ln_f, None)?, lm_head })
}

/// Undoes llama.cpp's `permute` of f32 rows (blocks undo it as they are read:
/// [`crate::matrix::unpermute`]).
fn unpermute_rows(w: &Array2<f32>, heads: usize) -> Array2<f32> {
    let hd = w.nrows() / heads;
    let order: Vec<usize> = (0..w.nrows()).map(|r| crate::matrix::unpermute(r, hd)).collect();
    w.select(ndarray::Axis(0), &order)
}

/// A matrix stored [in, out] (GPT-2's Conv1D) as [out, in]: 16-bit values transposed into
/// bytes of their own, f32 transposed.
fn transposed(m: Matrix) -> Matrix {
    match m {
        Matrix::F32(a) => Matrix::F32(transpose(a)),
        Matrix::Blocks(parts) if parts.len() == 1 && parts[0].ty.block_size() == 1 && parts[0].ty.type_size() == 2 => {
            let p = &parts[0];
            let (rows, cols, data) = (p.rows, p.cols, p.data());
            let mut out = vec![0u8; data.len()];
            for r in 0..rows {
                for c in 0..cols {
                    out[2 * (c * rows + r)..][..2].copy_from_slice(&data[2 * (r * cols + c)..][..2]);
                }
            }
            let t = Blocks::new(p.ty, cols, rows, Bytes::owned(out)).expect("a transpose keeps the size");
            Matrix::Blocks(vec![t])
        }
        // Quantized blocks run along a row and cannot be transposed; no file stores them so.
        other => Matrix::F32(transpose(other.to_f32())),
    }
}
