//! A GGUF file (llama.cpp's format) mapped onto the engine's one description of a model:
//! hyperparameters from `{arch}.*` metadata, learned parameters dequantized to f32, the
//! tokenizer from `tokenizer.ggml.*`. Architectures `llama`, `qwen2` and `gpt2`.
//!
//! llama.cpp's converter permutes the rows of a Llama model's `attn_q` and `attn_k` so
//! its interleaved RoPE kernel can rotate adjacent pairs; this loader undoes that, so q and
//! k come out exactly as transformers computes them (rotate-half RoPE). Qwen2 and GPT-2
//! files are not permuted.

use crate::config::{Activation, Config, Family, Norm};
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorInfo};
use crate::model::{check_vocab, Footprint, Model, Progress, Storage};
use crate::tokenizer::{gguf_pre_patterns, Tokenizer, TokenizerSpec};
use crate::weights::{check_finite, fuse_qkv, transpose, LayerWeights, Linear, NormWeights, Weights};
use ndarray::{Array1, Array2, Axis};

fn err(msg: impl Into<String>) -> Error {
    Error::Gguf(format!("GGUF: {}", msg.into()))
}

/// Config errors, worded for a GGUF file rather than `config.json`.
fn as_gguf(e: Error) -> Error {
    match e {
        Error::Config(m) => err(m),
        other => other,
    }
}

fn family(g: &Gguf) -> Result<(String, Family)> {
    let arch = g.get_str("general.architecture")?.to_string();
    let family = match arch.as_str() {
        "llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        "gpt2" => Family::Gpt2,
        other => return Err(err(format!("general.architecture is \"{other}\"; this engine runs llama, qwen2 and gpt2"))),
    };
    Ok((arch, family))
}

/// The model's size from a GGUF file's first bytes: its hyperparameters must be ones this
/// engine runs, and its tensors' element counts give the f32 size.
pub fn footprint(prefix: &[u8], file_len: u64) -> Result<Footprint> {
    let g = Gguf::parse_header(prefix, file_len)?;
    let (arch, family) = family(&g)?;
    config(&g, &arch, family)?;
    let tables = ["token_embd.weight", "output.weight", "position_embd.weight"];
    let parameters: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
    let largest = g.tensors().iter().filter(|t| !tables.contains(&t.name.as_str())).map(|t| t.n_elements()).max().unwrap_or(0);
    Ok(Footprint { model_type: family, parameters, f32_bytes: 4 * parameters, largest_matrix_bytes: 4 * largest })
}

pub fn load(bytes: &[u8], progress: Progress) -> Result<Model> {
    let g = Gguf::parse(bytes)?;
    let (arch, family) = family(&g)?;
    let config = config(&g, &arch, family)?;
    let tokenizer = tokenizer(&g, config.bos_token_id)?;
    check_vocab(&tokenizer, &config, |m| err(format!("the tokenizer {m}")))?;
    let storage = Storage::new("gguf", g.tensors().iter().map(|t| t.ty.name().to_string()));
    let weights = weights(&g, &config, progress)?;
    Ok(Model { config, weights, tokenizer, storage })
}

fn config(g: &Gguf, arch: &str, family: Family) -> Result<Config> {
    let key = |k: &str| format!("{arch}.{k}");
    let usize_of = |k: &str| g.get_usize(&key(k));
    let opt_usize = |k: &str| g.opt_as::<usize>(&key(k));
    let n_embd = usize_of("embedding_length")?;
    let n_head = usize_of("attention.head_count")?;
    let n_kv_head = opt_usize("attention.head_count_kv")?.unwrap_or(n_head);
    let key_length = opt_usize("attention.key_length")?;
    // A head count of 0 leaves head_dim 0 here, for validate_named to refuse by its key.
    let head_dim = key_length.unwrap_or(n_embd.checked_div(n_head).unwrap_or(0));
    let explicit_vocab = opt_usize("vocab_size")?;
    let vocab_size = match explicit_vocab {
        Some(v) => v,
        None => g.get_str_array("tokenizer.ggml.tokens")?.len(),
    };
    let gpt2 = family == Family::Gpt2;
    let rope_theta = if gpt2 {
        None
    } else {
        if let Some(kind) = g.opt_as::<&str>(&key("rope.scaling.type"))? {
            if kind != "none" {
                return Err(err(format!("{} is \"{kind}\"; this engine implements the default RoPE (no scaling)", key("rope.scaling.type"))));
            }
        }
        Some(g.opt_as::<f32>(&key("rope.freq_base"))?.unwrap_or(10000.0))
    };
    let eps = if gpt2 { g.get_f32(&key("attention.layer_norm_epsilon"))? } else { g.get_f32(&key("attention.layer_norm_rms_epsilon"))? };
    let qkv_bias = match family {
        Family::Gpt2 => true,
        _ => g.tensor("blk.0.attn_q.bias").is_some(),
    };
    let mut eos_token_ids = Vec::new();
    for k in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
        if let Some(id) = g.opt_as::<u32>(k)? {
            if !eos_token_ids.contains(&id) {
                eos_token_ids.push(id);
            }
        }
    }
    let cfg = Config {
        model_type: family,
        vocab_size,
        n_positions: usize_of("context_length")?,
        n_embd,
        n_layer: usize_of("block_count")?,
        n_head,
        n_kv_head,
        head_dim,
        n_inner: usize_of("feed_forward_length")?,
        norm: if gpt2 { Norm::LayerNorm } else { Norm::RmsNorm },
        layer_norm_epsilon: eps,
        activation: if gpt2 { Activation::GeluNew } else { Activation::Silu },
        gated_mlp: !gpt2,
        rope_theta,
        qkv_bias,
        o_bias: gpt2 || g.tensor("blk.0.attn_output.bias").is_some(),
        mlp_bias: gpt2 || g.tensor("blk.0.ffn_up.bias").is_some(),
        tie_word_embeddings: g.tensor("output.weight").is_none(),
        bos_token_id: g.opt_as("tokenizer.ggml.bos_token_id")?,
        eos_token_ids,
    };
    cfg.validate_named(|field| match field {
        "vocab_size" if explicit_vocab.is_none() => "the length of tokenizer.ggml.tokens".into(),
        "vocab_size" => key("vocab_size"),
        "n_positions" => key("context_length"),
        "n_embd" => key("embedding_length"),
        "n_layer" => key("block_count"),
        "n_head" => key("attention.head_count"),
        "n_kv_head" => key("attention.head_count_kv"),
        "head_dim" if key_length.is_none() => format!("head_dim ({} / {})", key("embedding_length"), key("attention.head_count")),
        "head_dim" => key("attention.key_length"),
        "n_inner" => key("feed_forward_length"),
        f => f.to_string(),
    })
    .map_err(as_gguf)?;
    // After validation, so that a zero head count is named as such rather than as 0-wide heads.
    if let Some(n) = opt_usize("rope.dimension_count")?.filter(|_| !gpt2) {
        if n != head_dim {
            return Err(err(format!(
                "{} is {n}, but heads are {head_dim} wide; rotating only part of each head is not supported",
                key("rope.dimension_count")
            )));
        }
    }
    Ok(cfg)
}

/// The tokenizer of `tokenizer.ggml.*`; `bos` is the file's BOS token, which the config
/// already read.
fn tokenizer(g: &Gguf, bos: Option<u32>) -> Result<Tokenizer> {
    match g.get_str("tokenizer.ggml.model")? {
        "gpt2" => {}
        "llama" => return Err(err("tokenizer.ggml.model is \"llama\" (a SentencePiece vocabulary), which this engine does not implement; it runs byte-level BPE vocabularies (\"gpt2\")")),
        other => return Err(err(format!("tokenizer.ggml.model is \"{other}\"; this engine runs byte-level BPE vocabularies (\"gpt2\")"))),
    }
    let tokens = g.get_str_array("tokenizer.ggml.tokens")?.to_vec();
    let types: Vec<i64> = match g.opt_as::<Vec<i64>>("tokenizer.ggml.token_type")? {
        None => Vec::new(),
        Some(types) if types.len() == tokens.len() => types,
        Some(types) => return Err(err(format!(
            "tokenizer.ggml.token_type has {} entries, but tokenizer.ggml.tokens has {} tokens; expected one type per token",
            types.len(),
            tokens.len()
        ))),
    };
    // Control (3) and user-defined (4) tokens are matched verbatim in the text, as llama.cpp
    // and transformers do with special tokens.
    let added: Vec<(String, u32)> = types
        .iter()
        .zip(&tokens)
        .enumerate()
        .filter(|(_, (t, s))| matches!(t, 3 | 4) && !s.is_empty())
        .map(|(i, (_, s))| (s.clone(), i as u32))
        .collect();
    let merges = g
        .opt_as::<&[String]>("tokenizer.ggml.merges")?
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(rank, m)| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| err(format!("merge #{rank} {m:?} is not two tokens separated by a space"))))
        .collect::<Result<_>>()?;
    let pre = g.opt_as::<&str>("tokenizer.ggml.pre")?.unwrap_or("default");
    let patterns = gguf_pre_patterns(pre)
        .ok_or_else(|| err(format!("tokenizer.ggml.pre is \"{pre}\", a pre-tokenizer this engine does not implement (it knows gpt-2, smollm, llama-bpe, qwen2)")))?;
    let prefix = match (g.opt_as::<bool>("tokenizer.ggml.add_bos_token")?.unwrap_or(false), bos) {
        (true, Some(b)) => vec![b],
        (true, None) => return Err(err("tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is missing")),
        _ => Vec::new(),
    };
    Tokenizer::new(TokenizerSpec {
        tokens,
        merges,
        added,
        patterns: patterns.into_iter().map(String::from).collect(),
        add_prefix_space: g.opt_as::<bool>("tokenizer.ggml.add_space_prefix")?.unwrap_or(false),
        ignore_merges: false,
        nfc: false,
        prefix,
        suffix: Vec::new(),
        error: |m| Error::Gguf(format!("GGUF: the tokenizer: {m}")),
    })
}

/// Reads tensors by name, checking their shapes against the configuration.
struct Tensors<'g, 'a> {
    g: &'g Gguf<'a>,
}

impl Tensors<'_, '_> {
    fn info(&self, name: &str, shape: &[usize]) -> Result<&TensorInfo> {
        let t = self.g.tensor(name).ok_or_else(|| err(format!("tensor \"{name}\" is missing; expected shape {shape:?}")))?;
        if t.shape() != shape {
            return Err(err(format!("tensor \"{name}\" has shape {:?}; expected {shape:?} from the file's hyperparameters", t.shape())));
        }
        Ok(t)
    }

    /// The tensor's values in PyTorch order, row-major over `shape`.
    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self.info(name, shape)?;
        let v = self.g.dequantize(t)?;
        check_finite(name, &v, err)?;
        Ok(v)
    }

    fn vec(&self, name: &str, n: usize) -> Result<Array1<f32>> {
        Ok(Array1::from_vec(self.values(name, &[n])?))
    }

    fn mat(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>> {
        Ok(Array2::from_shape_vec((rows, cols), self.values(name, &[rows, cols])?).expect("shape checked"))
    }

    /// A linear layer's weight as the file stores it, [out, in] (as nn.Linear), with its
    /// bias if the file has one. `unpermute` undoes llama.cpp's Q/K row order for `heads`.
    fn rows(&self, name: &str, out: usize, inp: usize, bias: bool, unpermute: Option<usize>) -> Result<(Array2<f32>, Option<Array1<f32>>)> {
        let mut w = self.mat(&format!("{name}.weight"), out, inp)?;
        if let Some(heads) = unpermute {
            w = unpermute_rows(&w, heads);
        }
        let b = if bias { Some(self.vec(&format!("{name}.bias"), out)?) } else { None };
        Ok((w, b))
    }

    /// A linear layer, transposed to [in, out].
    fn linear(&self, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let (w, b) = self.rows(name, out, inp, bias, None)?;
        Ok(Linear { w: transpose(w), b })
    }

    fn norm(&self, name: &str, d: usize, bias: bool) -> Result<NormWeights> {
        let b = if bias { Some(self.vec(&format!("{name}.bias"), d)?) } else { None };
        Ok(NormWeights { g: self.vec(&format!("{name}.weight"), d)?, b })
    }
}

/// Undoes llama.cpp's `permute`: within each head, row 2i + j of the file is row
/// j·hd/2 + i of the model (j ∈ {0, 1}).
fn unpermute_rows(w: &Array2<f32>, heads: usize) -> Array2<f32> {
    let hd = w.nrows() / heads;
    let half = hd / 2;
    let order: Vec<usize> = (0..w.nrows())
        .map(|r| {
            let (h, k) = (r / hd, r % hd);
            h * hd + 2 * (k % half) + k / half
        })
        .collect();
    w.select(Axis(0), &order)
}

fn weights(g: &Gguf, cfg: &Config, progress: Progress) -> Result<Weights> {
    let t = Tensors { g };
    let (d, f, v) = (cfg.n_embd, cfg.n_inner, cfg.vocab_size);
    let gpt2 = cfg.model_type == Family::Gpt2;
    let permute = cfg.model_type == Family::Llama;
    let mut layers = Vec::with_capacity(cfg.n_layer);
    for i in 0..cfg.n_layer {
        let n = |s: &str| format!("blk.{i}.{s}");
        let qkv = if gpt2 {
            t.linear(&n("attn_qkv"), cfg.qkv_width(), d, true)?
        } else {
            fuse_qkv([
                t.rows(&n("attn_q"), cfg.q_width(), d, cfg.qkv_bias, permute.then_some(cfg.n_head))?,
                t.rows(&n("attn_k"), cfg.kv_width(), d, cfg.qkv_bias, permute.then_some(cfg.n_kv_head))?,
                t.rows(&n("attn_v"), cfg.kv_width(), d, cfg.qkv_bias, None)?,
            ])
        };
        layers.push(LayerWeights {
            ln_1: t.norm(&n("attn_norm"), d, gpt2)?,
            qkv,
            o: t.linear(&n("attn_output"), d, cfg.q_width(), cfg.o_bias)?,
            ln_2: t.norm(&n("ffn_norm"), d, gpt2)?,
            up: t.linear(&n("ffn_up"), f, d, cfg.mlp_bias)?,
            gate: if gpt2 { None } else { Some(t.linear(&n("ffn_gate"), f, d, cfg.mlp_bias)?) },
            down: t.linear(&n("ffn_down"), d, f, cfg.mlp_bias)?,
        });
        progress(i + 1, cfg.n_layer);
    }
    Ok(Weights {
        wte: t.mat("token_embd.weight", v, d)?,
        wpe: if gpt2 { Some(t.mat("position_embd.weight", cfg.n_positions, d)?) } else { None },
        layers,
        ln_f: t.norm("output_norm", d, gpt2)?,
        lm_head: if cfg.tie_word_embeddings { None } else { Some(t.mat("output.weight", v, d)?) },
    })
}
