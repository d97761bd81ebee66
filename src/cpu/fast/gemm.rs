//! Matrix multiplication: a blocked SGEMM (Goto's scheme, as in BLIS), small enough to read.
//!
//! C [m, n] = A [m, k] · B [k, n]. For each block of KC rows of B and each strip of NR
//! columns, the KC×NR block is copied into a contiguous panel (it then stays in L1, and any
//! stride of B, a transposed one included, costs the same); every MR-row tile of A then
//! passes over the panel, holding its MR×NR results in SIMD registers for the whole block:
//! each step loads one panel row (NR floats), broadcasts MR floats of A and does MR·NR
//! multiply-adds. A is read in place (its MR rows are MR sequential streams).
//!
//! B may also be a weight matrix held in ggml blocks, [n, k] (its rows are B's columns):
//! the packing step then dequantizes each KC-long stretch of NR rows (whole blocks: KC is a
//! multiple of every block size) and transposes it into the panel, so every weight is
//! dequantized once per block of k and multiplied, as f32, by every row of A.

use super::dequant;
#[cfg(target_arch = "x86_64")]
use super::{simd_level, Simd};
use crate::matrix::{Blocks, Matrix};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Rows of B per panel: a panel (KC × NR floats, 32 KiB at NR = 32) and an A tile
/// (MR × KC) fit in L1 together.
const KC: usize = 256;

/// The operands of C = A·B (+ bias on each row) as raw parts: element (i, j) of A is at
/// a + i·lda + j, of B at b + i·rsb + j·csb (or B(i, j) is column i of row j of `blocks`),
/// of C at c + i·ldc + j.
#[derive(Clone, Copy)]
struct Gemm<'a> {
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    rsb: usize,
    csb: usize,
    c: *mut f32,
    ldc: usize,
    /// n values, or null.
    bias: *const f32,
    /// Add A·B to C's values instead of writing over them (a gradient that sums several
    /// contributions).
    acc: bool,
    /// B's columns as rows of blocks (then `b` is unused).
    blocks: Option<&'a [Blocks]>,
}

/// A · B (+ bias on each row), A [m, k], B [k, n] (any strides: W as stored, Uᵀ or Kᵀ as
/// transposed views), into a new array.
pub(crate) fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, bias: Option<&[f32]>) -> Array2<f32> {
    let (m, n) = (a.nrows(), b.ncols());
    let mut c = Vec::with_capacity(m * n);
    // SAFETY: `gemm` writes every element of C (m·n floats at row stride n) before the
    // length covers them.
    unsafe {
        gemm_into(a, b, bias, c.as_mut_ptr(), n, false);
        c.set_len(m * n);
    }
    Array2::from_shape_vec((m, n), c).expect("m·n values")
}

/// A · B (+ bias) written over C [m, n], whose rows must be contiguous (C may be a column
/// block of a wider array).
pub(crate) fn matmul_into(a: ArrayView2<f32>, b: ArrayView2<f32>, bias: Option<&[f32]>, mut c: ArrayViewMut2<f32>) {
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "matmul output shape");
    assert!(c.ncols() <= 1 || c.strides()[1] == 1, "matmul output rows must be contiguous");
    let ldc = if c.nrows() > 1 { c.strides()[0] as usize } else { c.ncols() };
    // SAFETY: C is m × n at row stride ldc with unit column stride (checked above).
    unsafe { gemm_into(a, b, bias, c.as_mut_ptr(), ldc, false) }
}

/// C += A · B, C [m, n] with contiguous rows: the backward pass adds each contribution to a
/// gradient in place.
pub(crate) fn matmul_acc_into(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>) {
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "matmul output shape");
    assert!(c.ncols() <= 1 || c.strides()[1] == 1, "matmul output rows must be contiguous");
    let ldc = if c.nrows() > 1 { c.strides()[0] as usize } else { c.ncols() };
    // SAFETY: as in matmul_into.
    unsafe { gemm_into(a, b, None, c.as_mut_ptr(), ldc, true) }
}

/// # Safety
/// `c` must be valid for writes of m rows of n floats at row stride `ldc`.
unsafe fn gemm_into(a: ArrayView2<f32>, b: ArrayView2<f32>, bias: Option<&[f32]>, c: *mut f32, ldc: usize, acc: bool) {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert_eq!(b.nrows(), k, "matmul inner dimensions");
    assert!(bias.is_none_or(|b| b.len() == n), "bias length");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if acc {
            return;
        }
        for i in 0..m {
            for j in 0..n {
                *c.add(i * ldc + j) = bias.map_or(0.0, |b| b[j]);
            }
        }
        return;
    }
    // The tiles read A's rows as sequential streams at A's own row stride, so a column
    // block of a wider array (each head's queries) is read in place. `linear` and `unembed`
    // are public: an A whose rows are not contiguous (none this file makes) is copied first.
    let in_place = (k == 1 || a.strides()[1] == 1) && (m == 1 || a.strides()[0] >= 0);
    let a = if in_place { ndarray::CowArray::from(a) } else { a.as_standard_layout() };
    let stride = |v: isize| usize::try_from(v).expect("matmul strides are not negative");
    let (lda, rsb, csb) = (if m > 1 { stride(a.strides()[0]) } else { k }, stride(b.strides()[0]), stride(b.strides()[1]));
    let g = Gemm { m, k, n, a: a.as_ptr(), lda, b: b.as_ptr(), rsb, csb, c, ldc, bias: bias.map_or(std::ptr::null(), <[f32]>::as_ptr), acc, blocks: None };
    gemm(&g)
}

/// A · Wᵀ (+ bias on each row) for A [m, k] and W [n, k] held in blocks (a linear layer's
/// [out, in], an unembedding [V, d]), into a new array.
pub(crate) fn matmul_blocks(a: ArrayView2<f32>, w: &[Blocks], bias: Option<&[f32]>) -> Array2<f32> {
    let ((m, k), n) = (a.dim(), w.iter().map(|p| p.rows).sum::<usize>());
    assert!(w.iter().all(|p| p.cols == k), "matmul inner dimensions");
    assert!(bias.is_none_or(|b| b.len() == n), "bias length");
    let a = a.as_standard_layout();
    let mut c = Array2::zeros((m, n));
    if m == 0 || n == 0 || k == 0 {
        if let Some(b) = bias {
            c.rows_mut().into_iter().for_each(|mut r| r.assign(&ndarray::ArrayView1::from(b)));
        }
        return c;
    }
    let g = Gemm {
        m,
        k,
        n,
        a: a.as_ptr(),
        lda: k,
        b: std::ptr::null(),
        rsb: 0,
        csb: 0,
        c: c.as_mut_ptr(),
        ldc: n,
        bias: bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
        acc: false,
        blocks: Some(w),
    };
    // SAFETY: A is m × k contiguous, C m × n contiguous, the bias n values, and every part
    // of W was checked to be k wide (its blocks whole, by `Blocks::new`).
    unsafe { gemm(&g) };
    c
}

/// The blocked loop for one tile shape: MR rows by NR columns of C in registers, B packed
/// NC columns at a time. AVX2: the CPU is x86-64 with AVX2 and FMA (fused multiply-adds in
/// the tiles, 8×8 register transposes in the packing).
///
/// # Safety
/// `g` must describe valid arrays.
#[inline(always)]
unsafe fn gemm_blocked<const MR: usize, const NR: usize, const NC: usize, const AVX2: bool, const BLOCKS: bool>(g: &Gemm) {
    // B in blocks is a compiled path of its own (BLOCKS): sharing one body with the f32
    // path made the compiler keep the tile's sums in memory in both.
    let blocks = if BLOCKS { g.blocks } else { None };
    // Many rows: B is packed a block of KC rows × NC columns at a time. With AVX-512, NC is
    // four strips: each row of the block is read as one run of 512 bytes (strip by strip,
    // the 128-byte rows of a strip lie a whole row of B apart, and for widths like 768 or
    // 3072 they crowd into a few cache sets). With narrower tiles, strip by strip measured
    // faster (NC = NR).
    //
    // Few rows (a short prompt): a packed panel would serve too few tiles to pay for the
    // copy, and B, read from memory once, is the bottleneck: what the first tile of a strip
    // asks for next (`Prefetch`) arrives while it works. A row-major B is then read in place,
    // in blocks of KC_FEW rows (a contiguous stretch of memory), prefetching the next block;
    // a transposed B (Uᵀ) is packed strip by strip with k unblocked, prefetching the next
    // strip (NR rows of U, contiguous).
    let few = g.m <= FEW_ROWS;
    let in_place = few && g.csb == 1 && !BLOCKS;
    let (kc_max, nc_max) = match (few, g.csb == 1) {
        // Blocks are dequantized strip by strip: for few rows, whole rows of W at a time
        // (each read as one sequential stretch of memory, which the hardware prefetches;
        // blocked by k, the strips' short stretches lie a row apart and arrive late), else
        // KC at a time (the panel then serves many tiles from L1).
        _ if BLOCKS && few => (g.k, NR),
        _ if BLOCKS => (KC.min(g.k), NR),
        // (A B small enough to stay in the caches is better read without blocking k.)
        (true, true) if g.k * g.n <= CACHED => (g.k, NR),
        (true, true) => (KC_FEW.min(g.k), NR),
        (true, false) => (g.k, NR),
        (false, true) => (KC.min(g.k), NC),
        // A transposed B's strips are read along its contiguous columns: one at a time.
        (false, false) => (KC.min(g.k), NR),
    };
    let mut panels = vec![0.0f32; kc_max * nc_max];
    // Where blocks are dequantized, NR rows of kc values, before the transpose into a panel.
    let mut rows = vec![0.0f32; if BLOCKS { kc_max * NR } else { 0 }];
    for pc in (0..g.k).step_by(kc_max) {
        let kc = kc_max.min(g.k - pc);
        // The first block stores into C, later ones add to it; the last one adds the bias.
        let (first, last) = (pc == 0 && !g.acc, pc + kc == g.k);
        for jc in (0..g.n).step_by(nc_max) {
            let nc = nc_max.min(g.n - jc);
            let in_place = in_place && nc == NR;
            match blocks {
                Some(parts) => pack_blocks::<NR, AVX2>(&mut panels, &mut rows, parts, pc, kc, jc, nc),
                None if !in_place => pack_panels::<NR, AVX2>(&mut panels, kc, nc, g.b.add(pc * g.rsb + jc * g.csb), g.rsb, g.csb),
                None => {}
            }
            for (strip, j0) in (jc..jc + nc).step_by(NR).enumerate() {
                let nr = NR.min(g.n - j0);
                let (b, ldb) = if in_place { (g.b.add(pc * g.rsb + j0), g.rsb) } else { (panels.as_ptr().add(strip * kc * NR), NR) };
                let bias = if last && !g.bias.is_null() { g.bias.add(j0) } else { std::ptr::null() };
                let prefetch = match (few, in_place) {
                    (false, _) => Prefetch::NONE,
                    _ if BLOCKS => Prefetch::NONE,
                    // This strip's share of the next block of rows.
                    (true, true) if !last && kc == KC_FEW => Prefetch { at: g.b.add((pc + kc) * g.rsb + j0 * kc), stride: NR, ..Prefetch::NONE },
                    // The next strip of U.
                    (true, false) if g.csb != 1 && j0 + 2 * NR <= g.n => Prefetch { at: g.b.add((j0 + NR) * g.csb), stride: NR, ..Prefetch::NONE },
                    _ => Prefetch::NONE,
                };
                // The strip's tiles share the prefetching out, each asking for one row every
                // `tiles` steps: asked for all at once, the rows would queue up.
                let tiles = g.m.div_ceil(MR);
                for (r, i0) in (0..g.m).step_by(MR).enumerate() {
                    let rows = (r * kc / tiles, (r + 1) * kc / tiles);
                    let prefetch = Prefetch {
                        at: prefetch.at.wrapping_add(rows.0 * prefetch.stride),
                        rows: if prefetch.at.is_null() { 0 } else { rows.1 - rows.0 },
                        every: tiles,
                        ..prefetch
                    };
                    let t = Tile { kc, a: g.a.add(i0 * g.lda + pc), lda: g.lda, b, ldb, c: g.c.add(i0 * g.ldc + j0), ldc: g.ldc, nr, first, bias, prefetch };
                    // The last tile may have fewer rows: a tile shape for each count.
                    match MR.min(g.m - i0) {
                        r if r == MR => tile::<MR, NR, AVX2>(&t),
                        1 => tile::<1, NR, AVX2>(&t),
                        2 => tile::<2, NR, AVX2>(&t),
                        3 => tile::<3, NR, AVX2>(&t),
                        4 => tile::<4, NR, AVX2>(&t),
                        5 => tile::<5, NR, AVX2>(&t),
                        6 => tile::<6, NR, AVX2>(&t),
                        7 => tile::<7, NR, AVX2>(&t),
                        _ => unreachable!("tiles have at most 8 rows"),
                    }
                }
            }
        }
    }
}

/// Up to this many rows, B is read in place or packed strip by strip (see above).
const FEW_ROWS: usize = 16;

/// Below this many floats (1 MiB), a B read in place is taken to stay in the caches.
const CACHED: usize = 1 << 18;

/// Rows of B per block when B is read in place: the next block (KC_FEW·n floats, 768 KiB
/// for GPT-2-small's MLP) is prefetched into L2 while this one is used.
const KC_FEW: usize = 64;

/// Dequantizes columns jc..jc + nc of B (rows of the blocks `parts`) over k = pc..pc + kc
/// into `rows` (row by row, kc values each) and transposes them into panels of NR columns,
/// as `pack_panels` lays them out.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_blocks<const NR: usize, const AVX2: bool>(panels: &mut [f32], rows: &mut [f32], parts: &[Blocks], pc: usize, kc: usize, jc: usize, nc: usize) {
    for (s, j0) in (0..nc).step_by(NR).enumerate() {
        let nr = NR.min(nc - j0);
        for (j, out) in rows.chunks_exact_mut(kc).take(nr).enumerate() {
            let (p, r) = Matrix::locate(parts, jc + j0 + j);
            dequant::decode::<AVX2>(p.ty, p.row_cols(r, pc..pc + kc), out);
        }
        pack_panel::<NR, AVX2>(&mut panels[s * kc * NR..(s + 1) * kc * NR], kc, nr, rows.as_ptr(), 1, kc);
    }
}

/// Copies B's kc × nc block at `b` into panels of NR columns, one after another: panel s
/// holds columns s·NR.. with its row p at s·kc·NR + p·NR, zero beyond column nc.
#[inline(always)]
unsafe fn pack_panels<const NR: usize, const AVX2: bool>(panels: &mut [f32], kc: usize, nc: usize, b: *const f32, rsb: usize, csb: usize) {
    if csb == 1 {
        // B's rows are contiguous (W as stored): each row's nc floats are read in one run.
        for p in 0..kc {
            let src = b.add(p * rsb);
            for (s, j0) in (0..nc).step_by(NR).enumerate() {
                let row = &mut panels[(s * kc + p) * NR..][..NR];
                if j0 + NR <= nc {
                    // A fixed-size copy: a few vector moves, not a call to memmove.
                    row.copy_from_slice(&src.add(j0).cast::<[f32; NR]>().read_unaligned());
                } else {
                    row[..nc - j0].copy_from_slice(std::slice::from_raw_parts(src.add(j0), nc - j0));
                    row[nc - j0..].fill(0.0);
                }
            }
        }
    } else {
        for (panel, j0) in panels.chunks_exact_mut(kc * NR).zip((0..nc).step_by(NR)) {
            pack_panel::<NR, AVX2>(panel, kc, NR.min(nc - j0), b.add(j0 * csb), rsb, csb);
        }
    }
}

/// Copies B's kc × nr block at `b` into the panel, row p at p·NR, zero beyond column nr,
/// for a B whose rows are not contiguous (`pack_panels` copies the others row by row).
/// With B's columns contiguous (Uᵀ, Kᵀ) this is a transpose: element by element it cost as
/// much as the matmul (the compiler turned the strided writes into scatters), so with AVX
/// it goes by 8×8 blocks transposed in registers.
#[inline(always)]
unsafe fn pack_panel<const NR: usize, const AVX2: bool>(panel: &mut [f32], kc: usize, nr: usize, b: *const f32, rsb: usize, csb: usize) {
    let dst = panel.as_mut_ptr();
    #[cfg(target_arch = "x86_64")]
    let done = if AVX2 && rsb == 1 { pack_columns_avx::<NR>(dst, kc, nr, b, csb) } else { 0 };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for j in done..NR {
        let src = b.add(j * csb);
        for p in 0..kc {
            *dst.add(p * NR + j) = if j < nr { *src.add(p * rsb) } else { 0.0 };
        }
    }
}

/// The transposed packing's whole groups of 8 columns (contiguous in memory), by 8×8 blocks
/// transposed in registers; returns how many columns it packed.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pack_columns_avx<const NR: usize>(dst: *mut f32, kc: usize, nr: usize, b: *const f32, csb: usize) -> usize {
    let (p8, j8) = (kc - kc % 8, nr - nr % 8);
    for j in (0..j8).step_by(8) {
        for p in (0..p8).step_by(8) {
            transpose8x8(b.add(j * csb + p), csb, dst.add(p * NR + j), NR);
        }
        for jj in j..j + 8 {
            for p in p8..kc {
                *dst.add(p * NR + jj) = *b.add(jj * csb + p);
            }
        }
    }
    j8
}

/// dst row r, column c ← src row c, column r, for an 8×8 block (rows at the given strides;
/// src's columns contiguous, as for B's columns with rsb = 1): the classic AVX sequence of
/// unpacks, shuffles and lane permutes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose8x8(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * src_stride)));
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(x, y)
        } else {
            _mm256_unpackhi_ps(x, y)
        }
    });
    // s[4h + q]: for rows 4h..4h+4, columns q, q+4 (lanes 0 and 1).
    let s: [__m256; 8] = std::array::from_fn(|i| {
        let (h, q) = (i / 4, i % 4);
        let (x, y) = (t[4 * h + q / 2], t[4 * h + 2 + q / 2]);
        if q % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(x, y)
        } else {
            _mm256_shuffle_ps::<0xEE>(x, y)
        }
    });
    for c in 0..8 {
        let (x, y) = (s[c % 4], s[4 + c % 4]);
        let v = if c < 4 { _mm256_permute2f128_ps::<0x20>(x, y) } else { _mm256_permute2f128_ps::<0x31>(x, y) };
        _mm256_storeu_ps(dst.add(c * dst_stride), v);
    }
}

/// One MR×NR tile of C and what it is computed from.
struct Tile {
    kc: usize,
    a: *const f32,
    lda: usize,
    /// B's kc × NR block: the packed panel, or B itself.
    b: *const f32,
    /// Row stride of `b`: NR for the panel, B's own for B in place.
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    /// Columns of the tile inside C (the rest of the panel is zero padding).
    nr: usize,
    /// Store (first block of k) or add to C.
    first: bool,
    /// nr values to add (last block of k), or null.
    bias: *const f32,
    /// B that the next tiles will read, to bring into L2 meanwhile.
    prefetch: Prefetch,
}

/// `rows` rows of NR floats, `stride` apart from `at`, for a tile to ask for, one every
/// `every` steps of k.
#[derive(Clone, Copy)]
struct Prefetch {
    at: *const f32,
    stride: usize,
    rows: usize,
    every: usize,
}

impl Prefetch {
    const NONE: Prefetch = Prefetch { at: std::ptr::null(), stride: 0, rows: 0, every: 1 };
}

/// C[R×nr] (+)= A[R×kc] · panel[kc×NR]: the R×NR sums live in an array the compiler keeps in
/// SIMD registers (R·NR/16 zmm for AVX-512).
#[inline(always)]
unsafe fn tile<const R: usize, const NR: usize, const AVX2: bool>(t: &Tile) {
    let mut acc = [[0.0f32; NR]; R];
    let (mut pf, mut wait) = (t.prefetch, 0);
    for p in 0..t.kc {
        let b = t.b.add(p * t.ldb).cast::<[f32; NR]>().read_unaligned();
        // (Only where there is a prefetch instruction: elsewhere the count would be all.)
        if HAS_PREFETCH && pf.rows > 0 {
            if wait == 0 {
                for line in (0..NR).step_by(16) {
                    prefetch(pf.at.add(line));
                }
                (pf.at, pf.rows, wait) = (pf.at.wrapping_add(pf.stride), pf.rows - 1, pf.every);
            }
            wait -= 1;
        }
        for (i, acc) in acc.iter_mut().enumerate() {
            let a = *t.a.add(i * t.lda + p);
            for j in 0..NR {
                acc[j] = if AVX2 { a.mul_add(b[j], acc[j]) } else { acc[j] + a * b[j] };
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let c = t.c.add(i * t.ldc);
        if t.nr == NR {
            // A whole row of the tile: whole-vector loads and stores.
            let mut v = *row;
            if !t.first {
                let old = c.cast::<[f32; NR]>().read_unaligned();
                for j in 0..NR {
                    v[j] += old[j];
                }
            }
            if !t.bias.is_null() {
                let b = t.bias.cast::<[f32; NR]>().read_unaligned();
                for j in 0..NR {
                    v[j] += b[j];
                }
            }
            c.cast::<[f32; NR]>().write_unaligned(v);
        } else {
            // The last columns of C. (A copy of the row, indexed with a run-time bound:
            // indexing `acc` so would make the compiler keep all of it in memory, in the
            // loop above too.)
            let row: [f32; NR] = *row;
            for (j, &v) in row.iter().enumerate().take(t.nr) {
                let mut v = if t.first { v } else { *c.add(j) + v };
                if !t.bias.is_null() {
                    v += *t.bias.add(j);
                }
                *c.add(j) = v;
            }
        }
    }
}

/// Whether `prefetch` does anything: x86-64 has the instruction, wasm has none.
const HAS_PREFETCH: bool = cfg!(target_arch = "x86_64");

/// Asks for the 64-byte cache line at `p` to be brought into L2 (where HAS_PREFETCH).
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Runs the blocked matmul with the widest tile this CPU has registers for.
///
/// # Safety
/// `g` must describe valid arrays.
unsafe fn gemm(g: &Gemm) {
    if g.blocks.is_some() {
        return gemm_blocks(g);
    }
    #[cfg(target_arch = "x86_64")]
    match simd_level() {
        // 16 of the 32 zmm registers hold an 8×32 tile.
        Simd::Avx512 => return gemm_avx512(g),
        // 12 of the 16 ymm registers hold a 6×16 tile.
        Simd::Avx2 => return gemm_avx2(g),
        Simd::Base => {}
    }
    gemm_base(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gemm_avx512(g: &Gemm) {
    gemm_blocked::<8, 32, 128, true, false>(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2(g: &Gemm) {
    gemm_blocked::<6, 16, 16, true, false>(g)
}

/// 4×8: 8 of the 16 xmm registers (SSE2; wasm32 simd128). No fused multiply-add: SSE2 and
/// wasm's simd128 have none, and `mul_add` would call libm.
#[inline(never)]
unsafe fn gemm_base(g: &Gemm) {
    gemm_blocked::<4, 8, 8, false, false>(g)
}

/// [`gemm`] for B in blocks: the same tiles, with the dequantizing packing.
///
/// # Safety
/// `g` must describe valid arrays.
unsafe fn gemm_blocks(g: &Gemm) {
    #[cfg(target_arch = "x86_64")]
    match simd_level() {
        Simd::Avx512 => return gemm_blocks_avx512(g),
        Simd::Avx2 => return gemm_blocks_avx2(g),
        Simd::Base => {}
    }
    gemm_blocks_base(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gemm_blocks_avx512(g: &Gemm) {
    gemm_blocked::<8, 32, 128, true, true>(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_blocks_avx2(g: &Gemm) {
    gemm_blocked::<6, 16, 16, true, true>(g)
}

#[inline(never)]
unsafe fn gemm_blocks_base(g: &Gemm) {
    gemm_blocked::<4, 8, 8, false, true>(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    /// Every route through the blocked matmul, on this machine's CPU: the portable tile and,
    /// where the CPU has them, the AVX2 and AVX-512 ones; full and partial tiles and strips,
    /// one and several blocks of k, few rows (B in place or packed by strips) and many,
    /// transposed B, bias, and column blocks of wider arrays. Against a sum in f64.
    #[test]
    fn matmul_matches_a_plain_sum_on_every_path() {
        let mut seed = 7u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        type Path = (&'static str, unsafe fn(&Gemm));
        let mut paths: Vec<Path> = vec![("portable", gemm_base)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                paths.push(("avx2", gemm_avx2));
            }
            if is_x86_feature_detected!("avx512f") {
                paths.push(("avx512", gemm_avx512));
            }
        }
        for &(m, k, n) in &[(1, 1, 1), (3, 0, 5), (2, 7, 33), (5, 33, 40), (8, 300, 64), (9, 31, 77), (16, 600, 70), (17, 40, 33), (33, 257, 100), (70, 20, 65)]
        {
            for transposed in [false, true] {
                let a = Array2::from_shape_fn((m, k + 3), |_| rnd());
                let a = a.slice(s![.., 1..k + 1]); // rows spaced wider than k
                let w: Array2<f32> = Array2::from_shape_fn(if transposed { (n, k) } else { (k, n) }, |_| rnd());
                let b = if transposed { w.t() } else { w.view() };
                let bias: Vec<f32> = (0..n).map(|_| rnd()).collect();
                let want = |i: usize, j: usize| (0..k).map(|p| a[[i, p]] as f64 * b[[p, j]] as f64).sum::<f64>() + bias[j] as f64;
                for (name, path) in &paths {
                    let mut c = Array2::from_elem((m, n + 2), f32::NAN);
                    let mut cv = c.slice_mut(s![.., 1..n + 1]); // a column block of a wider array
                    let (ldc, cp) = (if m > 1 { cv.strides()[0] as usize } else { n }, cv.as_mut_ptr());
                    let g = Gemm {
                        m,
                        k,
                        n,
                        a: a.as_ptr(),
                        lda: if m > 1 { a.strides()[0] as usize } else { k },
                        b: b.as_ptr(),
                        rsb: b.strides()[0] as usize,
                        csb: b.strides()[1] as usize,
                        c: cp,
                        ldc,
                        bias: bias.as_ptr(),
                        acc: false,
                        blocks: None,
                    };
                    if k == 0 {
                        // gemm_into's own case: the blocked loop needs k ≥ 1.
                        unsafe { gemm_into(a.view(), b, Some(&bias), cp, ldc, false) };
                    } else {
                        unsafe { path(&g) };
                    }
                    for i in 0..m {
                        assert!(c[[i, 0]].is_nan() && c[[i, n + 1]].is_nan(), "{name} m={m} k={k} n={n}: wrote outside C");
                        for j in 0..n {
                            let (got, want) = (c[[i, j + 1]] as f64, want(i, j));
                            assert!(
                                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                "{name} m={m} k={k} n={n} transposed={transposed} at ({i}, {j}): {got} vs {want}"
                            );
                        }
                    }
                }
                // An A with contiguous columns instead of rows, which gemm_into copies first.
                let a_cols = a.t().as_standard_layout().into_owned();
                let c = matmul(a_cols.t(), b, Some(&bias));
                for ((i, j), &got) in c.indexed_iter() {
                    let want = want(i, j);
                    assert!((got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "column-major A m={m} k={k} n={n} transposed={transposed} at ({i}, {j})");
                }
            }
        }
    }
}
