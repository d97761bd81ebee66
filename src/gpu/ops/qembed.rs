//! Row gather from an embedding table chunk held in ggml blocks (qembed.wgsl after the
//! block reader blocks.wgsl): token embeddings by id, or position embeddings by position,
//! dequantized as they are copied.

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// Rows of a table chunk [row0, row0 + nrows) of ggml type `ty`, `row_bytes` bytes
    /// each, picked by id (use_ids = 1) or by position pos_start + i, into out [rows, d].
    rows: u32,
    d: u32,
    row0: u32,
    nrows: u32,
    pos_start: u32,
    use_ids: u32,
    ty: u32,
    row_bytes: u32,
);

pub(crate) static QEMBED: Kernel = Kernel {
    name: "qembed",
    file: "qembed.wgsl",
    source: concat!(include_str!("blocks.wgsl"), include_str!("qembed.wgsl")),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["ids", "w", "out"],
};

/// ids [rows] (read only when `use_ids` is 1), one chunk of `chunk_words` u32 words, out
/// [rows, d].
pub(crate) fn run(r: &mut Recorder, p: Params, ids: &wgpu::Buffer, chunk: &wgpu::Buffer, chunk_words: usize, out: &wgpu::Buffer) {
    let (rows, d) = (p.rows as usize, p.d as usize);
    r.dispatch(&QEMBED, &p, &[(ids, rows), (chunk, chunk_words), (out, rows * d)], grid(rows * d));
}
