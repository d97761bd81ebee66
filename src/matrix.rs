//! A matrix of learned parameters as the engine holds it in memory: f32 values, or ggml
//! blocks (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) read in place from the
//! bytes of the file they came in. The kernels that read blocks dequantize them as they go,
//! so a 4-bit file takes about its own size in memory instead of eight times as much as f32,
//! and every weight a kernel multiplies by is exactly the value ggml's reference
//! dequantization gives ([`crate::quant`]).
//!
//! Blocks are row-major, each row a whole number of blocks: a row of a linear layer's
//! [out, in] matrix (nn.Linear's layout, as GGUF stores it) is one output's weights, and a
//! row of an embedding table is one token's. A projection fused from several tensors
//! (Llama's q, k and v) is a stack of row blocks, each in its own type, so nothing is copied
//! or converted to fuse them; llama.cpp's reordering of q and k rows is undone as rows are
//! read ([`Blocks::unpermute`]).

use crate::error::{Error, Result};
use crate::quant::{self, GgmlType};
use ndarray::Array2;
use std::ops::Range;
use std::sync::Arc;

/// Bytes that weights are read from in place: a range of a file's bytes, shared by every
/// tensor cut from the file (which then lives as long as any of them).
#[derive(Clone)]
pub struct Bytes {
    buf: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl Bytes {
    /// `range` of `buf`; panics if it lies outside (the loaders check ranges first).
    pub fn new(buf: Arc<Vec<u8>>, range: Range<usize>) -> Bytes {
        assert!(range.start <= range.end && range.end <= buf.len(), "byte range outside its buffer");
        Bytes { buf, range }
    }

    /// Bytes of their own (a tensor a loader had to rearrange).
    pub fn owned(v: Vec<u8>) -> Bytes {
        let n = v.len();
        Bytes { buf: Arc::new(v), range: 0..n }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }
}

/// One tensor of ggml blocks [rows, cols], row-major.
#[derive(Clone)]
pub struct Blocks {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    bytes: Bytes,
    /// Head width when the rows are in llama.cpp's order for its interleaved RoPE (q and k
    /// of its Llama converter): row r of the model is then stored row [`unpermute`]`(r, hd)`.
    pub permuted: Option<usize>,
}

/// The stored row of model row `r` in a q or k projection whose rows llama.cpp permuted
/// for heads `hd` wide: within each head, stored row 2i + j is model row j·hd/2 + i
/// (j ∈ {0, 1}).
pub fn unpermute(r: usize, hd: usize) -> usize {
    let (h, k, half) = (r / hd, r % hd, hd / 2);
    h * hd + 2 * (k % half) + k / half
}

impl Blocks {
    /// `rows` rows of `cols` values of type `ty` in `bytes`, checked: the type must be one
    /// held in blocks, `cols` a whole number of its blocks, and `bytes` exactly their size.
    /// Errors say what is wrong without naming the tensor (the loader adds its name).
    pub fn new(ty: GgmlType, rows: usize, cols: usize, bytes: Bytes) -> std::result::Result<Blocks, String> {
        if !ty.held_as_blocks() {
            return Err(format!("ggml type {ty} is not held in blocks (they are {})", quant::blocks_list()));
        }
        if !cols.is_multiple_of(ty.block_size()) {
            return Err(format!("its rows of {cols} values are not a whole number of {ty} blocks ({} values each)", ty.block_size()));
        }
        let want = (cols / ty.block_size()).checked_mul(ty.type_size()).and_then(|r| r.checked_mul(rows));
        if want != Some(bytes.as_slice().len()) {
            return Err(format!(
                "{rows} rows of {cols} {ty} values take {} bytes, but it has {}",
                (cols / ty.block_size()) as u128 * ty.type_size() as u128 * rows as u128,
                bytes.as_slice().len()
            ));
        }
        Ok(Blocks { ty, rows, cols, bytes, permuted: None })
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_size() * self.ty.type_size()
    }

    /// Every row's bytes, in stored order.
    pub fn data(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Where model row `r` is stored.
    pub fn stored_row(&self, r: usize) -> usize {
        match self.permuted {
            Some(hd) => unpermute(r, hd),
            None => r,
        }
    }

    /// The blocks of model row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let n = self.row_bytes();
        let s = self.stored_row(r);
        &self.data()[s * n..(s + 1) * n]
    }

    /// The blocks of model row `r` that hold columns `cols` (which start and end on block
    /// boundaries).
    pub fn row_cols(&self, r: usize, cols: Range<usize>) -> &[u8] {
        let (bs, ts) = (self.ty.block_size(), self.ty.type_size());
        debug_assert!(cols.start.is_multiple_of(bs) && cols.end.is_multiple_of(bs), "columns cut blocks");
        &self.row(r)[cols.start / bs * ts..cols.end / bs * ts]
    }

    /// Model row `r` as f32, into `out` (`cols` values).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        quant::decode_blocks(self.ty, self.row(r), out);
    }

    /// Checks that every value is finite, reading only what decides it: the f16 scales of
    /// each block (every value of a block with finite scales is finite), or every value of
    /// F16 and BF16. Returns the first offending block.
    pub fn check_finite(&self) -> std::result::Result<(), String> {
        let (data, size) = (self.data(), self.ty.type_size());
        let bf16 = self.ty == GgmlType::BF16;
        let fields: &[usize] = quant::scale_offsets(self.ty);
        for (i, block) in data.chunks_exact(size).enumerate() {
            for &o in fields {
                let h = u16::from_le_bytes([block[o], block[o + 1]]);
                // The exponent's bits all set: ±∞ or NaN (f16: 5 bits; bf16: 8).
                let bad = if bf16 { h & 0x7F80 == 0x7F80 } else { h & 0x7C00 == 0x7C00 };
                if bad {
                    let what = if self.ty.block_size() == 1 { format!("value {i}") } else { format!("block {i} (values {}..)", i * self.ty.block_size()) };
                    return Err(format!("{what} of its {} data is not finite (f16 bits {h:#06x})", self.ty));
                }
            }
        }
        Ok(())
    }
}

/// A matrix of learned parameters. In a `Linear` (weights.rs), F32 is [in, out] (so
/// that x · W needs no transpose) and Blocks is [out, in]; an embedding table is
/// [rows, width] either way.
#[derive(Clone)]
pub enum Matrix {
    F32(Array2<f32>),
    /// Row blocks stacked in order (one for a plain tensor; q, k and v for a fused
    /// projection), all `cols` wide.
    Blocks(Vec<Blocks>),
}

impl Matrix {
    pub fn rows(&self) -> usize {
        match self {
            Matrix::F32(a) => a.nrows(),
            Matrix::Blocks(parts) => parts.iter().map(|p| p.rows).sum(),
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Matrix::F32(a) => a.ncols(),
            Matrix::Blocks(parts) => parts.first().map_or(0, |p| p.cols),
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.rows() * self.cols()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes it takes in memory.
    pub fn bytes(&self) -> usize {
        match self {
            Matrix::F32(a) => 4 * a.len(),
            Matrix::Blocks(parts) => parts.iter().map(|p| p.data().len()).sum(),
        }
    }

    /// The ggml type of each part: "F32" for f32 values.
    pub fn types(&self) -> Vec<&'static str> {
        match self {
            Matrix::F32(_) => vec!["F32"],
            Matrix::Blocks(parts) => parts.iter().map(|p| p.ty.name()).collect(),
        }
    }

    /// The part holding row `r`, and the row within it.
    pub fn locate(parts: &[Blocks], mut r: usize) -> (&Blocks, usize) {
        for p in parts {
            if r < p.rows {
                return (p, r);
            }
            r -= p.rows;
        }
        panic!("row {r} past the end of the matrix")
    }

    /// Row `r` as f32 into `out` (`cols` values).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        match self {
            Matrix::F32(a) => out.copy_from_slice(a.row(r).as_slice().expect("weights are contiguous")),
            Matrix::Blocks(parts) => {
                let (p, r) = Matrix::locate(parts, r);
                p.dequantize_row(r, out);
            }
        }
    }

    /// Row `r` as f32.
    pub fn row(&self, r: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.cols()];
        self.row_into(r, &mut out);
        out
    }

    /// Rows `rows`, as f32 [n, cols].
    pub fn gather(&self, rows: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
        let mut out = Array2::zeros((rows.len(), self.cols()));
        for (mut o, r) in out.rows_mut().into_iter().zip(rows) {
            self.row_into(r, o.as_slice_mut().expect("fresh array is contiguous"));
        }
        out
    }

    /// The whole matrix as f32 [rows, cols].
    pub fn to_f32(&self) -> Array2<f32> {
        self.gather(0..self.rows())
    }

    /// A matrix of `ty` blocks from a file's bytes, or the error naming `name`.
    pub fn blocks(name: &str, ty: GgmlType, rows: usize, cols: usize, bytes: Bytes, error: fn(String) -> Error) -> Result<Matrix> {
        let b = Blocks::new(ty, rows, cols, bytes).map_err(|m| error(format!("tensor \"{name}\": {m}")))?;
        b.check_finite().map_err(|m| error(format!("tensor \"{name}\": {m}")))?;
        Ok(Matrix::Blocks(vec![b]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_is_a_permutation_within_each_head() {
        for hd in [2, 4, 64] {
            let mut seen: Vec<usize> = (0..3 * hd).map(|r| unpermute(r, hd)).collect();
            assert!(seen.iter().enumerate().all(|(r, &s)| s / hd == r / hd));
            seen.sort();
            assert_eq!(seen, (0..3 * hd).collect::<Vec<_>>());
        }
    }

    #[test]
    fn blocks_refuse_sizes_that_do_not_match_their_type() {
        let bytes = |n: usize| Bytes::owned(vec![0; n]);
        assert!(Blocks::new(GgmlType::Q8_0, 2, 64, bytes(4 * 34)).is_ok());
        let e = Blocks::new(GgmlType::Q8_0, 2, 64, bytes(4 * 34 - 1)).err().unwrap();
        assert!(e.contains("take 136 bytes, but it has 135"), "{e}");
        let e = Blocks::new(GgmlType::Q4_K, 1, 32, bytes(18)).err().unwrap();
        assert!(e.contains("not a whole number of Q4_K blocks"), "{e}");
        let e = Blocks::new(GgmlType::Q2_K, 1, 256, bytes(84)).err().unwrap();
        assert!(e.contains("not held in blocks"), "{e}");
        // A Q4_0 block whose scale is +∞.
        let mut raw = vec![0u8; 18];
        raw[..2].copy_from_slice(&0x7C00u16.to_le_bytes());
        let e = Blocks::new(GgmlType::Q4_0, 1, 32, Bytes::owned(raw)).unwrap().check_finite().unwrap_err();
        assert!(e.contains("block 0"), "{e}");
    }
}
