//! Scaling in place (scale.wgsl): x = x × s, elementwise; the token embedding of a model
//! that scales it (Gemma: × √width).

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// `n` values, multiplied by `s`.
    n: u32,
    s: f32,
);

pub(crate) static SCALE: Kernel = Kernel {
    name: "scale",
    file: "scale.wgsl",
    source: include_str!("scale.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["x"],
};

/// x: `n` values, updated in place.
pub(crate) fn run(r: &mut Recorder, p: Params, x: &wgpu::Buffer) {
    let n = p.n as usize;
    r.dispatch(&SCALE, &p, &[(x, n)], grid(n));
}
