// C[m, c_off + n] = Σ_k A[a_off + m·K + k] · B(k, n), C with row stride ldc.
// B(k, n) = B[k·N + n] (HF Conv1D layout [in, out], trans_b = 0) or B[n·K + k] (an
// embedding table [V, d] used as the unembedding, trans_b = 1). ldc/c_off let the
// unembedding write one vocabulary chunk's columns of the logits. A bias is added by
// bias.wgsl afterwards, as the CPU reference adds it.
// Tiling: a 64×64 block of C per workgroup of 16×16 threads, 4×4 outputs per thread,
// K in steps of 16 through workgroup memory.
struct Params { m: u32, n: u32, k: u32, ldc: u32, c_off: u32, a_off: u32, trans_b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TS: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> As: array<f32, 1024>; // [BK][TS]
var<workgroup> Bs: array<f32, 1024>; // [BK][TS]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    let m0 = wid.y * TS;
    let n0 = wid.x * TS;
    // Four vec4 accumulators rather than a dynamically indexed array: software adapters
    // (llvmpipe) turn dynamic private indexing into per-lane memory traffic.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var r = 0u; r < 4u; r++) {
            let e = tid + r * 256u;
            // A: consecutive threads read consecutive k of one row.
            let am = e / BK;
            let ak = e % BK;
            var av = 0.0;
            if (m0 + am < p.m && k0 + ak < p.k) { av = a[p.a_off + (m0 + am) * p.k + k0 + ak]; }
            As[ak * TS + am] = av;
            // B: read along whichever index is contiguous in memory.
            var bk = e / TS;
            var bn = e % TS;
            if (p.trans_b == 1u) { bn = e / BK; bk = e % BK; }
            var bv = 0.0;
            if (n0 + bn < p.n && k0 + bk < p.k) {
                if (p.trans_b == 1u) {
                    bv = b[(n0 + bn) * p.k + k0 + bk];
                } else {
                    bv = b[(k0 + bk) * p.n + n0 + bn];
                }
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
