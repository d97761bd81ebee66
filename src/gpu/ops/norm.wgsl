// LayerNorm and RMSNorm, one workgroup per row, as the CPU reference computes them:
// LayerNorm takes the mean first and then the variance around it (two passes, so a large
// mean cannot cancel the variance away); RMSNorm divides by √(mean(x²) + ε) and then
// scales. Two entry points, so RMSNorm's pipeline binds no bias; the bias binds last, so
// both bind x, g and y at the same places.
struct Params { rows: u32, n: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;

var<workgroup> red: array<f32, 256>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256)
fn layer_norm(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let base = wid.x * p.n;
    var s = 0.0;
    for (var j = lid; j < p.n; j += 256u) { s += x[base + j]; }
    let mean = reduce_sum(lid, s) / f32(p.n);
    var q = 0.0;
    for (var j = lid; j < p.n; j += 256u) {
        let c = x[base + j] - mean;
        q += c * c;
    }
    let inv = 1.0 / sqrt(reduce_sum(lid, q) / f32(p.n) + p.eps);
    for (var j = lid; j < p.n; j += 256u) {
        y[base + j] = (x[base + j] - mean) * inv * g[j] + b[j];
    }
}

@compute @workgroup_size(256)
fn rms_norm(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let base = wid.x * p.n;
    var s = 0.0;
    for (var j = lid; j < p.n; j += 256u) { s += x[base + j] * x[base + j]; }
    let inv = 1.0 / sqrt(reduce_sum(lid, s) / f32(p.n) + p.eps);
    for (var j = lid; j < p.n; j += 256u) {
        y[base + j] = g[j] * (x[base + j] * inv);
    }
}
