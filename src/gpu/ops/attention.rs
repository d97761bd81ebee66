//! Causal attention over a layer's KV cache, optionally within a sliding window: scores
//! with scale and mask, softmax, probabilities · values. A composite of three kernels
//! (attn_scores, softmax, attn_values); the CPU reference is `cpu::ops::attention_with`.

use super::{attn_scores, attn_values, softmax, u};
use crate::gpu::recorder::Recorder;

/// The shapes of one layer's attention: `h` query heads over `kv` key/value heads of
/// width `hd`, `t` new tokens at positions start..; and its scheme: what q·k is multiplied
/// by, and the sliding window (the token at position s sees keys s − w < j ≤ s; None: every
/// j ≤ s), as `Config::attention_scale` and `Config::layer_window` give them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub h: usize,
    pub kv: usize,
    pub hd: usize,
    pub t: usize,
    pub start: usize,
    pub scale: f32,
    pub window: Option<usize>,
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
    // 0 is "no window" to the kernels; a window of 0 tokens is refused by `Config::validate`.
    let (scale, window) = (s.scale, u(s.window.unwrap_or(0)));
    attn_scores::run(r, attn_scores::Params { h, group, t, tk, hd, kv_width: kvw, start, scale, neg_inf: f32::NEG_INFINITY, window }, q, kc, scores);
    softmax::run(r, softmax::Params { rows: h * t, n: tk, causal: 1, start, t, window }, scores, probs);
    attn_values::run(r, attn_values::Params { h, group, t, tk, hd, kv_width: kvw, start, window }, probs, vc, z);
}
