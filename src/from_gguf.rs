//! A GGUF file (llama.cpp's format) mapped onto the engine's one description of a model:
//! hyperparameters and tensor names from the architecture's module (`arch/`), learned
//! parameters dequantized to f32, the tokenizer from `tokenizer.ggml.*`.

use crate::arch::{self, at, TensorSource};
use crate::config::{Config, Footprint};
use crate::error::{Error, Result};
use crate::gguf::{gguf_error as err, Gguf};
use crate::tokenizer::{gguf_pre_patterns, Tokenizer, TokenizerSpec};
use crate::weights::{check_finite, Progress, Storage, Weights};

/// The model's size from a GGUF file's first bytes: its hyperparameters must be ones this
/// engine runs, and its tensors' element counts give the f32 size.
pub fn footprint(prefix: &[u8], file_len: u64) -> Result<Footprint> {
    let g = Gguf::parse_header(prefix, file_len)?;
    let cfg = arch::config_from_gguf(&g)?;
    let names = arch::tensor_names(cfg.model_type);
    let tables: Vec<String> =
        [Some(names.token_embedding), Some(names.unembedding), names.position_embedding].into_iter().flatten().map(|n| format!("{}.weight", n.gguf)).collect();
    let parameters: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
    let largest = g.tensors().iter().filter(|t| !tables.contains(&t.name)).map(|t| t.n_elements()).max().unwrap_or(0);
    Ok(Footprint { model_type: cfg.model_type, parameters, f32_bytes: 4 * parameters, largest_matrix_bytes: 4 * largest })
}

/// Everything a model is, from one GGUF file's bytes.
pub fn load(bytes: &[u8], progress: Progress) -> Result<(Config, Weights, Tokenizer, Storage)> {
    let g = Gguf::parse(bytes)?;
    let config = arch::config_from_gguf(&g)?;
    let tokenizer = tokenizer(&g, config.bos_token_id)?;
    tokenizer.check_fits(&config, |m| err(format!("the tokenizer {m}")))?;
    let storage = Storage::new("gguf", g.tensors().iter().map(|t| t.ty.name().to_string()));
    let weights = arch::load_weights(&config, &File { g: &g }, arch::Format::Gguf, progress)?;
    Ok((config, weights, tokenizer, storage))
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

/// The file's tensors by their GGUF names.
struct File<'g, 'a> {
    g: &'g Gguf<'a>,
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
        let t = self.g.tensor(name).ok_or_else(|| self.missing(name, shape))?;
        if t.shape() != shape {
            return Err(err(format!("tensor \"{name}\" has shape {:?}; expected {shape:?} from the file's hyperparameters", t.shape())));
        }
        let v = self.g.dequantize(t)?;
        check_finite(name, &v, err)?;
        Ok(v)
    }
}
