// Appends this run's keys or values, per-head rows [heads, T, hd], to a layer's cache
// [n_positions, heads·hd] at rows start.. (cache rows keep the [Tk, heads·hd] layout, so
// a head is a column block, as in the CPU reference).
struct Params { heads: u32, t: u32, hd: u32, start: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cache: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.heads * p.t * p.hd) { return; }
    let head = idx / (p.t * p.hd);
    let i = (idx / p.hd) % p.t;
    let e = idx % p.hd;
    cache[(p.start + i) * p.heads * p.hd + head * p.hd + e] = x[idx];
}
