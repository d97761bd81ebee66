//! A model: hyperparameters, learned parameters and tokenizer, loaded from the three files
//! of a Hugging Face GPT-2 folder.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;
use crate::trace::TokenInfo;
use crate::weights::Weights;

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

pub struct Model {
    pub config: Config,
    pub weights: Weights,
    pub tokenizer: Tokenizer,
}

impl Model {
    /// Builds a model from the contents of its three files (the browser hands us bytes).
    pub fn from_bytes(config: &[u8], weights: &[u8], tokenizer: &[u8]) -> Result<Model> {
        let config = Config::from_json(config)?;
        let tokenizer = Tokenizer::from_json(tokenizer)?;
        if tokenizer.vocab_len() > config.vocab_size {
            return Err(Error::Tokenizer(format!(
                "has token ids up to {}, but config.json says vocab_size is {}; the tokenizer does not belong to this model",
                tokenizer.vocab_len() - 1,
                config.vocab_size
            )));
        }
        let weights = Weights::from_safetensors(weights, &config)?;
        Ok(Model { config, weights, tokenizer })
    }

    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from a folder.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: &std::path::Path) -> Result<Model> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| Error::Io {
                file: path.display().to_string(),
                msg: match e.kind() {
                    std::io::ErrorKind::NotFound => format!(
                        "not found; a model folder holds {CONFIG_FILE}, {WEIGHTS_FILE} and {TOKENIZER_FILE}"
                    ),
                    _ => format!("cannot be read: {e}"),
                },
            })
        };
        Model::from_bytes(&read(CONFIG_FILE)?, &read(WEIGHTS_FILE)?, &read(TOKENIZER_FILE)?)
    }

    /// Tokenizes a prompt and checks that it can run: not empty, not longer than the context.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let ids = self.tokenizer.encode_ids(text);
        if ids.is_empty() {
            return Err(Error::Input("the prompt is empty; type at least one character".into()));
        }
        self.check_ids(&ids, 0)?;
        Ok(ids)
    }

    /// Checks token ids before a run that appends them to a context of `context_len` tokens.
    pub fn check_ids(&self, ids: &[u32], context_len: usize) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::Input("no tokens to run; give at least one token".into()));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.config.vocab_size) {
            return Err(Error::Input(format!(
                "token id {bad} is outside the vocabulary (ids 0..{} are valid)",
                self.config.vocab_size - 1
            )));
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
                let bytes = self.tokenizer.token_bytes(id).unwrap_or_default();
                let span = (bytes_before, bytes_before + bytes.len());
                bytes_before = span.1;
                TokenInfo { id, text: String::from_utf8_lossy(&bytes).into_owned(), bytes, span }
            })
            .collect()
    }
}
