//! One error type for the whole engine. Every message names the file, tensor or input at
//! fault and what was expected, because the CLI and the page show it to people as-is.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A model file could not be read (missing, unreadable).
    Io { file: String, msg: String },
    /// `config.json` is malformed or describes an inconsistent or unsupported model.
    Config(String),
    /// `model.safetensors` is malformed, or a tensor is missing or of the wrong shape/dtype.
    Weights(String),
    /// `tokenizer.json` is malformed or uses a feature this engine does not implement.
    Tokenizer(String),
    /// The prompt or token ids given by the user cannot be run.
    Input(String),
    /// A compute backend failed (e.g. no GPU adapter, lost device).
    Backend(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { file, msg } => write!(f, "{file}: {msg}"),
            Error::Config(m) => write!(f, "config.json: {m}"),
            Error::Weights(m) => write!(f, "model.safetensors: {m}"),
            Error::Tokenizer(m) => write!(f, "tokenizer.json: {m}"),
            Error::Input(m) => write!(f, "input: {m}"),
            Error::Backend(m) => write!(f, "backend: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
