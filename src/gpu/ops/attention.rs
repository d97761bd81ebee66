//! Causal attention over a layer's KV cache: scores with scale and mask, softmax,
//! probabilities · values. A composite of three kernels (attn_scores, softmax,
//! attn_values); the CPU reference is `cpu::ops::attention`.

use super::{attn_scores, attn_values, softmax, u};
use crate::gpu::recorder::Recorder;

/// The shapes of one layer's attention: `h` query heads over `kv` key/value heads of
/// width `hd`, `t` new tokens at positions start...
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub h: usize,
    pub kv: usize,
    pub hd: usize,
    pub t: usize,
    pub start: usize,
}

impl Shape {
    /// Keys each query may see at most: the whole context.
    pub fn tk(&self) -> usize {
        self.start + self.t
    }
}

/// The buffers of one layer's attention: queries [h, t, hd] and the key/value caches
/// [n_positions, kv·hd] in; scores and probabilities [h, t, tk] and the heads' outputs z
/// [t, h·hd] out.
pub(crate) struct Buffers<'b> {
    pub q: &'b wgpu::Buffer,
    pub k_cache: &'b wgpu::Buffer,
    pub v_cache: &'b wgpu::Buffer,
    pub scores: &'b wgpu::Buffer,
    pub probs: &'b wgpu::Buffer,
    pub z: &'b wgpu::Buffer,
}

pub(crate) fn run(r: &mut Recorder, s: Shape, b: Buffers) {
    let Buffers { q, k_cache: kc, v_cache: vc, scores, probs, z } = b;
    let (h, group, t, tk, hd, kvw, start) = (u(s.h), u(s.h / s.kv), u(s.t), u(s.tk()), u(s.hd), u(s.kv * s.hd), u(s.start));
    let scale = 1.0 / (s.hd as f32).sqrt();
    attn_scores::run(r, attn_scores::Params { h, group, t, tk, hd, kv_width: kvw, start, scale, neg_inf: f32::NEG_INFINITY }, q, kc, scores);
    softmax::run(r, softmax::Params { rows: h * t, n: tk, causal: 1, start, t }, scores, probs);
    attn_values::run(r, attn_values::Params { h, group, t, tk, hd, kv_width: kvw, start }, probs, vc, z);
}
