//! Row gather from an embedding table chunk (embed.wgsl): token embeddings by id, or the
//! learned position embeddings by position.

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// Rows of a table chunk [row0, row0 + nrows), picked by id (use_ids = 1) or by
    /// position pos_start + i, into out [rows, d].
    rows: u32,
    d: u32,
    row0: u32,
    nrows: u32,
    pos_start: u32,
    use_ids: u32,
);

pub(crate) static EMBED: Kernel = Kernel {
    name: "embed",
    file: "embed.wgsl",
    source: include_str!("embed.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["ids", "table", "out"],
};

/// ids [rows] (u32, read only when `use_ids` is 1), one table chunk [nrows, d], out [rows, d].
pub(crate) fn run(r: &mut Recorder, p: Params, ids: &wgpu::Buffer, table: &wgpu::Buffer, out: &wgpu::Buffer) {
    let (rows, d) = (p.rows as usize, p.d as usize);
    r.dispatch(&EMBED, &p, &[(ids, rows), (table, p.nrows as usize * d), (out, rows * d)], grid(rows * d));
}
