//! RoPE (rope.wgsl), rotate-half, with cos/sin from the host's table.

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// Per-head rows [heads, t, hd] of the tokens at positions start...
    heads: u32,
    t: u32,
    hd: u32,
    start: u32,
);

pub(crate) static ROPE: Kernel = Kernel {
    name: "rope",
    file: "rope.wgsl",
    source: include_str!("rope.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["x", "cos_t", "sin_t", "out"],
};

/// x and out [heads, t, hd]; cos and sin [≥ start + t, hd/2], a row per position.
pub(crate) fn run(r: &mut Recorder, p: Params, x: &wgpu::Buffer, cos: &wgpu::Buffer, sin: &wgpu::Buffer, out: &wgpu::Buffer) {
    let (n, half) = ((p.heads * p.t * p.hd) as usize, (p.hd / 2) as usize);
    let angles = (p.start + p.t) as usize * half;
    r.dispatch(&ROPE, &p, &[(x, n), (cos, angles), (sin, angles), (out, n)], grid(n / 2));
}
