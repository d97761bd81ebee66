// scores[h, i, j] = q_h[h, i, :] · k[j, h·hd ..] × scale for every key j of the context,
// −∞ where j is after the query's position start + i (the causal mask, as the CPU writes it).
// −∞ comes in as a uniform (bit pattern from the host) since WGSL has no infinity literal.
struct P { h: u32, t: u32, tk: u32, hd: u32, d: u32, start: u32, scale: f32, neg_inf: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> qh: array<f32>;
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
    let k0 = j * p.d + h * p.hd;
    var s = 0.0;
    for (var e = 0u; e < p.hd; e++) { s += qh[q0 + e] * kc[k0 + e]; }
    scores[idx] = s * p.scale;
}
