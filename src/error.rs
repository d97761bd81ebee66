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
    /// A GGUF file is malformed or describes a model this engine does not run. The message
    /// starts with "GGUF: " (or the file's name, when the loader knows it).
    Gguf(String),
    /// The prompt or token ids given by the user cannot be run.
    Input(String),
    /// A compute backend failed (e.g. no GPU adapter, lost device).
    Backend(String),
}

/// Who is at fault, for the page (which words an error panel) and the worker protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The prompt, ids or settings the user gave.
    Input,
    /// A model file (missing, malformed, unsupported).
    Model,
    /// The compute backend (no adapter, lost device).
    Backend,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input(_) => ErrorKind::Input,
            Error::Backend(_) => ErrorKind::Backend,
            Error::Io { .. } | Error::Config(_) | Error::Weights(_) | Error::Tokenizer(_) | Error::Gguf(_) => ErrorKind::Model,
        }
    }

    /// The message without the prefix Display adds for input errors ("input: "), for UIs
    /// that show the kind by other means.
    pub fn message(&self) -> String {
        match self {
            Error::Input(m) | Error::Backend(m) => m.clone(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { file, msg } => write!(f, "{file}: {msg}"),
            Error::Config(m) => write!(f, "config.json: {m}"),
            Error::Weights(m) => write!(f, "model.safetensors: {m}"),
            Error::Tokenizer(m) => write!(f, "tokenizer.json: {m}"),
            Error::Gguf(m) => write!(f, "{m}"),
            Error::Input(m) => write!(f, "input: {m}"),
            Error::Backend(m) => write!(f, "backend: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
