//! Attention scores with scale and causal mask (attn_scores.wgsl).

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// `h` query heads, `group` of them per key/value head; `t` queries at positions
    /// start.. over `tk` keys; rows of the key cache are `kv_width` wide; neg_inf is −∞
    /// (WGSL has no literal for it).
    h: u32,
    group: u32,
    t: u32,
    tk: u32,
    hd: u32,
    kv_width: u32,
    start: u32,
    scale: f32,
    neg_inf: f32,
);

pub(crate) static ATTN_SCORES: Kernel = Kernel {
    name: "attn_scores",
    file: "attn_scores.wgsl",
    source: include_str!("attn_scores.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["q", "kc", "scores"],
};

/// q [h, t, hd], the key cache kc [≥ tk, kv_width], scores [h, t, tk].
pub(crate) fn run(r: &mut Recorder, p: Params, q: &wgpu::Buffer, kc: &wgpu::Buffer, scores: &wgpu::Buffer) {
    let n = (p.h * p.t * p.tk) as usize;
    r.dispatch(&ATTN_SCORES, &p, &[(q, (p.h * p.t * p.hd) as usize), (kc, (p.tk * p.kv_width) as usize), (scores, n)], grid(n));
}
