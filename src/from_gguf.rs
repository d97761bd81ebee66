//! A GGUF file (llama.cpp's format) mapped onto the engine's one description of a model:
//! hyperparameters and tensor names from the architecture's module (`arch/`), learned
//! parameters held in the file's own bytes where their type is one the kernels read
//! ([`crate::matrix`]) and dequantized to f32 otherwise, the tokenizer from
//! `tokenizer.ggml.*`.

use crate::arch::{self, at, TensorSource};
use crate::config::{Config, Footprint};
use crate::error::{Error, Result};
use crate::gguf::{gguf_error as err, Gguf};
use crate::tokenizer::{gguf_pre_patterns, Tokenizer, TokenizerSpec};
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
    by_type.sort_by(|a, b| b.1.cmp(&a.1));
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
    match g.get_str("tokenizer.ggml.model")? {
        "gpt2" => {}
        "llama" => return Err(err("tokenizer.ggml.model is \"llama\" (a SentencePiece vocabulary), which this engine does not implement; it runs byte-level BPE vocabularies (\"gpt2\")")),
        other => return Err(err(format!("tokenizer.ggml.model is \"{other}\"; this engine runs byte-level BPE vocabularies (\"gpt2\")"))),
    }
    let tokens = g.get_str_array("tokenizer.ggml.tokens")?.to_vec();
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
    // Control (3) and user-defined (4) tokens are matched verbatim in the text, as llama.cpp
    // and transformers do with special tokens.
    let added: Vec<(String, u32)> =
        types.iter().zip(&tokens).enumerate().filter(|(_, (t, s))| matches!(t, 3 | 4) && !s.is_empty()).map(|(i, (_, s))| (s.clone(), i as u32)).collect();
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
        .collect::<Result<_>>()?;
    let pre = g.opt_as::<&str>("tokenizer.ggml.pre")?.unwrap_or("default");
    let patterns = gguf_pre_patterns(pre).ok_or_else(|| {
        err(format!("tokenizer.ggml.pre is \"{pre}\", a pre-tokenizer this engine does not implement (it knows gpt-2, smollm, llama-bpe, qwen2)"))
    })?;
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
        chat_template: g.opt_as::<&str>("tokenizer.chat_template")?.map(String::from),
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
        Matrix::blocks(name, t.ty, rows, cols, Bytes::new(self.bytes.clone(), range), |m| err(m))
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
