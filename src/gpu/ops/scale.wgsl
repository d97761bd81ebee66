// x = x × s in place, elementwise over n values: Gemma's token embedding × √width, as the
// CPU reference multiplies it (one f32 product each, so the two agree exactly).
struct Params { n: u32, s: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.n) { return; }
    x[idx] = x[idx] * p.s;
}
