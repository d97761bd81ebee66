//! The matrix product C = A · B (matmul.wgsl, 64×64 tiles; matmul_rows.wgsl, one column
//! per thread for a few rows). A bias is a separate op (bias.rs), as in the CPU reference.

use crate::gpu::recorder::{Kernel, Recorder};

params!(
    /// C[i, c_off + j] (rows ldc apart) = Σ_e A[a_off + i·k + e] · B(e, j) for i < m,
    /// j < n, with B [k, n] (trans_b = 0: a linear layer's Conv1D weight) or [n, k]
    /// (trans_b = 1: an embedding table used as the unembedding).
    m: u32,
    n: u32,
    k: u32,
    ldc: u32,
    c_off: u32,
    a_off: u32,
    trans_b: u32,
);

pub(crate) static MATMUL: Kernel = Kernel {
    name: "matmul",
    file: "matmul.wgsl",
    source: include_str!("matmul.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["a", "b", "c"],
};

pub(crate) static MATMUL_ROWS: Kernel = Kernel {
    name: "matmul_rows",
    file: "matmul_rows.wgsl",
    source: include_str!("matmul_rows.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["a", "b", "c"],
};

/// Up to this many rows the per-column kernel beats a 64-row tile.
const FEW_ROWS: u32 = 8;

/// The tiled kernel, or the per-column one for a few rows (a KV-cache step has one):
/// there a 64-row tile would spend 63/64 of its work on padding.
pub(crate) fn run(r: &mut Recorder, p: Params, a: &wgpu::Buffer, b: &wgpu::Buffer, c: &wgpu::Buffer) {
    let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
    let c_end = if m == 0 { 0 } else { (m - 1) * p.ldc as usize + p.c_off as usize + n };
    let bufs = [(a, p.a_off as usize + m * k), (b, k * n), (c, c_end)];
    if p.m <= FEW_ROWS {
        r.dispatch(&MATMUL_ROWS, &p, &bufs, (p.n.div_ceil(256), p.m.div_ceil(4), 1));
    } else {
        r.dispatch(&MATMUL, &p, &bufs, (p.n.div_ceil(64), p.m.div_ceil(64), 1));
    }
}
