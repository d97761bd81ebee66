// C[m, c_off + n] = Σ_k A[a_off + m·K + k] · B(k, n) + bias[n], C with row stride ldc.
// B(k, n) = B[k·N + n] (HF Conv1D layout [in, out], trans_b = 0) or B[n·K + k] (an
// embedding table [V, d] used as the unembedding, trans_b = 1). ldc/c_off let the
// unembedding write one vocabulary chunk's columns of the logits.
// Tiling: a 64×64 block of C per workgroup of 16×16 threads, 4×4 outputs per thread,
// K in steps of 16 through workgroup memory.
struct P { m: u32, n: u32, k: u32, ldc: u32, c_off: u32, a_off: u32, trans_b: u32, has_bias: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

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
    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }

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
            var ar: array<f32, 4>;
            var br: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                ar[i] = As[kk * TS + ty + 16u * i];
                br[i] = Bs[kk * TS + tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(ar[i], br[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let gm = m0 + ty + 16u * i;
        if (gm >= p.m) { continue; }
        for (var j = 0u; j < 4u; j++) {
            let gn = n0 + tx + 16u * j;
            if (gn >= p.n) { continue; }
            var v = acc[i * 4u + j];
            if (p.has_bias == 1u) { v += bias[gn]; }
            c[gm * p.ldc + p.c_off + gn] = v;
        }
    }
}
