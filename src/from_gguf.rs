//! A GGUF file (llama.cpp's format) mapped onto the engine's one description of a model:
//! hyperparameters and tensor names from the architecture's module (`arch/`), learned
//! parameters held in the file's own bytes where their type is one the kernels read
//! ([`crate::matrix`]) and dequantized to f32 otherwise, the tokenizer from
//! `tokenizer.ggml.*`.

use crate::arch::{self, at, TensorSource};
use crate::config::{Config, Footprint};
use crate::error::{Error, Result};
use crate::gguf::{gguf_error as err, Gguf};
use crate::tokenizer::{gguf_pre_patterns, Prefix, SpmSpec, Tokenizer, TokenizerSpec};
use crate::weights::{check_finite, Bytes, Matrix, Progress, Storage, Weights};
use ndarray::Array2;
use std::sync::Arc;

/// The model's size from a GGUF file's first bytes: its hyperparameters must be ones this
/// engine runs, its tensors of types it reads; their types and element counts give what
/// the weights will take. The file's bytes stay in memory (the tensors held in blocks are
/// read from them in place); the others are converted to f32 beside them.
pub fn footprint(prefix: &[u8], file_len: u64) -> Result<Footprint> {
    let g = Gguf::parse_header(prefix, file_len)?;
    check_types(&g)?;
    let cfg = arch::config_from_gguf(&g)?;
    let names = arch::tensor_names(cfg.model_type);
    let tables: Vec<String> =
        [Some(names.token_embedding), Some(names.unembedding), names.position_embedding].into_iter().flatten().map(|n| format!("{}.weight", n.gguf)).collect();
    let parameters: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
    let largest = g.tensors().iter().filter(|t| !tables.contains(&t.name)).map(|t| t.n_elements()).max().unwrap_or(0);
    // Matrices of other types, norms and biases, as f32 (a q, k and v of mixed kinds are
    // all converted: counted as f32 whatever they are).
    let converted: u64 = g.tensors().iter().filter(|t| !t.ty.held_as_blocks() || t.dims.len() < 2).map(|t| 4 * t.n_elements()).sum();
    let mut by_type: Vec<(crate::quant::GgmlType, u64)> = Vec::new();
    for t in g.tensors().iter().filter(|t| t.ty.held_as_blocks() && t.dims.len() == 2) {
        let bytes = t.ty.bytes_for(t.n_elements()).unwrap_or(0);
        match by_type.iter_mut().find(|(ty, _)| *ty == t.ty) {
            Some(e) => e.1 += bytes,
            None => by_type.push((t.ty, bytes)),
        }
    }
    by_type.sort_by_key(|b| std::cmp::Reverse(b.1));
    let held = match by_type.first() {
        Some((ty, _)) if ty.block_size() > 1 => format!("{ty} blocks"),
        Some(_) => "16-bit".to_string(),
        None => "f32".to_string(),
    };
    let held_bytes = file_len + converted;
    Ok(Footprint {
        model_type: cfg.model_type,
        parameters,
        f32_bytes: 4 * parameters,
        held,
        held_bytes,
        load_bytes: held_bytes,
        largest_matrix_bytes: 4 * largest,
    })
}

/// Everything a model is, from one GGUF file's bytes, which its weights go on reading.
pub fn load(bytes: Arc<Vec<u8>>, progress: Progress) -> Result<(Config, Weights, Tokenizer, Storage)> {
    let g = Gguf::parse(&bytes)?;
    check_types(&g)?;
    let config = arch::config_from_gguf(&g)?;
    let tokenizer = tokenizer(&g, config.bos_token_id)?;
    tokenizer.check_fits(&config, |m| err(format!("the tokenizer {m}")))?;
    let storage = Storage::new("gguf", g.tensors().iter().map(|t| t.ty.name().to_string()));
    let weights = arch::load_weights(&config, &File { g: &g, bytes: &bytes }, arch::Format::Gguf, progress)?;
    let storage = storage.holding(&weights);
    Ok((config, weights, tokenizer, storage))
}

/// Refuses, before anything is allocated for the weights, a file holding a tensor of a
/// type this engine cannot read, naming the first such tensor.
fn check_types(g: &Gguf) -> Result<()> {
    match g.tensors().iter().find(|t| !t.ty.can_dequantize()) {
        Some(t) => Err(err(format!(
            "tensor \"{}\" has ggml type {} ({}), which this engine does not read; it reads {}",
            t.name,
            t.ty.id(),
            t.ty.name(),
            crate::quant::supported_list()
        ))),
        None => Ok(()),
    }
}

/// The tokenizer of `tokenizer.ggml.*`; `bos` is the file's BOS token, which the config
/// already read.
fn tokenizer(g: &Gguf, bos: Option<u32>) -> Result<Tokenizer> {
    let sentencepiece = match g.get_str("tokenizer.ggml.model")? {
        "gpt2" => false,
        "llama" => true,
        other => {
            return Err(err(format!(
                "tokenizer.ggml.model is \"{other}\"; this engine runs byte-level BPE (\"gpt2\") and SentencePiece BPE (\"llama\") vocabularies"
            )))
        }
    };
    let mut tokens = g.get_str_array("tokenizer.ggml.tokens")?.to_vec();
    let types: Vec<i64> = match g.opt_as::<Vec<i64>>("tokenizer.ggml.token_type")? {
        None => Vec::new(),
        Some(types) if types.len() == tokens.len() => types,
        Some(types) => {
            return Err(err(format!(
                "tokenizer.ggml.token_type has {} entries, but tokenizer.ggml.tokens has {} tokens; expected one type per token",
                types.len(),
                tokens.len()
            )))
        }
    };
    let gemma = g.get_str("general.architecture")?.starts_with("gemma");
    if sentencepiece && gemma {
        // Gemma's files store its pieces of two or more spaces as spaces, not as ▁: spelled
        // as the vocabulary's other pieces, they merge from ▁ as transformers merges them.
        for t in tokens.iter_mut().filter(|t| t.contains(' ') && t.trim().is_empty()) {
            *t = "▁".repeat(t.chars().count());
        }
    }
    let original = g.get_str_array("tokenizer.ggml.tokens")?;
    // Control (3) tokens are matched verbatim in the text, as llama.cpp and transformers do
    // with special tokens; user-defined (4) ones too, except a respelled piece of spaces,
    // which transformers leaves to the merges.
    let added: Vec<(String, u32)> = types
        .iter()
        .zip(tokens.iter().zip(original))
        .enumerate()
        .filter(|(_, (t, (s, o)))| (**t == 3 || (**t == 4 && s == o)) && !s.is_empty())
        .map(|(i, (_, (s, _)))| (s.clone(), i as u32))
        .collect();
    let merges = g
        .opt_as::<&[String]>("tokenizer.ggml.merges")?
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(rank, m)| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| err(format!("merge #{rank} {m:?} is not two tokens separated by a space")))
        })
        .collect::<Result<Vec<_>>>()?;
    let patterns = if sentencepiece {
        Vec::new()
    } else {
        let pre = g.opt_as::<&str>("tokenizer.ggml.pre")?.unwrap_or("default");
        gguf_pre_patterns(pre)
            .ok_or_else(|| {
                err(format!("tokenizer.ggml.pre is \"{pre}\", a pre-tokenizer this engine does not implement (it knows gpt-2, smollm, llama-bpe, qwen2)"))
            })?
            .into_iter()
            .map(String::from)
            .collect()
    };
    let spm = if sentencepiece {
        let scores = if !merges.is_empty() {
            None
        } else if gemma {
            // transformers ranks Gemma's merges by the pieces' order in the file, not by their
            // scores (the same order for Gemma 3's file, where scores fall with the index).
            Some((0..tokens.len()).map(|i| -(i as f32)).collect())
        } else {
            match g.opt_as::<Vec<f32>>("tokenizer.ggml.scores")? {
                Some(s) => Some(s),
                None => return Err(err("tokenizer.ggml.scores is missing; a SentencePiece vocabulary without merges needs its piece scores")),
            }
        };
        // llama.cpp adds a leading space to SentencePiece text unless the file says not to.
        let prefix = if g.opt_as::<bool>("tokenizer.ggml.add_space_prefix")?.unwrap_or(!gemma) { Prefix::First } else { Prefix::Never };
        Some(SpmSpec { prefix, split: false, scores, unk: g.opt_as("tokenizer.ggml.unknown_token_id")? })
    } else {
        None
    };
    // SentencePiece vocabularies get a BOS unless the file says otherwise (llama.cpp and
    // transformers both default so).
    let add = |key: &str, id: Option<u32>, default: bool| -> Result<Vec<u32>> {
        match (g.opt_as::<bool>(key)?.unwrap_or(default), id) {
            (true, Some(b)) => Ok(vec![b]),
            (true, None) => Err(err(format!("{key} is true but the token's id is missing"))),
            _ => Ok(Vec::new()),
        }
    };
    let prefix = add("tokenizer.ggml.add_bos_token", bos, sentencepiece)?;
    let suffix = add("tokenizer.ggml.add_eos_token", g.opt_as("tokenizer.ggml.eos_token_id")?, false)?;
    Tokenizer::new(TokenizerSpec {
        tokens,
        merges,
        added,
        patterns,
        add_prefix_space: !sentencepiece && g.opt_as::<bool>("tokenizer.ggml.add_space_prefix")?.unwrap_or(false),
        ignore_merges: false,
        nfc: false,
        prefix,
        suffix,
        chat_template: g.opt_as::<&str>("tokenizer.chat_template")?.map(String::from),
        sentencepiece: spm,
        error: |m| Error::Gguf(format!("GGUF: the tokenizer: {m}")),
    })
}

/// The file's tensors by their GGUF names, and the bytes they were parsed from.
struct File<'g, 'a> {
    g: &'g Gguf<'a>,
    bytes: &'g Arc<Vec<u8>>,
}

impl TensorSource for File<'_, '_> {
    fn name(&self, names: &arch::Names, i: Option<usize>) -> String {
        at(names.gguf, i)
    }

    fn has(&self, name: &str) -> bool {
        self.g.tensor(name).is_some()
    }

    fn missing(&self, name: &str, shape: &[usize]) -> Error {
        err(format!("tensor \"{name}\" is missing; expected shape {shape:?}"))
    }

    /// The tensor's values in PyTorch order, row-major over `shape`.
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let v = self.g.dequantize(self.find(name, shape)?)?;
        check_finite(name, &v, err)?;
        Ok(v)
    }

    fn matrix(&self, name: &str, [rows, cols]: [usize; 2]) -> Result<Matrix> {
        let t = self.find(name, &[rows, cols])?;
        if !t.ty.held_as_blocks() {
            let v = self.read(name, &[rows, cols])?;
            return Ok(Matrix::F32(Array2::from_shape_vec((rows, cols), v).expect("length checked against shape")));
        }
        let range = self.g.raw_range(t)?;
        Matrix::blocks(name, t.ty, rows, cols, Bytes::new(self.bytes.clone(), range), err)
    }
}

impl File<'_, '_> {
    /// Tensor `name`, checked to have `shape`.
    fn find(&self, name: &str, shape: &[usize]) -> Result<&crate::gguf::TensorInfo> {
        let t = self.g.tensor(name).ok_or_else(|| self.missing(name, shape))?;
        if t.shape() != shape {
            return Err(err(format!("tensor \"{name}\" has shape {:?}; expected {shape:?} from the file's hyperparameters", t.shape())));
        }
        Ok(t)
    }
}
