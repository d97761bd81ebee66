//! Attention probabilities · values into the heads' outputs (attn_values.wgsl).

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// As attn_scores.rs: `h` query heads, `group` per key/value head, `t` queries at
    /// positions start.. over `tk` keys, value-cache rows `kv_width` wide.
    h: u32,
    group: u32,
    t: u32,
    tk: u32,
    hd: u32,
    kv_width: u32,
    start: u32,
);

pub(crate) static ATTN_VALUES: Kernel = Kernel {
    name: "attn_values",
    file: "attn_values.wgsl",
    source: include_str!("attn_values.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["probs", "vc", "z"],
};

/// probs [h, t, tk], the value cache vc [≥ tk, kv_width], z [t, h·hd].
pub(crate) fn run(r: &mut Recorder, p: Params, probs: &wgpu::Buffer, vc: &wgpu::Buffer, z: &wgpu::Buffer) {
    let n = (p.t * p.h * p.hd) as usize;
    r.dispatch(&ATTN_VALUES, &p, &[(probs, (p.h * p.t * p.tk) as usize), (vc, (p.tk * p.kv_width) as usize), (z, n)], grid(n));
}
