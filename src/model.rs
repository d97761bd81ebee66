//! A model: hyperparameters, learned parameters and tokenizer, from the three files of a
//! Hugging Face folder (GPT-2, Llama family or Gemma 3) or from one GGUF file.

use crate::arch;
use crate::config::Config;
pub use crate::config::Footprint;
use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;
use crate::trace::TokenInfo;
use crate::weights::Weights;
pub use crate::weights::{Progress, Storage};
use serde::Serialize;
use std::sync::Arc;

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// What a model will take once loaded, known before its weights are read.
impl Footprint {
    /// From `config.json`'s bytes, taking the weights to be f32.
    pub fn from_config_json(bytes: &[u8]) -> Result<Footprint> {
        Ok(Footprint::of_config(&arch::config_from_hf(bytes)?))
    }

    /// From `config.json`'s bytes and the size of `model.safetensors`, which says whether
    /// the weights are f32 (about 4 bytes a parameter) or 16-bit. f32 weights are converted
    /// into arrays of their own while the file is held; 16-bit ones are read in place from
    /// the file (GPT-2's, stored transposed, are copied once, transposed).
    pub fn from_config_json_sized(bytes: &[u8], weights_len: u64) -> Result<Footprint> {
        let cfg = arch::config_from_hf(bytes)?;
        let mut f = Footprint::of_config(&cfg);
        if weights_len < 3 * f.parameters {
            let conv1d = arch::tensor_names(cfg.model_type).hf_conv1d;
            f.held = "16-bit".into();
            f.held_bytes = if conv1d { 2 * weights_len } else { weights_len };
            f.load_bytes = f.held_bytes;
        } else {
            f.load_bytes = weights_len + f.held_bytes;
        }
        Ok(f)
    }

    /// From the first bytes of a GGUF file of `file_len` bytes (its metadata and tensor infos).
    pub fn from_gguf_header(prefix: &[u8], file_len: u64, file: &str) -> Result<Footprint> {
        crate::from_gguf::footprint(prefix, file_len).map_err(|e| name_gguf(e, file))
    }
}

/// A GGUF error naming the file at fault instead of the format.
fn name_gguf(e: Error, file: &str) -> Error {
    match e {
        Error::Gguf(m) => Error::Gguf(format!("{file}: {}", m.strip_prefix("GGUF: ").unwrap_or(&m))),
        other => other,
    }
}

pub struct Model {
    pub config: Config,
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    pub storage: Storage,
}

/// What a model is, for people: its hyperparameters, how its weights were stored and how
/// many learned parameters each component has (`llm-xray info`, the page's model panel).
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub config: &'a Config,
    /// Which layers attend within the sliding window and which globally, counted from 1
    /// (absent when every layer is global).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_pattern: Option<String>,
    pub storage: &'a Storage,
    pub parameters: Vec<crate::weights::ParamCount>,
    pub total_parameters: usize,
}

impl Model {
    pub fn summary(&self) -> Summary<'_> {
        let parameters = self.weights.param_counts(&self.config);
        let total_parameters = parameters.iter().map(|p| p.count).sum();
        Summary { config: &self.config, layer_pattern: self.config.layer_pattern(), storage: &self.storage, parameters, total_parameters }
    }

    /// Builds a model from the contents of a Hugging Face folder's three files (the browser
    /// hands us bytes).
    pub fn from_bytes(config: &[u8], weights: &[u8], tokenizer: &[u8]) -> Result<Model> {
        Self::from_bytes_with(config, weights, tokenizer, &mut |_, _| {})
    }

    /// As `from_bytes`, reporting progress as each layer's weights are read.
    pub fn from_bytes_with(config: &[u8], weights: &[u8], tokenizer: &[u8], progress: Progress) -> Result<Model> {
        Self::from_owned_with(config, weights.to_vec(), tokenizer, progress)
    }

    /// As `from_bytes_with`, keeping `weights` (16-bit matrices are read from it in place,
    /// rather than from a copy).
    pub fn from_owned_with(config: &[u8], weights: Vec<u8>, tokenizer: &[u8], progress: Progress) -> Result<Model> {
        let config = arch::config_from_hf(config)?;
        let tokenizer = Tokenizer::from_json(tokenizer)?;
        tokenizer.check_fits(&config, Error::Tokenizer)?;
        let (weights, storage) = crate::hf::load_weights(Arc::new(weights), &config, progress)?;
        Ok(Model { config, weights, tokenizer, storage })
    }

    /// Builds a model from a GGUF file's bytes; `file` names it in error messages.
    pub fn from_gguf(bytes: &[u8], file: &str) -> Result<Model> {
        Self::from_gguf_with(bytes, file, &mut |_, _| {})
    }

    /// As `from_gguf`, reporting progress as each layer is read.
    pub fn from_gguf_with(bytes: &[u8], file: &str, progress: Progress) -> Result<Model> {
        Self::from_gguf_owned(bytes.to_vec(), file, progress)
    }

    /// As `from_gguf_with`, keeping the file's bytes: the weights held in blocks are read
    /// from them in place, so the model takes about the file's size.
    pub fn from_gguf_owned(bytes: Vec<u8>, file: &str, progress: Progress) -> Result<Model> {
        let (config, weights, tokenizer, storage) = crate::from_gguf::load(Arc::new(bytes), progress).map_err(|e| name_gguf(e, file))?;
        Ok(Model { config, weights, tokenizer, storage })
    }

    /// Loads a model from a folder (`config.json`, `model.safetensors`, `tokenizer.json`) or
    /// a `.gguf` file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &std::path::Path) -> Result<Model> {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path).map_err(|e| Error::Io {
                file: path.display().to_string(),
                msg: match e.kind() {
                    std::io::ErrorKind::NotFound => format!("not found; {what}"),
                    _ => format!("cannot be read: {e}"),
                },
            })
        };
        if path.is_file() {
            return Model::from_gguf_owned(read(path, "")?, &path.display().to_string(), &mut |_, _| {});
        }
        let folder = format!("a model is a folder holding {CONFIG_FILE}, {WEIGHTS_FILE} and {TOKENIZER_FILE}, or a .gguf file");
        let file = |name: &str| read(&path.join(name), &folder);
        Model::from_owned_with(&file(CONFIG_FILE)?, file(WEIGHTS_FILE)?, &file(TOKENIZER_FILE)?, &mut |_, _| {})
    }

    /// Tokenizes a prompt (with the tokenizer's beginning-of-sequence token, if it adds
    /// one) and checks that it can run: not empty, not longer than the context.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        if text.is_empty() {
            return Err(Error::Input("the prompt is empty; type at least one character".into()));
        }
        let ids = self.tokenizer.encode_prompt(text);
        self.check_ids(&ids, 0)?;
        Ok(ids)
    }

    /// Checks token ids before a run that appends them to a context of `context_len` tokens.
    pub fn check_ids(&self, ids: &[u32], context_len: usize) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::Input("no tokens to run; give at least one token".into()));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.config.vocab_size) {
            return Err(Error::Input(format!("token id {bad} is outside the vocabulary (ids 0..{} are valid)", self.config.vocab_size - 1)));
        }
        let total = context_len + ids.len();
        if total > self.config.n_positions {
            return Err(Error::Input(format!(
                "{total} tokens do not fit: this model's context (n_positions) holds at most {} tokens{}",
                self.config.n_positions,
                if context_len > 0 { format!(", and {context_len} are already in it") } else { String::new() }
            )));
        }
        Ok(())
    }

    /// Token records for ids appended after `bytes_before` bytes of decoded context.
    pub fn token_infos(&self, ids: &[u32], mut bytes_before: usize) -> Vec<TokenInfo> {
        ids.iter()
            .map(|&id| {
                let bytes = self.tokenizer.token_bytes(id).unwrap_or_default().to_vec();
                let span = (bytes_before, bytes_before + bytes.len());
                bytes_before = span.1;
                TokenInfo { id, text: String::from_utf8_lossy(&bytes).into_owned(), bytes, span }
            })
            .collect()
    }
}
