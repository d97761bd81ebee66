//! llm-xray: run a GPT-2-family model and record every activation of the forward pass.
//!
//! The pieces, in the order data flows: [`model::Model`] loads the three files of a Hugging
//! Face GPT-2 folder; [`tokenizer::Tokenizer`] cuts the prompt into tokens; a
//! [`backend::Backend`] (the [`cpu`] reference, or the GPU) runs the transformer and returns
//! a [`trace::Trace`]; [`sampling`] picks the next token.

pub mod backend;
mod clock;
pub mod config;
pub mod cpu;
pub mod error;
pub mod heads;
pub mod model;
pub mod sampling;
pub mod tokenizer;
pub mod trace;
pub mod weights;

pub use backend::{generate, Backend};
pub use config::Config;
pub use cpu::CpuBackend;
pub use error::{Error, Result};
pub use model::Model;
pub use sampling::Sampling;
pub use trace::{Part, Parts, Tensor, Trace};
pub mod gpu;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
