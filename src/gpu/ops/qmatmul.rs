//! The matrix product C = A · Wᵀ with W [n, k] held in ggml blocks (qmatmul.wgsl after the
//! block reader blocks.wgsl): a linear layer's [out, in] or an unembedding's rows, read as
//! u32 words and dequantized in registers. Like matmul.rs, a 64×64-tile kernel and a
//! one-column-per-thread kernel for a few rows.

use crate::gpu::recorder::{Kernel, Recorder};

params!(
    /// C[i, c_off + j] (rows ldc apart) = Σ_e A[a_off + i·k + e] · W(j, e) for i < m, j < n,
    /// W's row j being the `row_bytes` bytes of ggml type `ty` at stored_row(j)·row_bytes
    /// (perm_hd: the head width of llama.cpp's q/k row order, 0 for none).
    m: u32,
    n: u32,
    k: u32,
    ldc: u32,
    c_off: u32,
    a_off: u32,
    ty: u32,
    row_bytes: u32,
    perm_hd: u32,
);

const SOURCE: &str = concat!(include_str!("blocks.wgsl"), include_str!("qmatmul.wgsl"));

pub(crate) static QMATMUL: Kernel = Kernel {
    name: "qmatmul",
    file: "qmatmul.wgsl",
    source: SOURCE,
    entry: "tiles",
    params: Params::FIELDS,
    bindings: &["a", "w", "c"],
};

pub(crate) static QMATMUL_ROWS: Kernel = Kernel {
    name: "qmatmul_rows",
    file: "qmatmul.wgsl",
    source: SOURCE,
    entry: "rows",
    params: Params::FIELDS,
    bindings: &["a", "w", "c"],
};

/// Up to this many rows the per-column kernel beats a 64-row tile (as for matmul).
const FEW_ROWS: u32 = 8;

/// a [m, k] (from a_off) · Wᵀ into c; `w_words` is the size of W's buffer in u32 words.
pub(crate) fn run(r: &mut Recorder, p: Params, a: &wgpu::Buffer, w: &wgpu::Buffer, w_words: usize, c: &wgpu::Buffer) {
    let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
    let c_end = if m == 0 { 0 } else { (m - 1) * p.ldc as usize + p.c_off as usize + n };
    let bufs = [(a, p.a_off as usize + m * k), (w, w_words), (c, c_end)];
    if p.m <= FEW_ROWS {
        r.dispatch(&QMATMUL_ROWS, &p, &bufs, (p.n.div_ceil(256), p.m.div_ceil(4), 1));
    } else {
        r.dispatch(&QMATMUL, &p, &bufs, (p.n.div_ceil(64), p.m.div_ceil(64), 1));
    }
}
