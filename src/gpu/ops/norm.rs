//! LayerNorm and RMSNorm (norm.wgsl), one workgroup per row: the model's norm, as the CPU
//! reference chooses it from the config.

use crate::config::Norm;
use crate::gpu::recorder::{Kernel, Recorder};

params!(
    /// Rows of width `n`.
    rows: u32,
    n: u32,
    eps: f32,
);

pub(crate) static LAYER_NORM: Kernel = Kernel {
    name: "layer_norm",
    file: "norm.wgsl",
    source: include_str!("norm.wgsl"),
    entry: "layer_norm",
    params: Params::FIELDS,
    bindings: &["x", "g", "y", "b"],
};

pub(crate) static RMS_NORM: Kernel = Kernel {
    name: "rms_norm",
    file: "norm.wgsl",
    source: include_str!("norm.wgsl"),
    entry: "rms_norm",
    params: Params::FIELDS,
    bindings: &["x", "g", "y"],
};

/// x and y [rows, n]; gain g [n]; bias b [n], which LayerNorm needs and RMSNorm does not
/// take. The bias binds last so that RMSNorm binds the same first three buffers.
pub(crate) fn run(r: &mut Recorder, p: Params, kind: Norm, x: &wgpu::Buffer, g: &wgpu::Buffer, y: &wgpu::Buffer, b: Option<&wgpu::Buffer>) {
    let (rows, n) = (p.rows as usize, p.n as usize);
    let (x, g, y) = ((x, rows * n), (g, n), (y, rows * n));
    match kind {
        Norm::LayerNorm => r.dispatch(&LAYER_NORM, &p, &[x, g, y, (b.expect("the loaders give every LayerNorm a bias"), n)], (p.rows, 1, 1)),
        Norm::RmsNorm => r.dispatch(&RMS_NORM, &p, &[x, g, y], (p.rows, 1, 1)),
    }
}
