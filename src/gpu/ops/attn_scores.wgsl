// scores[h, i, j] = q[h, i, :] · k[j, kv(h)·hd ..] × scale for every key j of the context,
// −∞ where j is after the query's position start + i (the causal mask, as the CPU writes
// it). Query head h reads key/value head kv(h) = h / group (grouped-query attention).
// −∞ comes in as a parameter (its bit pattern from the host): WGSL has no infinity literal.
struct Params { h: u32, group: u32, t: u32, tk: u32, hd: u32, kv_width: u32, start: u32, scale: f32, neg_inf: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.h * p.t * p.tk) { return; }
    let h = idx / (p.t * p.tk);
    let r = idx % (p.t * p.tk);
    let i = r / p.tk;
    let j = r % p.tk;
    if (j > p.start + i) {
        scores[idx] = p.neg_inf;
        return;
    }
    let q0 = (h * p.t + i) * p.hd;
    let k0 = j * p.kv_width + (h / p.group) * p.hd;
    var s = 0.0;
    for (var e = 0u; e < p.hd; e++) { s += q[q0 + e] * kc[k0 + e]; }
    scores[idx] = s * p.scale;
}
