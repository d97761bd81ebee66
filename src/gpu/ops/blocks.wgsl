// Reading one value of a weight matrix held in ggml blocks, from a storage array<u32> `w`
// that the including kernel declares: blocks are not 4-byte aligned (a Q8_0 block is 34
// bytes), so bytes are cut out of the words that hold them. The arithmetic is ggml's
// reference dequantization (src/quant.rs), value by value. Types by their ggml id.

fn wbyte(off: u32) -> u32 {
    return (w[off >> 2u] >> ((off & 3u) << 3u)) & 0xFFu;
}

fn wu16(off: u32) -> u32 {
    return wbyte(off) | (wbyte(off + 1u) << 8u);
}

fn wf16(off: u32) -> f32 {
    return unpack2x16float(wu16(off)).x;
}

// A byte as a signed 8-bit integer.
fn wi8(off: u32) -> i32 {
    return (i32(wbyte(off)) << 24u) >> 24u;
}

// Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..8) from the 12 scale bytes at s.
fn scale_min_k4(s: u32, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(wbyte(s + j) & 63u), f32(wbyte(s + j + 4u) & 63u));
    }
    let sc = (wbyte(s + j + 4u) & 15u) | ((wbyte(s + j - 4u) >> 6u) << 4u);
    let m = (wbyte(s + j + 4u) >> 4u) | ((wbyte(s + j) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}

// Value k of the row whose blocks start at byte `row` of w, for ggml type `ty`.
fn wvalue(ty: u32, row: u32, k: u32) -> f32 {
    switch ty {
        case 1u: { // F16
            return wf16(row + 2u * k);
        }
        case 30u: { // BF16
            return bitcast<f32>(wu16(row + 2u * k) << 16u);
        }
        case 8u: { // Q8_0: d, 32 × i8
            let b = row + (k / 32u) * 34u;
            return f32(wi8(b + 2u + k % 32u)) * wf16(b);
        }
        case 2u: { // Q4_0: d, 16 bytes of nibbles (low: values 0..16, high: 16..32); (q − 8)·d
            let b = row + (k / 32u) * 18u;
            let j = k % 32u;
            let q = (wbyte(b + 2u + j % 16u) >> (4u * (j / 16u))) & 15u;
            return f32(i32(q) - 8) * wf16(b);
        }
        case 3u: { // Q4_1: d, m, 16 bytes of nibbles; q·d + m
            let b = row + (k / 32u) * 20u;
            let j = k % 32u;
            let q = (wbyte(b + 4u + j % 16u) >> (4u * (j / 16u))) & 15u;
            return f32(q) * wf16(b) + wf16(b + 2u);
        }
        case 6u: { // Q5_0: d, qh (bit j: fifth bit of value j), 16 bytes of nibbles; (q − 16)·d
            let b = row + (k / 32u) * 22u;
            let j = k % 32u;
            let qh = (wbyte(b + 2u + j / 8u) >> (j % 8u)) & 1u;
            let q = ((wbyte(b + 6u + j % 16u) >> (4u * (j / 16u))) & 15u) | (qh << 4u);
            return f32(i32(q) - 16) * wf16(b);
        }
        case 7u: { // Q5_1: d, m, qh, 16 bytes of nibbles; q·d + m
            let b = row + (k / 32u) * 24u;
            let j = k % 32u;
            let qh = (wbyte(b + 4u + j / 8u) >> (j % 8u)) & 1u;
            let q = ((wbyte(b + 8u + j % 16u) >> (4u * (j / 16u))) & 15u) | (qh << 4u);
            return f32(q) * wf16(b) + wf16(b + 2u);
        }
        case 12u: { // Q4_K: d, dmin, 12 scale bytes, 128 bytes of nibbles in 64-value chunks
            let b = row + (k / 256u) * 144u;
            let v = k % 256u;
            let chunk = v / 64u;
            let hi = (v % 64u) / 32u;
            let q = (wbyte(b + 16u + chunk * 32u + v % 32u) >> (4u * hi)) & 15u;
            let sm = scale_min_k4(b + 4u, 2u * chunk + hi);
            return (wf16(b) * sm.x) * f32(q) - wf16(b + 2u) * sm.y;
        }
        case 13u: { // Q5_K: as Q4_K, with 32 bytes of fifth bits before the nibbles
            let b = row + (k / 256u) * 176u;
            let v = k % 256u;
            let chunk = v / 64u;
            let hi = (v % 64u) / 32u;
            let l = v % 32u;
            let h = (wbyte(b + 16u + l) >> (2u * chunk + hi)) & 1u;
            let q = ((wbyte(b + 48u + chunk * 32u + l) >> (4u * hi)) & 15u) | (h << 4u);
            let sm = scale_min_k4(b + 4u, 2u * chunk + hi);
            return (wf16(b) * sm.x) * f32(q) - wf16(b + 2u) * sm.y;
        }
        case 14u: { // Q6_K: ql[128], qh[64], 16 i8 scales, d; (d·scale)·(q − 32)
            let b = row + (k / 256u) * 210u;
            let v = k % 256u;
            let h2 = v / 128u;
            let quarter = (v % 128u) / 32u;
            let l = v % 32u;
            let lo = (wbyte(b + h2 * 64u + l + 32u * (quarter % 2u)) >> (4u * (quarter / 2u))) & 15u;
            let hi = (wbyte(b + 128u + h2 * 32u + l) >> (2u * quarter)) & 3u;
            let q = i32(lo | (hi << 4u)) - 32;
            return (wf16(b + 208u) * f32(wi8(b + 192u + v / 16u))) * f32(q);
        }
        default: {
            return 0.0;
        }
    }
}

// The stored row of model row r: llama.cpp permuted q and k rows within each head of
// `hd` (0: not permuted) for its interleaved RoPE (src/matrix.rs unpermute).
fn stored_row(r: u32, hd: u32) -> u32 {
    if (hd == 0u) { return r; }
    let hh = hd / 2u;
    let k = r % hd;
    return (r / hd) * hd + 2u * (k % hh) + k / hh;
}
