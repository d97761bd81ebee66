// z[i, h·hd + e] = Σ_j probs[h, i, j] · v[j, kv(h)·hd + e] over the keys the query can see:
// the heads' outputs side by side, [T, H·hd], ready for the output projection.
struct Params { h: u32, group: u32, t: u32, tk: u32, hd: u32, kv_width: u32, start: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
@group(0) @binding(2) var<storage, read> vc: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    let width = p.h * p.hd;
    if (idx >= p.t * width) { return; }
    let i = idx / width;
    let col = idx % width;
    let h = col / p.hd;
    let vcol = (h / p.group) * p.hd + col % p.hd;
    let valid = min(p.tk, p.start + i + 1u);
    let p0 = (h * p.t + i) * p.tk;
    var s = 0.0;
    for (var j = 0u; j < valid; j++) { s += probs[p0 + j] * vc[j * p.kv_width + vcol]; }
    z[idx] = s;
}
