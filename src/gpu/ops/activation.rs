//! The MLP's nonlinearity (activation.wgsl), elementwise: act(x), or act(gate) · up for a
//! gated MLP (SwiGLU with SiLU).

use crate::config::Activation;
use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// `n` values; `kind` from [`kind`].
    n: u32,
    kind: u32,
);

pub(crate) static ACTIVATION: Kernel = Kernel {
    name: "activation",
    file: "activation.wgsl",
    source: include_str!("activation.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["x", "out"],
};

pub(crate) static GATED: Kernel = Kernel {
    name: "gated",
    file: "activation.wgsl",
    source: include_str!("activation.wgsl"),
    entry: "gated",
    params: Params::FIELDS,
    bindings: &["x", "out", "up"],
};

/// activation.wgsl's numbering of the activations.
pub(crate) fn kind(a: Activation) -> u32 {
    match a {
        Activation::GeluNew => 0,
        Activation::Relu => 1,
        Activation::Silu => 2,
    }
}

/// out = act(x); both `n` values.
pub(crate) fn run(r: &mut Recorder, p: Params, x: &wgpu::Buffer, out: &wgpu::Buffer) {
    let n = p.n as usize;
    r.dispatch(&ACTIVATION, &p, &[(x, n), (out, n)], grid(n));
}

/// out = act(gate) · up; all `n` values. `up` binds last so that both entry points bind
/// the same first two buffers.
pub(crate) fn gated(r: &mut Recorder, p: Params, gate: &wgpu::Buffer, out: &wgpu::Buffer, up: &wgpu::Buffer) {
    let n = p.n as usize;
    r.dispatch(&GATED, &p, &[(gate, n), (out, n), (up, n)], grid(n));
}
