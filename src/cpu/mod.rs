//! The CPU backend, in three parts as llm.c keeps them: [`ops`], one plain function per op,
//! the readable reference that the fast kernels and every GPU kernel are tested against;
//! [`fast`], the same ops shaped for speed (a blocked SGEMM, SIMD loops); and the forward
//! pass (`forward.rs`, [`CpuBackend`]) that runs a model through the fast ops and records
//! its activations.

pub mod fast;
mod forward;
pub mod ops;

pub use forward::CpuBackend;
