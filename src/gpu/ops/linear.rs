//! A linear layer on the device, x · W + b: the matmul op for f32 weights, or the qmatmul
//! op once per stacked part for weights held in blocks (each part writes its own columns),
//! then the bias op where the layer has one. A composite: it launches other ops' kernels
//! and has no WGSL of its own.

use super::{bias, matmul, qmatmul, u};
use crate::gpu::recorder::Recorder;

/// Row blocks of a weight matrix on the device: `rows` rows of `row_bytes` bytes of ggml
/// type `ty`, stored as u32 words (padded to a whole word), with llama.cpp's q/k row order
/// for heads `perm_hd` wide (0: none).
pub(crate) struct GpuBlocks {
    pub buf: wgpu::Buffer,
    pub words: usize,
    pub ty: u32,
    pub rows: usize,
    pub row_bytes: usize,
    pub perm_hd: u32,
}

/// A linear layer's weights on the device.
pub(crate) enum GpuWeight {
    /// f32 [k, n] (Conv1D layout).
    F32(wgpu::Buffer),
    /// [n, k] as row blocks, stacked (q | k | v), each with its own type.
    Blocks(Vec<GpuBlocks>),
}

/// Weights with an optional bias [n].
pub(crate) struct GpuLinear {
    pub w: GpuWeight,
    pub b: Option<wgpu::Buffer>,
    pub k: usize,
    pub n: usize,
}

/// x [rows, k] (from row `a_row`) · W + b into out [rows, n].
pub(crate) fn run(r: &mut Recorder, x: &wgpu::Buffer, rows: usize, l: &GpuLinear, out: &wgpu::Buffer) {
    product(r, x, rows, 0, &l.w, l.k, l.n, 0, l.n, out);
    if let Some(b) = &l.b {
        bias::run(r, bias::Params { len: u(rows * l.n), n: u(l.n) }, b, out);
    }
}

/// x [rows, k] from row `a_row` · W (n outputs) into columns c_off.. of out, whose rows are
/// `ldc` apart.
#[allow(clippy::too_many_arguments)]
pub(crate) fn product(r: &mut Recorder, x: &wgpu::Buffer, rows: usize, a_row: usize, w: &GpuWeight, k: usize, n: usize, c_off: usize, ldc: usize, out: &wgpu::Buffer) {
    match w {
        GpuWeight::F32(w) => {
            let p = matmul::Params { m: u(rows), n: u(n), k: u(k), ldc: u(ldc), c_off: u(c_off), a_off: u(a_row * k), trans_b: 0 };
            matmul::run(r, p, x, w, out);
        }
        GpuWeight::Blocks(parts) => {
            let mut col = c_off;
            for b in parts {
                let p = qmatmul::Params {
                    m: u(rows),
                    n: u(b.rows),
                    k: u(k),
                    ldc: u(ldc),
                    c_off: u(col),
                    a_off: u(a_row * k),
                    ty: b.ty,
                    row_bytes: u(b.row_bytes),
                    perm_hd: b.perm_hd,
                };
                qmatmul::run(r, p, x, &b.buf, b.words, out);
                col += b.rows;
            }
        }
    }
}
