//! Dequantizing ggml blocks in SIMD registers, for the matmuls that read weights held in
//! blocks: Q8_0, Q4_0 and Q4_1 (SmolLM2's types, and llama.cpp's common 8- and 4-bit ones)
//! with AVX2 on x86-64 and simd128 in the browser; the other types through the portable
//! reference decoder ([`quant::decode_blocks`]), which the compiler vectorizes less well
//! (it spreads its vectors across blocks, and a stretch holds only a few).
//!
//! Every value is computed as ggml's reference computes it, with the same f32 operations
//! in the same order (no fused multiply-add), so the weights are bit for bit the reference's:
//! tests/quant_kernels.rs holds the kernels built on this to the plain reference op.

use crate::quant::{self, f16_to_f32, GgmlType};

/// Values per block of the types with a SIMD path.
pub(super) const QK: usize = 32;

/// Whether `ty` has a SIMD path here (a block of 32 values at a time).
#[inline(always)]
pub(super) fn has_simd(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1)
}

/// Dequantizes `raw` (whole blocks of `ty`) into `out` (exactly their values). AVX2: the
/// caller is compiled for x86-64 with AVX2 (its const parameter says so, as in gemm.rs).
///
/// # Safety
/// With AVX2, the CPU must have AVX2.
#[inline(always)]
pub(super) unsafe fn decode<const AVX2: bool>(ty: GgmlType, raw: &[u8], out: &mut [f32]) {
    // Plain loops, no closures: a closure is compiled without the caller's target features,
    // and the intrinsics inlined into it would become calls.
    if !has_simd(ty) {
        return quant::decode_blocks(ty, raw, out);
    }
    for (b, y) in raw.chunks_exact(ty.type_size()).zip(out.as_chunks_mut::<QK>().0) {
        *y = block::<AVX2>(ty, b);
    }
}

/// The most rows of x [`dot_rows`] takes.
pub(super) const ROWS: usize = 4;

/// sums[i] = x_i · w for the row `w` of a type with a SIMD path ([`has_simd`]), its whole
/// blocks in `row`, and the rows x_i of `xs` (at most [`ROWS`], each as long as w): every
/// block dequantized once, in registers, and multiplied into every row's running sums.
///
/// # Safety
/// With AVX2, the CPU must have AVX2 and FMA.
#[inline(always)]
pub(super) unsafe fn dot_rows<const AVX2: bool>(ty: GgmlType, row: &[u8], xs: &[&[f32]], sums: &mut [f32; ROWS]) {
    debug_assert!(has_simd(ty) && xs.len() <= ROWS);
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        return x86::dot_rows(ty, row, xs, sums);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return wasm::dot_rows(ty, row, xs, sums);
    }
    #[allow(unreachable_code)]
    for (b, k0) in row.chunks_exact(ty.type_size()).zip((0..).step_by(QK)) {
        let w = block::<AVX2>(ty, b);
        for (s, x) in sums.iter_mut().zip(xs) {
            *s += x[k0..k0 + QK].iter().zip(&w).map(|(x, w)| x * w).sum::<f32>();
        }
    }
}

/// The 32 values of one block `b` of a type with a SIMD path ([`has_simd`]), whose bytes
/// start at `b[0]`.
///
/// # Safety
/// With AVX2, the CPU must have AVX2; `b` holds a whole block of `ty`.
#[inline(always)]
pub(super) unsafe fn block<const AVX2: bool>(ty: GgmlType, b: &[u8]) -> [f32; QK] {
    let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    // (Q8_0: d, 32 × i8; Q4_0: d, 16 bytes of nibbles; Q4_1: d, m, 16 bytes of nibbles.)
    let (q, m) = match ty {
        GgmlType::Q4_1 => (&b[4..20], f16_to_f32(u16::from_le_bytes([b[2], b[3]]))),
        GgmlType::Q4_0 => (&b[2..18], 0.0),
        _ => (&b[2..34], 0.0),
    };
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        return x86::block(ty, q, d, m);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let _ = AVX2;
        return wasm::block(ty, q, d, m);
    }
    #[allow(unreachable_code)]
    portable(ty, q, d, m)
}

/// The reference's arithmetic, value by value: Q8_0 q·d; Q4_0 (q − 8)·d; Q4_1 q·d + m.
#[inline(always)]
fn portable(ty: GgmlType, q: &[u8], d: f32, m: f32) -> [f32; QK] {
    std::array::from_fn(|j| match ty {
        GgmlType::Q8_0 => f32::from(q[j] as i8) * d,
        GgmlType::Q4_0 => f32::from(((q[j % 16] >> (4 * (j / 16))) & 0x0F) as i8 - 8) * d,
        _ => f32::from((q[j % 16] >> (4 * (j / 16))) & 0x0F) * d + m,
    })
}

/// A Q4_0, Q4_1 or Q8_0 block's quants, its f16 scale d and (Q4_1) its minimum m, as both
/// SIMD kernels read them.
#[inline(always)]
#[cfg_attr(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))), allow(dead_code))]
fn block_header(ty: GgmlType, b: &[u8]) -> (&[u8], f32, f32) {
    let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    match ty {
        GgmlType::Q4_1 => (&b[4..20], d, f16_to_f32(u16::from_le_bytes([b[2], b[3]]))),
        GgmlType::Q4_0 => (&b[2..18], d, 0.0),
        _ => (&b[2..34], d, 0.0),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::quant::GgmlType;
    use std::arch::x86_64::*;

    /// Eight integers (i32 lanes) as f32, times d, plus m where the type has it.
    #[inline(always)]
    unsafe fn scale(ty: GgmlType, q: __m256i, d: __m256, m: __m256) -> __m256 {
        let v = _mm256_mul_ps(_mm256_cvtepi32_ps(q), d);
        if ty == GgmlType::Q4_1 {
            _mm256_add_ps(v, m)
        } else {
            v
        }
    }

    /// The block's 32 values as four vectors of eight. (No closures here: a closure is
    /// compiled without the caller's AVX2, and the intrinsics in it would become calls.)
    #[inline(always)]
    unsafe fn regs(ty: GgmlType, q: &[u8], d: f32, m: f32) -> [__m256; 4] {
        let (dv, mv) = (_mm256_set1_ps(d), _mm256_set1_ps(m));
        if ty == GgmlType::Q8_0 {
            let p = q.as_ptr();
            return [
                scale(ty, _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast())), dv, mv),
                scale(ty, _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(8).cast())), dv, mv),
                scale(ty, _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(16).cast())), dv, mv),
                scale(ty, _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(24).cast())), dv, mv),
            ];
        }
        // 16 bytes: value j (0..16) in the low nibble of byte j, value 16 + j in the high one.
        let bytes = _mm_loadu_si128(q.as_ptr().cast());
        let mask = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(bytes, mask);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(bytes), mask);
        let eight = _mm256_set1_epi32(if ty == GgmlType::Q4_0 { 8 } else { 0 });
        [
            scale(ty, _mm256_sub_epi32(_mm256_cvtepu8_epi32(lo), eight), dv, mv),
            scale(ty, _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(lo)), eight), dv, mv),
            scale(ty, _mm256_sub_epi32(_mm256_cvtepu8_epi32(hi), eight), dv, mv),
            scale(ty, _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(hi)), eight), dv, mv),
        ]
    }

    /// The values of the block at `b`, for `regs`.
    #[inline(always)]
    unsafe fn block_regs(ty: GgmlType, b: &[u8]) -> [__m256; 4] {
        let (q, d, m) = super::block_header(ty, b);
        regs(ty, q, d, m)
    }

    #[inline(always)]
    pub(super) unsafe fn block(ty: GgmlType, q: &[u8], d: f32, m: f32) -> [f32; 32] {
        let mut y = [0.0f32; 32];
        for (k, v) in regs(ty, q, d, m).into_iter().enumerate() {
            _mm256_storeu_ps(y.as_mut_ptr().add(8 * k), v);
        }
        y
    }

    #[inline(always)]
    pub(super) unsafe fn dot_rows(ty: GgmlType, row: &[u8], xs: &[&[f32]], sums: &mut [f32; 4]) {
        // Two running sums per row of x (a chain of one would wait on each add).
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let n = xs.len();
        for (b, k0) in row.chunks_exact(ty.type_size()).zip((0..).step_by(32)) {
            let w = block_regs(ty, b);
            for i in 0..4 {
                if i < n {
                    let x = xs[i].as_ptr().add(k0);
                    acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(x), w[0], acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(8)), w[1], acc[i][1]);
                    acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(16)), w[2], acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(24)), w[3], acc[i][1]);
                }
            }
        }
        for (s, a) in sums.iter_mut().zip(acc).take(n) {
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(a[0], a[1]));
            *s += lanes.iter().sum::<f32>();
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use crate::quant::GgmlType;
    use core::arch::wasm32::*;

    /// Four integers (i32 lanes) as f32, times d, plus m where the type has it.
    #[inline(always)]
    fn scale(ty: GgmlType, q: v128, d: v128, m: v128) -> v128 {
        let v = f32x4_mul(f32x4_convert_i32x4(q), d);
        if ty == GgmlType::Q4_1 {
            f32x4_add(v, m)
        } else {
            v
        }
    }

    /// The four i32 quarters of 16 integer bytes (signed or not), in order.
    #[inline(always)]
    fn widen(v: v128, signed: bool) -> [v128; 4] {
        if signed {
            let (l, h) = (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v));
            [i32x4_extend_low_i16x8(l), i32x4_extend_high_i16x8(l), i32x4_extend_low_i16x8(h), i32x4_extend_high_i16x8(h)]
        } else {
            let (l, h) = (u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v));
            [u32x4_extend_low_u16x8(l), u32x4_extend_high_u16x8(l), u32x4_extend_low_u16x8(h), u32x4_extend_high_u16x8(h)]
        }
    }

    /// The block's 32 values as eight vectors of four.
    #[inline(always)]
    unsafe fn regs(ty: GgmlType, q: &[u8], d: f32, m: f32) -> [v128; 8] {
        let (dv, mv) = (f32x4_splat(d), f32x4_splat(m));
        let mut out = [f32x4_splat(0.0); 8];
        let sixteens: [(v128, bool); 2] = if ty == GgmlType::Q8_0 {
            [(v128_load(q.as_ptr().cast()), true), (v128_load(q.as_ptr().add(16).cast()), true)]
        } else {
            let bytes = v128_load(q.as_ptr().cast());
            let lo = v128_and(bytes, u8x16_splat(0x0F));
            let hi = u8x16_shr(bytes, 4);
            // Q4_0 subtracts 8 from each nibble: done on the bytes, as signed values.
            if ty == GgmlType::Q4_0 {
                [(i8x16_sub(lo, i8x16_splat(8)), true), (i8x16_sub(hi, i8x16_splat(8)), true)]
            } else {
                [(lo, false), (hi, false)]
            }
        };
        for (s, (v, signed)) in sixteens.into_iter().enumerate() {
            for (k, w) in widen(v, signed).into_iter().enumerate() {
                out[4 * s + k] = scale(ty, w, dv, mv);
            }
        }
        out
    }

    /// The values of the block at `b`, for `regs`.
    #[inline(always)]
    unsafe fn block_regs(ty: GgmlType, b: &[u8]) -> [v128; 8] {
        let (q, d, m) = super::block_header(ty, b);
        regs(ty, q, d, m)
    }

    #[inline(always)]
    pub(super) unsafe fn block(ty: GgmlType, q: &[u8], d: f32, m: f32) -> [f32; 32] {
        let mut y = [0.0f32; 32];
        for (k, v) in regs(ty, q, d, m).into_iter().enumerate() {
            v128_store(y.as_mut_ptr().add(4 * k).cast(), v);
        }
        y
    }

    #[inline(always)]
    pub(super) unsafe fn dot_rows(ty: GgmlType, row: &[u8], xs: &[&[f32]], sums: &mut [f32; 4]) {
        // Two running sums per row of x (simd128 has no fused multiply-add).
        let mut acc = [[f32x4_splat(0.0); 2]; 4];
        let n = xs.len();
        for (b, k0) in row.chunks_exact(ty.type_size()).zip((0..).step_by(32)) {
            let w = block_regs(ty, b);
            for i in 0..4 {
                if i < n {
                    let x = xs[i].as_ptr().add(k0).cast::<v128>();
                    for k in 0..8 {
                        acc[i][k % 2] = f32x4_add(acc[i][k % 2], f32x4_mul(v128_load(x.add(k)), w[k]));
                    }
                }
            }
        }
        for (s, a) in sums.iter_mut().zip(acc).take(n) {
            let v = f32x4_add(a[0], a[1]);
            *s += (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v)) + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v));
        }
    }
}
