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
mod residual;
mod rope;
mod softmax;

pub use activation::{activate, activate_backward, gelu_new, gelu_new_backward, silu, silu_backward};
pub use attention::{attention, attention_backward, attention_with, seen_keys, AttentionGrads, AttentionOut, Scheme};
pub use embedding::{embedding, embedding_backward, split_heads, unembed, unembed_backward};
pub use linear::{linear, linear_backward, matmul, LinearGrads};
pub use norm::{layer_norm, layer_norm_backward, norm, rms_norm, rms_norm_heads, rms_scale};
pub use residual::{residual_add, residual_add_backward};
pub use rope::{rope, rope_angles};
pub use softmax::{cross_entropy, cross_entropy_backward, softmax, softmax_backward};
