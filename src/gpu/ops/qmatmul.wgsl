// C[i, c_off + j] (rows ldc apart) = Σ_k A[a_off + i·K + k] · W(j, k) for a weight matrix W
// [n, k] held in ggml blocks of type `ty` (blocks.wgsl, prepended): a linear layer's
// [out, in] or an unembedding's rows. Row j's blocks start at byte stored_row(j)·row_bytes
// of w. Every weight is dequantized in registers as ggml's reference does; activations and
// sums stay f32. Two entry points: `tiles` (64×64 blocks of C per workgroup of 16×16
// threads, 4×4 outputs per thread, K in steps of 16 through workgroup memory, as
// matmul.wgsl) and `rows` (one output column per thread for a few rows, as matmul_rows.wgsl).
struct Params { m: u32, n: u32, k: u32, ldc: u32, c_off: u32, a_off: u32, ty: u32, row_bytes: u32, perm_hd: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TS: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> As: array<f32, 1024>; // [BK][TS]
var<workgroup> Bs: array<f32, 1024>; // [BK][TS]

@compute @workgroup_size(16, 16)
fn tiles(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    let m0 = wid.y * TS;
    let n0 = wid.x * TS;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var r = 0u; r < 4u; r++) {
            let e = tid + r * 256u;
            let am = e / BK;
            let ak = e % BK;
            var av = 0.0;
            if (m0 + am < p.m && k0 + ak < p.k) { av = a[p.a_off + (m0 + am) * p.k + k0 + ak]; }
            As[ak * TS + am] = av;
            // Consecutive threads read consecutive values of one row of W.
            let bn = e / BK;
            let bk = e % BK;
            var bv = 0.0;
            if (n0 + bn < p.n && k0 + bk < p.k) {
                bv = wvalue(p.ty, stored_row(n0 + bn, p.perm_hd) * p.row_bytes, k0 + bk);
            }
            Bs[bk * TS + bn] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let ai = kk * TS + ty;
            let bi = kk * TS + tx;
            let av = vec4<f32>(As[ai], As[ai + 16u], As[ai + 32u], As[ai + 48u]);
            let bv = vec4<f32>(Bs[bi], Bs[bi + 16u], Bs[bi + 32u], Bs[bi + 48u]);
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }
        workgroupBarrier();
    }

    store(m0 + ty, n0 + tx, acc0);
    store(m0 + ty + 16u, n0 + tx, acc1);
    store(m0 + ty + 32u, n0 + tx, acc2);
    store(m0 + ty + 48u, n0 + tx, acc3);
}

// Row gm of C, columns gn, gn+16, gn+32, gn+48 (the thread's four columns).
fn store(gm: u32, gn: u32, v: vec4<f32>) {
    if (gm >= p.m) { return; }
    for (var j = 0u; j < 4u; j++) {
        let n = gn + 16u * j;
        if (n >= p.n) { return; }
        c[gm * p.ldc + p.c_off + n] = v[j];
    }
}

@compute @workgroup_size(256)
fn rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = gid.x;
    let m0 = wid.y * 4u;
    if (n >= p.n) { return; }
    let count = min(4u, p.m - m0);
    let row = stored_row(n, p.perm_hd) * p.row_bytes;
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        let wv = wvalue(p.ty, row, k);
        let base = p.a_off + m0 * p.k + k;
        // Rows past m read the group's first row again (always valid) and are not written.
        acc.x = fma(a[base], wv, acc.x);
        acc.y = fma(a[select(base, base + p.k, count > 1u)], wv, acc.y);
        acc.z = fma(a[select(base, base + 2u * p.k, count > 2u)], wv, acc.z);
        acc.w = fma(a[select(base, base + 3u * p.k, count > 3u)], wv, acc.w);
    }
    for (var r = 0u; r < count; r++) {
        c[(m0 + r) * p.ldc + p.c_off + n] = acc[r];
    }
}
