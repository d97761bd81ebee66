// Splits the fused q|k|v projection [T, 3d] into per-head tensors [H, T, hd] (the trace's
// layout) and appends this run's keys and values to the layer's KV cache [n_positions, d]
// at rows start.. (cache rows keep the [Tk, d] layout so a head is a column block).
struct P { t: u32, d: u32, hd: u32, start: u32, _a: u32, _b: u32, _c: u32, _e: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> qh: array<f32>;
@group(0) @binding(3) var<storage, read_write> kh: array<f32>;
@group(0) @binding(4) var<storage, read_write> vh: array<f32>;
@group(0) @binding(5) var<storage, read_write> kc: array<f32>;
@group(0) @binding(6) var<storage, read_write> vc: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.t * 3u * p.d) { return; }
    let i = idx / (3u * p.d);
    let c = idx % (3u * p.d);
    let which = c / p.d;
    let col = c % p.d;
    let h = col / p.hd;
    let e = col % p.hd;
    let v = qkv[idx];
    let dst = (h * p.t + i) * p.hd + e;
    let cache = (p.start + i) * p.d + col;
    if (which == 0u) {
        qh[dst] = v;
    } else if (which == 1u) {
        kh[dst] = v;
        kc[cache] = v;
    } else {
        vh[dst] = v;
        vc[cache] = v;
    }
}
