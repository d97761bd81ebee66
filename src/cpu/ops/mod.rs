//! The reference ops: one plain function per op of the transformer, written for reading
//! rather than speed (loops over indices, sums in order, libm's `exp` and `tanh`), one file
//! per kind of op. The fast CPU kernels (`fast/`) and every GPU kernel are tested against
//! these; the forward pass built from the fast kernels is held to Hugging Face `transformers`.
//! A training pass's backward functions sit beside the forwards they differentiate.

mod activation;
mod attention;
mod embedding;
mod linear;
mod norm;
mod rope;
mod softmax;

pub use activation::{activate, gelu_new, silu};
pub use attention::{attention, attention_with, seen_keys, AttentionOut, Scheme};
pub use embedding::{embedding, split_heads, unembed};
pub use linear::{linear, matmul};
pub use norm::{layer_norm, norm, rms_norm, rms_norm_heads, rms_scale};
pub use rope::{rope, rope_angles};
pub use softmax::softmax;
