//! llm-xray: run a GPT-2- or Llama-family model and record every activation of the forward
//! pass.
//!
//! The pieces, in the order data flows: [`model::Model`] loads a Hugging Face folder or a
//! GGUF file onto one description of the architecture ([`config::Config`]);
//! [`tokenizer::Tokenizer`] cuts the prompt into tokens; a backend (the [`cpu`] reference,
//! or the [`gpu`]), chosen and watched by [`backend::Engine`], runs the transformer and
//! fills a [`trace::Trace`] whose parts are described once in [`trace::PARTS`];
//! [`sampling`] picks the next token; [`instruments`] and [`heads`] ask why;
//! [`contrast`] follows one word through two sentences and [`batched`] shows one head's
//! queries as one matrix product;
//! [`session::Session`] keeps a context's activations for the page.

pub mod ablation;
pub mod arch;
pub mod backend;
pub mod batched;
pub mod chat;
mod clock;
pub mod config;
pub mod contrast;
pub mod cpu;
pub mod error;
mod from_gguf;
pub mod gguf;
pub mod gpu;
pub mod heads;
mod hf;
pub mod instruments;
pub mod matrix;
pub mod model;
pub mod quant;
pub mod sampling;
pub mod session;
pub mod tokenizer;
pub mod trace;
pub mod train;
#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
mod wasm_train;
pub mod weights;

pub use ablation::Ablation;
pub use backend::{generate, Choice, Engine};
pub use config::Config;
pub use cpu::CpuBackend;
pub use error::{Error, Result};
pub use model::Model;
pub use sampling::Sampling;
pub use trace::{Part, Parts, Tensor, Trace};
