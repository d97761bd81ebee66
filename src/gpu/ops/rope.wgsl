// RoPE, HF's rotate-half convention, on per-head rows x [heads, T, hd]: for the token at
// position start + i, the pair (x[e], x[e + hd/2]) is rotated by that position's angle
// for frequency e. cos and sin come from a table the host computed once [n_positions,
// hd/2] with the CPU reference's own arithmetic (a GPU's cos of a large angle may be far
// less precise).
struct Params { heads: u32, t: u32, hd: u32, start: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    let half = p.hd / 2u;
    if (idx >= p.heads * p.t * half) { return; }
    let row = idx / half;          // head · T + i
    let e = idx % half;
    let i = row % p.t;
    let f = (p.start + i) * half + e;
    let a = x[row * p.hd + e];
    let b = x[row * p.hd + e + half];
    out[row * p.hd + e] = a * cos_t[f] - b * sin_t[f];
    out[row * p.hd + e + half] = b * cos_t[f] + a * sin_t[f];
}
