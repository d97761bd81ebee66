// Splits the fused q|k|v projection [T, (H + 2·Hkv)·hd] into per-head tensors, the trace's
// layout: q [H, T, hd], k and v [Hkv, T, hd].
struct Params { t: u32, hq: u32, hkv: u32, hd: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> k: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    let width = (p.hq + 2u * p.hkv) * p.hd;
    if (idx >= p.t * width) { return; }
    let i = idx / width;
    let c = idx % width;
    let head = c / p.hd;
    let e = c % p.hd;
    let val = qkv[idx];
    if (head < p.hq) {
        q[(head * p.t + i) * p.hd + e] = val;
    } else if (head < p.hq + p.hkv) {
        k[((head - p.hq) * p.t + i) * p.hd + e] = val;
    } else {
        v[((head - p.hq - p.hkv) * p.t + i) * p.hd + e] = val;
    }
}
