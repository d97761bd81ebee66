//! A linear layer's bias (bias.wgsl), added in place after its matmul.

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// `len` values in rows of width `n`.
    len: u32,
    n: u32,
);

pub(crate) static BIAS: Kernel = Kernel {
    name: "bias",
    file: "bias.wgsl",
    source: include_str!("bias.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["bias", "y"],
};

/// bias [n]; y [len / n, n], updated in place.
pub(crate) fn run(r: &mut Recorder, p: Params, bias: &wgpu::Buffer, y: &wgpu::Buffer) {
    r.dispatch(&BIAS, &p, &[(bias, p.n as usize), (y, p.len as usize)], grid(p.len as usize));
}
