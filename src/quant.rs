//! ggml tensor types and their dequantization to f32.
//!
//! A GGUF file stores each tensor in one ggml type. The plain types (F32, F16, BF16) store
//! one value per element. The quantized types store fixed-size *blocks*: 32 or 256 values
//! packed as small integers that share one or two f16 scales. This module knows every
//! type id that ggml defines (so a reader can size any tensor), and dequantizes the types
//! that llama.cpp's usual model files use: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
//! Q2_K, Q3_K, Q4_K, Q5_K and Q6_K.
//!
//! The block layouts and the arithmetic follow ggml's reference `dequantize_row_*`
//! functions (ggml-quants.c) operation for operation, with no fused multiply-add, so the
//! results are bit-for-bit those of ggml's scalar code and of gguf-py's
//! `gguf.quants.dequantize`.

use crate::error::{Error, Result};
use half::f16;
use half::slice::HalfFloatSliceExt;

/// Values per block of the K-quants.
const QK_K: usize = 256;

/// Defines [`GgmlType`] from one table, so that ids, names and sizes cannot disagree.
macro_rules! ggml_types {
    ($($ty:ident = $id:literal, $block:expr, $size:expr;)*) => {
        /// The element encodings ggml defines; the discriminant is the GGUF type id.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum GgmlType {
            $($ty = $id,)*
        }

        impl GgmlType {
            /// Every type ggml defines, by id.
            pub const ALL: &[GgmlType] = &[$(GgmlType::$ty,)*];

            /// The type with this GGUF id, or `None` for an id ggml does not (or no longer)
            /// define.
            pub fn from_id(id: u32) -> Option<GgmlType> {
                match id {
                    $($id => Some(GgmlType::$ty),)*
                    _ => None,
                }
            }

            /// ggml's name for the type, e.g. "Q4_K".
            pub fn name(self) -> &'static str {
                match self {
                    $(GgmlType::$ty => stringify!($ty),)*
                }
            }

            /// Values per block (1 for the plain types).
            pub fn block_size(self) -> usize {
                match self {
                    $(GgmlType::$ty => $block,)*
                }
            }

            /// Bytes per block.
            pub fn type_size(self) -> usize {
                match self {
                    $(GgmlType::$ty => $size,)*
                }
            }
        }
    };
}

// Sizes are ggml's `type_traits` (gguf-py's `GGML_QUANT_SIZES`).
ggml_types! {
    F32 = 0, 1, 4;
    F16 = 1, 1, 2;
    Q4_0 = 2, 32, 18;
    Q4_1 = 3, 32, 20;
    Q5_0 = 6, 32, 22;
    Q5_1 = 7, 32, 24;
    Q8_0 = 8, 32, 34;
    Q8_1 = 9, 32, 36;
    Q2_K = 10, QK_K, 84;
    Q3_K = 11, QK_K, 110;
    Q4_K = 12, QK_K, 144;
    Q5_K = 13, QK_K, 176;
    Q6_K = 14, QK_K, 210;
    Q8_K = 15, QK_K, 292;
    IQ2_XXS = 16, QK_K, 66;
    IQ2_XS = 17, QK_K, 74;
    IQ3_XXS = 18, QK_K, 98;
    IQ1_S = 19, QK_K, 50;
    IQ4_NL = 20, 32, 18;
    IQ3_S = 21, QK_K, 110;
    IQ2_S = 22, QK_K, 82;
    IQ4_XS = 23, QK_K, 136;
    I8 = 24, 1, 1;
    I16 = 25, 1, 2;
    I32 = 26, 1, 4;
    I64 = 27, 1, 8;
    F64 = 28, 1, 8;
    IQ1_M = 29, QK_K, 56;
    BF16 = 30, 1, 2;
    TQ1_0 = 34, QK_K, 54;
    TQ2_0 = 35, QK_K, 66;
    MXFP4 = 39, 32, 17;
    NVFP4 = 40, 64, 36;
    Q1_0 = 41, 128, 18;
}

/// The types [`dequantize`] accepts, in the order error messages list them.
pub const SUPPORTED: [GgmlType; 13] = {
    use GgmlType::*;
    [F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K]
};

/// The types the engine holds in memory as stored, dequantizing them inside the matmuls
/// (`Blocks` (matrix.rs)). Of the others it accepts, F32 is held as f32, and Q2_K and
/// Q3_K (rare, and not worth kernels of their own) are dequantized to f32 on load.
pub const BLOCKS: [GgmlType; 10] = {
    use GgmlType::*;
    [F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K]
};

impl GgmlType {
    /// The GGUF type id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// Whether [`dequantize`] accepts this type.
    pub fn can_dequantize(self) -> bool {
        SUPPORTED.contains(&self)
    }

    /// Whether the engine holds tensors of this type in their blocks ([`BLOCKS`]).
    pub fn held_as_blocks(self) -> bool {
        BLOCKS.contains(&self)
    }

    /// Bytes that `n` values take, or `None` when `n` is not a whole number of blocks or
    /// the size overflows.
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        let block = self.block_size() as u64;
        if !n.is_multiple_of(block) {
            return None;
        }
        (n / block).checked_mul(self.type_size() as u64)
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The name of a type id that ggml once defined and has since removed, for error messages:
/// files quantized with these need re-quantizing with a current llama.cpp.
pub fn removed_type_name(id: u32) -> Option<&'static str> {
    Some(match id {
        4 => "Q4_2",
        5 => "Q4_3",
        31 => "Q4_0_4_4",
        32 => "Q4_0_4_8",
        33 => "Q4_0_8_8",
        36 => "IQ4_NL_4_4",
        37 => "IQ4_NL_4_8",
        38 => "IQ4_NL_8_8",
        _ => return None,
    })
}

/// "F32, F16, …": the supported types, for error messages.
pub fn supported_list() -> String {
    SUPPORTED.map(GgmlType::name).join(", ")
}

/// "F16, BF16, …": the types held in blocks, for error messages.
pub fn blocks_list() -> String {
    BLOCKS.map(GgmlType::name).join(", ")
}

/// Byte offsets of the f16 fields of one block that scale all its values (d, and dmin or
/// m where the type has them); for F16 and BF16, the value itself. A block whose scale
/// fields are finite has only finite values.
pub fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::F16 | GgmlType::BF16 | GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        GgmlType::Q6_K => &[208],
        _ => &[],
    }
}

/// Dequantizes `n` values of type `ty` stored in `raw`.
pub fn dequantize(ty: GgmlType, raw: &[u8], n: usize) -> Result<Vec<f32>> {
    // Checked before allocating, so a wrong `n` cannot ask for memory `raw` does not back.
    check(ty, raw, n)?;
    let mut out = vec![0.0; n];
    decode(ty, raw, &mut out)?;
    Ok(out)
}

/// Dequantizes `raw` into `out`, which must hold exactly the number of values `raw` encodes.
pub fn dequantize_into(ty: GgmlType, raw: &[u8], out: &mut [f32]) -> Result<()> {
    check(ty, raw, out.len())?;
    decode(ty, raw, out)
}

/// Dequantizes `raw`, which `check` found to be exactly `out.len() / block_size` blocks: the
/// remainders that `as_chunks` returns are then empty and every block has its output.
fn decode(ty: GgmlType, raw: &[u8], out: &mut [f32]) -> Result<()> {
    match ty {
        GgmlType::F32 => {
            for (y, b) in out.iter_mut().zip(raw.as_chunks::<4>().0) {
                *y = f32::from_le_bytes(*b);
            }
        }
        GgmlType::Q2_K => q2_k(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q3_K => q3_k(raw.as_chunks().0, out.as_chunks_mut().0),
        ty if ty.held_as_blocks() => decode_blocks(ty, raw, out),
        _ => return Err(unsupported(ty)),
    }
    Ok(())
}

/// Dequantizes whole blocks of a type held in blocks ([`BLOCKS`]) into `out`, which holds
/// exactly their values; the matmul kernels call it on a row, or a stretch of one, at a
/// time. Inlined into its callers, so that it is compiled for their SIMD.
///
/// # Panics
/// For a type not in [`BLOCKS`] (a caller's bug: `Blocks` (matrix.rs) holds no other).
#[inline(always)]
pub fn decode_blocks(ty: GgmlType, raw: &[u8], out: &mut [f32]) {
    debug_assert_eq!(raw.len() / ty.type_size() * ty.block_size(), out.len(), "{ty}: blocks and values differ");
    match ty {
        GgmlType::F16 => {
            // Through an aligned buffer, so that `half` can convert many values per
            // instruction (F16C on x86) where converting one by one cannot.
            let mut h = [f16::ZERO; 256];
            for (ys, bs) in out.chunks_mut(256).zip(raw.chunks(512)) {
                let h = &mut h[..ys.len()];
                for (h, b) in h.iter_mut().zip(bs.as_chunks::<2>().0) {
                    *h = f16::from_le_bytes(*b);
                }
                h.convert_to_f32_slice(ys);
            }
        }
        GgmlType::BF16 => {
            for (y, b) in out.iter_mut().zip(raw.as_chunks::<2>().0) {
                *y = f32::from_bits(u32::from(u16::from_le_bytes(*b)) << 16);
            }
        }
        GgmlType::Q8_0 => q8_0(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q4_0 => q4_0(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q4_1 => q4_1(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q5_0 => q5_0(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q5_1 => q5_1(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q4_K => q4_k(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q5_K => q5_k(raw.as_chunks().0, out.as_chunks_mut().0),
        GgmlType::Q6_K => q6_k(raw.as_chunks().0, out.as_chunks_mut().0),
        _ => panic!("ggml type {ty} is not held in blocks"),
    }
}

fn unsupported(ty: GgmlType) -> Error {
    Error::Gguf(format!("GGUF: ggml type {} ({}) cannot be dequantized; supported: {}", ty.id(), ty.name(), supported_list()))
}

fn check(ty: GgmlType, raw: &[u8], n: usize) -> Result<()> {
    if !ty.can_dequantize() {
        return Err(unsupported(ty));
    }
    let (block, size) = (ty.block_size(), ty.type_size());
    if !n.is_multiple_of(block) {
        return Err(Error::Gguf(format!("GGUF: {n} values are not a whole number of {ty} blocks ({block} values each)")));
    }
    let blocks = n / block;
    if blocks.checked_mul(size) != Some(raw.len()) {
        return Err(Error::Gguf(format!(
            "GGUF: {n} values of type {ty} take {} bytes ({blocks} blocks of {size}), got {}",
            blocks as u128 * size as u128,
            raw.len()
        )));
    }
    Ok(())
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

/// The f16 with bits `h` as f32, exactly, for every finite f16, in plain integer and float
/// operations that inline anywhere (`half`'s scalar conversion checks the CPU for F16C on
/// each call). The exponent is re-biased from 15 to 127; subnormals (exponent 0) are their
/// mantissa times 2⁻²⁴. ±∞ and NaN, which the loaders refuse, come out as large finite
/// values.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let (e, m) = (u32::from(h >> 10) & 0x1F, u32::from(h) & 0x3FF);
    let mag = if e == 0 { m as f32 * (1.0 / 16_777_216.0) } else { f32::from_bits(((e + 112) << 23) | (m << 13)) };
    f32::from_bits(mag.to_bits() | (u32::from(h & 0x8000) << 16))
}

// Each kernel takes whole blocks and their outputs; the constant offsets into fixed-size
// arrays let the compiler drop bounds checks and vectorize the inner loops.

/// Q8_0: d (f16), 32 × i8. y = q·d.
#[inline(always)]
fn q8_0(blocks: &[[u8; 34]], out: &mut [[f32; 32]]) {
    for (b, y) in blocks.iter().zip(out) {
        let d = f16_at(b, 0);
        for j in 0..32 {
            y[j] = f32::from(b[2 + j] as i8) * d;
        }
    }
}

/// Q4_0: d (f16), 16 bytes of 4-bit q (low nibbles are values 0..16, high 16..32).
/// y = (q − 8)·d.
#[inline(always)]
fn q4_0(blocks: &[[u8; 18]], out: &mut [[f32; 32]]) {
    for (b, y) in blocks.iter().zip(out) {
        let d = f16_at(b, 0);
        for j in 0..16 {
            let q = b[2 + j];
            y[j] = f32::from((q & 0x0F) as i8 - 8) * d;
            y[j + 16] = f32::from((q >> 4) as i8 - 8) * d;
        }
    }
}

/// Q4_1: d, m (f16), 16 bytes of 4-bit q. y = q·d + m.
#[inline(always)]
fn q4_1(blocks: &[[u8; 20]], out: &mut [[f32; 32]]) {
    for (b, y) in blocks.iter().zip(out) {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        for j in 0..16 {
            let q = b[4 + j];
            y[j] = f32::from(q & 0x0F) * d + m;
            y[j + 16] = f32::from(q >> 4) * d + m;
        }
    }
}

/// The fifth bits of a Q5 block's 32 values: bit j of `qh` belongs to value j.
#[inline(always)]
fn q5_high(qh: u32, j: usize) -> (u8, u8) {
    let lo = ((qh >> j) << 4) & 0x10;
    let hi = (qh >> (j + 12)) & 0x10;
    (lo as u8, hi as u8)
}

/// Q5_0: d (f16), qh (u32 of fifth bits), 16 bytes of low nibbles. y = (q − 16)·d.
#[inline(always)]
fn q5_0(blocks: &[[u8; 22]], out: &mut [[f32; 32]]) {
    for (b, y) in blocks.iter().zip(out) {
        let d = f16_at(b, 0);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        for j in 0..16 {
            let q = b[6 + j];
            let (h0, h1) = q5_high(qh, j);
            y[j] = f32::from(((q & 0x0F) | h0) as i8 - 16) * d;
            y[j + 16] = f32::from(((q >> 4) | h1) as i8 - 16) * d;
        }
    }
}

/// Q5_1: d, m (f16), qh (u32), 16 bytes of low nibbles. y = q·d + m.
#[inline(always)]
fn q5_1(blocks: &[[u8; 24]], out: &mut [[f32; 32]]) {
    for (b, y) in blocks.iter().zip(out) {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        for j in 0..16 {
            let q = b[8 + j];
            let (h0, h1) = q5_high(qh, j);
            y[j] = f32::from((q & 0x0F) | h0) * d + m;
            y[j + 16] = f32::from((q >> 4) | h1) * d + m;
        }
    }
}

/// Q2_K: scales[16] (low nibble: scale, high: min, per 16 values), qs[64] (2-bit q),
/// d, dmin (f16). Each 128-value half reads 32 bytes of qs four times, two bits at a time.
/// y = (d·scale)·q − dmin·min.
fn q2_k(blocks: &[[u8; 84]], out: &mut [[f32; QK_K]]) {
    for (b, y) in blocks.iter().zip(out) {
        let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
        for half in 0..2 {
            for shift in 0..4 {
                for group in 0..2 {
                    let sc = b[half * 8 + shift * 2 + group];
                    let dl = d * f32::from(sc & 0x0F);
                    let ml = dmin * f32::from(sc >> 4);
                    let q = 16 + half * 32 + group * 16;
                    let o = half * 128 + shift * 32 + group * 16;
                    for l in 0..16 {
                        y[o + l] = dl * f32::from((b[q + l] >> (2 * shift)) & 3) - ml;
                    }
                }
            }
        }
    }
}

/// Q3_K: hmask[32] (third bits), qs[64] (low 2 bits), scales[12] (16 × 6-bit), d (f16).
/// y = (d·(scale − 32))·(q − 4·!hbit).
fn q3_k(blocks: &[[u8; 110]], out: &mut [[f32; QK_K]]) {
    for (b, y) in blocks.iter().zip(out) {
        let d = f16_at(b, 108);
        let s = &b[96..108];
        // 16 scales of 6 bits: low 4 bits in s[0..8] (low nibbles first, then high
        // nibbles), high 2 bits in s[8..12] (two bits per scale, by groups of four).
        let mut dl = [0f32; 16];
        for (i, dl) in dl.iter_mut().enumerate() {
            let low = if i < 8 { s[i] & 0x0F } else { s[i - 8] >> 4 };
            let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
            *dl = d * f32::from((low | (high << 4)) as i8 - 32);
        }
        for half in 0..2 {
            for shift in 0..4 {
                let mask = 1u8 << (half * 4 + shift);
                for l in 0..32 {
                    let o = half * 128 + shift * 32 + l;
                    let low = ((b[32 + half * 32 + l] >> (2 * shift)) & 3) as i8;
                    let q = if b[l] & mask != 0 { low } else { low - 4 };
                    y[o] = dl[o / 16] * f32::from(q);
                }
            }
        }
    }
}

/// The 6-bit (scale, min) pair `j` (0..8) of a Q4_K/Q5_K block's 12 packed scale bytes:
/// pairs 0..4 sit in the low 6 bits of bytes 0..8; pairs 4..8 take their low 4 bits from
/// the nibbles of bytes 8..12 and their high 2 bits from the spare top bits of bytes 0..8.
#[inline(always)]
fn scale_min_k4(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

/// Q4_K/Q5_K: the scale and offset of sub-block `j`: (d·scale, dmin·min).
#[inline(always)]
fn chunk_scale(d: f32, dmin: f32, s: &[u8], j: usize) -> (f32, f32) {
    let (sc, m) = scale_min_k4(s, j);
    (d * f32::from(sc), dmin * f32::from(m))
}

/// Q4_K: d, dmin (f16), scales[12] (8 × 6-bit scale and min), qs[128] (4-bit q; each
/// 64-value chunk is 32 bytes, low nibbles first). y = (d·scale)·q − dmin·min.
#[inline(always)]
fn q4_k(blocks: &[[u8; 144]], out: &mut [[f32; QK_K]]) {
    for (b, y) in blocks.iter().zip(out) {
        let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
        let s = &b[4..16];
        for chunk in 0..4 {
            let ((d1, m1), (d2, m2)) = (chunk_scale(d, dmin, s, 2 * chunk), chunk_scale(d, dmin, s, 2 * chunk + 1));
            for l in 0..32 {
                let q = b[16 + chunk * 32 + l];
                y[chunk * 64 + l] = d1 * f32::from(q & 0x0F) - m1;
                y[chunk * 64 + 32 + l] = d2 * f32::from(q >> 4) - m2;
            }
        }
    }
}

/// Q5_K: as Q4_K, plus qh[32] before qs: bit 2·chunk of qh[l] is the fifth bit of value
/// l of the chunk's first 32, bit 2·chunk+1 that of its second 32.
#[inline(always)]
fn q5_k(blocks: &[[u8; 176]], out: &mut [[f32; QK_K]]) {
    for (b, y) in blocks.iter().zip(out) {
        let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
        let s = &b[4..16];
        for chunk in 0..4 {
            let ((d1, m1), (d2, m2)) = (chunk_scale(d, dmin, s, 2 * chunk), chunk_scale(d, dmin, s, 2 * chunk + 1));
            for l in 0..32 {
                let q = b[48 + chunk * 32 + l];
                let h = b[16 + l] >> (2 * chunk);
                let q1 = (q & 0x0F) | ((h & 1) << 4);
                let q2 = (q >> 4) | ((h & 2) << 3);
                y[chunk * 64 + l] = d1 * f32::from(q1) - m1;
                y[chunk * 64 + 32 + l] = d2 * f32::from(q2) - m2;
            }
        }
    }
}

/// Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (i8, per 16 values),
/// d (f16). Per 128-value half: ql bytes l and l+32 hold values l, l+32 (low nibbles) and
/// l+64, l+96 (high nibbles); qh byte l holds the high bits of all four.
/// y = (d·scale)·(q − 32).
#[inline(always)]
fn q6_k(blocks: &[[u8; 210]], out: &mut [[f32; QK_K]]) {
    for (b, y) in blocks.iter().zip(out) {
        let d = f16_at(b, 208);
        let mut ds = [0f32; 16];
        for (i, ds) in ds.iter_mut().enumerate() {
            *ds = d * f32::from(b[192 + i] as i8);
        }
        for half in 0..2 {
            let (ql, qh, o) = (half * 64, 128 + half * 32, half * 128);
            for l in 0..32 {
                let h = b[qh + l];
                let (a, c) = (b[ql + l], b[ql + l + 32]);
                let q = [(a & 0x0F) | ((h & 3) << 4), (c & 0x0F) | (((h >> 2) & 3) << 4), (a >> 4) | (((h >> 4) & 3) << 4), (c >> 4) | ((h >> 6) << 4)];
                for (k, q) in q.into_iter().enumerate() {
                    let i = o + 32 * k + l;
                    y[i] = ds[i / 16] * f32::from(q as i8 - 32);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for &ty in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(ty.id()), Some(ty), "{ty}");
            assert_eq!(removed_type_name(ty.id()), None, "{ty}");
        }
        assert_eq!(GgmlType::ALL.len(), 34);
        assert_eq!((GgmlType::from_id(4), GgmlType::from_id(42)), (None, None));
        assert_eq!(GgmlType::Q4_K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q4_K.bytes_for(100), None);
        assert_eq!(GgmlType::Q8_0.bytes_for(u64::MAX / 32 * 32), None);
    }

    #[test]
    fn f16_conversion_is_exact() {
        for h in (0..=u16::MAX).filter(|h| h & 0x7C00 != 0x7C00) {
            assert_eq!(f16_to_f32(h).to_bits(), f16::from_bits(h).to_f32().to_bits(), "f16 bits {h:#06x}");
        }
    }

    #[test]
    fn q4_0_by_hand() {
        // d = 0.5; byte j holds value j in its low nibble and value j+16 in its high one.
        let mut raw = vec![0x00, 0x38];
        raw.extend((0..16u8).map(|j| j | (15 - j) << 4));
        let y = dequantize(GgmlType::Q4_0, &raw, 32).unwrap();
        for j in 0..16 {
            assert_eq!(y[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(y[j + 16], (7.0 - j as f32) * 0.5);
        }
    }

    #[test]
    fn refuses_bad_sizes_and_types() {
        let e = dequantize(GgmlType::Q4_0, &[0; 18], 16).unwrap_err().to_string();
        assert!(e.contains("not a whole number of Q4_0 blocks"), "{e}");
        let e = dequantize(GgmlType::Q4_0, &[0; 17], 32).unwrap_err().to_string();
        assert!(e.contains("take 18 bytes"), "{e}");
        let e = dequantize(GgmlType::IQ2_XXS, &[0; 66], 256).unwrap_err().to_string();
        assert!(e.contains("16 (IQ2_XXS)") && e.contains("Q6_K"), "{e}");
        assert!(dequantize(GgmlType::Q6_K, &[], 0).unwrap().is_empty());
    }
}
