//! A linear layer on the device, x · W + b: the matmul op, then the bias op where the layer
//! has one. A composite: it launches other ops' kernels and has no WGSL of its own. Weights
//! in another format (quantized blocks) would add their matmul kernel here, chosen by
//! the weights' format.

use super::{bias, matmul, u};
use crate::gpu::recorder::Recorder;

/// Weights [k, n] (Conv1D layout) and an optional bias [n], uploaded as f32.
pub(crate) struct GpuLinear {
    pub w: wgpu::Buffer,
    pub b: Option<wgpu::Buffer>,
    pub k: usize,
    pub n: usize,
}

/// x [rows, k] · W + b into out [rows, n].
pub(crate) fn run(r: &mut Recorder, x: &wgpu::Buffer, rows: usize, l: &GpuLinear, out: &wgpu::Buffer) {
    matmul::run(r, matmul::Params { m: u(rows), n: u(l.n), k: u(l.k), ldc: u(l.n), c_off: 0, a_off: 0, trans_b: 0 }, x, &l.w, out);
    if let Some(b) = &l.b {
        bias::run(r, bias::Params { len: u(rows * l.n), n: u(l.n) }, b, out);
    }
}
