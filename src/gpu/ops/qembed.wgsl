// Row gather from an embedding table chunk held in ggml blocks of type `ty` (blocks.wgsl,
// prepended): out[i, :] = the dequantized row r_i − row0 of the chunk, for the rows r_i
// that fall inside it, r_i being the token id (use_ids = 1) or the position pos_start + i.
// As embed.wgsl, one dispatch per chunk; each output row is written by exactly one.
struct Params { rows: u32, d: u32, row0: u32, nrows: u32, pos_start: u32, use_ids: u32, ty: u32, row_bytes: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.rows * p.d) { return; }
    let i = idx / p.d;
    let j = idx % p.d;
    var r = p.pos_start + i;
    if (p.use_ids == 1u) { r = ids[i]; }
    if (r < p.row0 || r >= p.row0 + p.nrows) { return; }
    out[idx] = wvalue(p.ty, (r - p.row0) * p.row_bytes, j);
}
