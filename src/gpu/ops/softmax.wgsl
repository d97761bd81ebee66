// Softmax of rows of length n, one workgroup per row, into a separate buffer (the input is
// kept: attention scores and logits are parts of the trace too).
// causal = 1: row r is query i = r % t of a head; only its first start + i + 1 entries are
// visible, the rest are exactly 0. The masked inputs (−∞) are never read, so no infinity
// arithmetic is needed from the shader compiler.
struct Params { rows: u32, n: u32, causal: u32, start: u32, t: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let row = wid.x;
    var valid = p.n;
    if (p.causal == 1u) { valid = min(p.n, p.start + (row % p.t) + 1u); }
    let base = row * p.n;

    // Lowest finite f32, spelled as bits: Chrome's WGSL compiler rejects the decimal literal
    // as not representable, though naga accepts it.
    var m = bitcast<f32>(0xff7fffffu);
    for (var j = lid; j < valid; j += 256u) { m = max(m, x[base + j]); }
    red[lid] = m;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let mx = red[0];
    workgroupBarrier();

    var sum = 0.0;
    for (var j = lid; j < valid; j += 256u) { sum += exp(x[base + j] - mx); }
    red[lid] = sum;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
        workgroupBarrier();
    }
    let total = red[0];

    for (var j = lid; j < p.n; j += 256u) {
        var v = 0.0;
        if (j < valid) { v = exp(x[base + j] - mx) / total; }
        y[base + j] = v;
    }
}
