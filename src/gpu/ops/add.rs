//! The residual add (add.wgsl): out = a + b, elementwise.

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// The number of values.
    n: u32,
);

pub(crate) static ADD: Kernel = Kernel {
    name: "add",
    file: "add.wgsl",
    source: include_str!("add.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["a", "b", "out"],
};

/// a, b, out: `n` values each.
pub(crate) fn run(r: &mut Recorder, p: Params, a: &wgpu::Buffer, b: &wgpu::Buffer, out: &wgpu::Buffer) {
    let n = p.n as usize;
    r.dispatch(&ADD, &p, &[(a, n), (b, n), (out, n)], grid(n));
}
