//! Softmax of rows (softmax.wgsl), optionally causal: attention probabilities, and the
//! next-token probabilities from the logits.

use crate::gpu::recorder::{Kernel, Recorder};

params!(
    /// `rows` of length `n`; causal = 1 treats row r as query r % t of a head, seeing its
    /// first start + (r % t) + 1 entries.
    rows: u32,
    n: u32,
    causal: u32,
    start: u32,
    t: u32,
);

pub(crate) static SOFTMAX: Kernel = Kernel {
    name: "softmax",
    file: "softmax.wgsl",
    source: include_str!("softmax.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["x", "y"],
};

/// x and y [rows, n].
pub(crate) fn run(r: &mut Recorder, p: Params, x: &wgpu::Buffer, y: &wgpu::Buffer) {
    let n = (p.rows * p.n) as usize;
    r.dispatch(&SOFTMAX, &p, &[(x, n), (y, n)], (p.rows, 1, 1));
}
