// Row gather from an embedding table chunk: out[i, :] = table[r_i - row0, :] for the rows
// r_i that fall inside this chunk. r_i is the token id (use_ids = 1) or the position
// pos_start + i. A table bigger than one storage binding (GPT-2's wte) is uploaded as
// several chunks and this runs once per chunk; each output row is written by exactly one.
struct Params { rows: u32, d: u32, row0: u32, nrows: u32, pos_start: u32, use_ids: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
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
    out[idx] = table[(r - p.row0) * p.d + j];
}
