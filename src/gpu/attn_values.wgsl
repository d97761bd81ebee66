// out[i, h·hd + e] = Σ_j probs[h, i, j] · v[j, h·hd + e] over the keys the query can see:
// the heads' outputs side by side, [T, d], ready for the output projection.
struct P { t: u32, tk: u32, hd: u32, d: u32, start: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
@group(0) @binding(2) var<storage, read> vc: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.t * p.d) { return; }
    let i = idx / p.d;
    let col = idx % p.d;
    let h = col / p.hd;
    let valid = min(p.tk, p.start + i + 1u);
    let p0 = (h * p.t + i) * p.tk;
    var s = 0.0;
    for (var j = 0u; j < valid; j++) { s += probs[p0 + j] * vc[j * p.d + col]; }
    out[idx] = s;
}
