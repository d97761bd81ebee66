//! Head ablation (head_mask.wgsl): ablated heads' outputs replaced in place.

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// `t` tokens, `h` heads of width `hd`.
    t: u32,
    h: u32,
    hd: u32,
);

pub(crate) static HEAD_MASK: Kernel = Kernel {
    name: "head_mask",
    file: "head_mask.wgsl",
    source: include_str!("head_mask.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["keep", "replacement", "z"],
};

/// keep [h] (0 = ablated), replacement [h·hd], z [t, h·hd] updated in place.
pub(crate) fn run(r: &mut Recorder, p: Params, keep: &wgpu::Buffer, replacement: &wgpu::Buffer, z: &wgpu::Buffer) {
    let n = (p.t * p.h * p.hd) as usize;
    r.dispatch(&HEAD_MASK, &p, &[(keep, p.h as usize), (replacement, (p.h * p.hd) as usize), (z, n)], grid(n));
}
