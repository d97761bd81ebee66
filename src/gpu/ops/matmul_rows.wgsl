// The same product as matmul.wgsl for few rows (a KV-cache step has one): there a 64-row
// tile would spend 63/64 of its work on padding. Each thread owns one output column n
// and up to 4 rows; A's values are the same for every thread of the workgroup.
struct Params { m: u32, n: u32, k: u32, ldc: u32, c_off: u32, a_off: u32, trans_b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = gid.x;
    let m0 = wid.y * 4u;
    if (n >= p.n) { return; }
    let rows = min(4u, p.m - m0);
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        var w: f32;
        if (p.trans_b == 1u) { w = b[n * p.k + k]; } else { w = b[k * p.n + n]; }
        let base = p.a_off + m0 * p.k + k;
        // Rows past m read the group's first row again (always valid) and are not written.
        acc.x = fma(a[base], w, acc.x);
        acc.y = fma(a[select(base, base + p.k, rows > 1u)], w, acc.y);
        acc.z = fma(a[select(base, base + 2u * p.k, rows > 2u)], w, acc.z);
        acc.w = fma(a[select(base, base + 3u * p.k, rows > 3u)], w, acc.w);
    }
    for (var r = 0u; r < rows; r++) {
        c[(m0 + r) * p.ldc + p.c_off + n] = acc[r];
    }
}
