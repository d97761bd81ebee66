//! Appends a run's keys or values to a layer's KV cache (kv_append.wgsl).

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// Per-head rows [heads, t, hd] of the tokens at positions start...
    heads: u32,
    t: u32,
    hd: u32,
    start: u32,
);

pub(crate) static KV_APPEND: Kernel = Kernel {
    name: "kv_append",
    file: "kv_append.wgsl",
    source: include_str!("kv_append.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["x", "cache"],
};

/// x [heads, t, hd] into rows start.. of cache [n_positions, heads·hd].
pub(crate) fn run(r: &mut Recorder, p: Params, x: &wgpu::Buffer, cache: &wgpu::Buffer) {
    let n = (p.heads * p.t * p.hd) as usize;
    r.dispatch(&KV_APPEND, &p, &[(x, n), (cache, (p.start + p.t) as usize * (p.heads * p.hd) as usize)], grid(n));
}
