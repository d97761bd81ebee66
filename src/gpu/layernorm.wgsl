// Layer norm, one workgroup per row: mean first, then the variance around it (two passes,
// as the CPU reference does, so a large mean cannot cancel the variance away).
struct P { rows: u32, n: u32, eps: f32, _a: u32, _b: u32, _c: u32, _d: u32, _e: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

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
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let row = wid.x;
    if (row >= p.rows) { return; }
    let base = row * p.n;
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
