//! Reading GGUF, llama.cpp's single-file model format.
//!
//! A GGUF file is, in order: the magic bytes "GGUF", a version, the tensor and metadata
//! counts; typed metadata key/values (hyperparameters, the tokenizer's vocabulary and
//! merges, …); one info record per tensor (name, dims, ggml type, offset); padding to the
//! alignment (`general.alignment`, default 32); and the data section, which the tensor
//! offsets index. All integers are little-endian.
//!
//! [`Gguf::parse`] reads everything up to the data section and borrows the data from the
//! caller's bytes, so nothing is copied until a tensor is dequantized
//! ([`Gguf::dequantize`], [`crate::quant`]).
//!
//! The reader treats its input as untrusted: it never panics, and it checks every length
//! and count against the bytes left before allocating, so a corrupt file costs at most a
//! small multiple of its own size in memory. It refuses, with an error naming the part at
//! fault: files that are not GGUF; GGUF versions other than 2 and 3 (v1 is the 2023
//! pre-release format) and big-endian files; truncated files; unknown metadata value
//! types; strings that are not UTF-8; bools other than 0 and 1; arrays nested deeper than
//! [`MAX_NESTING`]; duplicate metadata keys and tensor names; tensors of more than four
//! dimensions, whose element count overflows, whose rows are not whole blocks of their
//! type, whose ggml type is unknown, whose bytes lie outside the data section, or whose
//! bytes overlap another tensor's (so that their size, by type and dims, is not what the
//! file holds); and an alignment that is not a power of two.

use crate::error::{Error, Result};
use crate::quant;
pub use crate::quant::GgmlType;
use std::collections::HashMap;
use std::fmt;

const MAGIC: [u8; 4] = *b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// How deep arrays of arrays may nest. Real files nest at most once; the limit keeps a
/// hostile file from recursing the parser's stack away.
pub const MAX_NESTING: usize = 8;

mod reader;
mod value;

use reader::{Fault, Reader};
pub use value::{Array, FromValue, Value};

/// One tensor's entry in the file's tensor infos.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` varies fastest (a row's length); the reverse of PyTorch's shape.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset of the tensor's data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// The number of values. Exact for every tensor [`Gguf::parse`] returns (it refuses
    /// overflowing dims); saturates for hand-made infos, which [`Gguf::raw`] then refuses.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// The PyTorch shape (dims reversed): the values of [`Gguf::dequantize`] are in this
    /// shape's row-major order. A dimension too large for `usize` saturates.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect()
    }

    /// The tensor's bytes in the data section, checked against a data section of
    /// `data_len` bytes. Errors are complete messages.
    fn byte_range(&self, data_len: usize) -> std::result::Result<std::ops::Range<usize>, String> {
        let name = &self.name;
        let (ty, dims) = (self.ty, &self.dims);
        let n = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("GGUF: tensor {name:?} has dims {dims:?}, whose product overflows 64 bits"))?;
        let row = dims.first().copied().unwrap_or(1);
        let block = ty.block_size() as u64;
        if !row.is_multiple_of(block) {
            return Err(format!(
                "GGUF: tensor {name:?} has rows of {row} values (dims {dims:?}), which is not a \
                 whole number of {ty} blocks ({block} values each)"
            ));
        }
        let size = ty.bytes_for(n).ok_or_else(|| format!("GGUF: tensor {name:?} ({ty}, dims {dims:?}) has a byte size that overflows 64 bits"))?;
        let start = self.offset;
        if start > data_len as u64 {
            return Err(format!(
                "GGUF: tensor {name:?} has data offset {start}, past the end of the data \
                 section ({data_len} bytes)"
            ));
        }
        match start.checked_add(size) {
            Some(end) if end <= data_len as u64 => Ok(start as usize..end as usize),
            _ => Err(format!(
                "GGUF: the file is truncated: tensor {name:?} needs bytes {start}..{} of the \
                 data section, which has {data_len}",
                u128::from(start) + u128::from(size)
            )),
        }
    }
}

/// A parsed GGUF file, borrowing its tensor data from the bytes it was parsed from.
pub struct Gguf<'a> {
    version: u32,
    metadata: Vec<(String, Value)>,
    keys: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    names: HashMap<String, usize>,
    alignment: u64,
    data_offset: usize,
    data: &'a [u8],
}

impl fmt::Debug for Gguf<'_> {
    // The derived form would print the whole data section.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gguf")
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl<'a> Gguf<'a> {
    /// Parses a whole GGUF file.
    pub fn parse(bytes: &'a [u8]) -> Result<Gguf<'a>> {
        Self::parse_with(bytes, bytes.len() as u64, true)
    }

    /// Parses the metadata and tensor infos from the first bytes of a file of `file_len`
    /// bytes (a download's first range), without the tensor data: enough to size a model
    /// before fetching it. Tensor data accessors fail on the result.
    pub fn parse_header(prefix: &'a [u8], file_len: u64) -> Result<Gguf<'a>> {
        Self::parse_with(prefix, file_len, false)
    }

    fn parse_with(bytes: &'a [u8], file_len: u64, whole: bool) -> Result<Gguf<'a>> {
        let mut r = Reader { bytes, pos: 0 };
        let at = |context: &str, fault: Fault| Error::Gguf(format!("GGUF: {context}: {fault}"));

        if bytes.len() < 4 {
            return Err(Error::Gguf(format!(
                "GGUF: not a GGUF file: it is {} bytes long, expected at least a 24-byte header \
                 starting with \"GGUF\"",
                bytes.len()
            )));
        }
        if bytes[..4] != MAGIC {
            let hex: Vec<String> = bytes[..4].iter().map(|b| format!("{b:02X}")).collect();
            return Err(Error::Gguf(format!("GGUF: not a GGUF file: the first 4 bytes are {}, expected \"GGUF\" (47 47 55 46)", hex.join(" "))));
        }
        r.pos = 4;
        let version = r.u32("the version").map_err(|f| at("the header", f))?;
        match version {
            2 | 3 => {}
            1 => {
                return Err(Error::Gguf(
                    "GGUF: version 1 files (the 2023 pre-release format) are not supported; \
                     expected version 2 or 3 (re-convert the model with a current llama.cpp)"
                        .into(),
                ))
            }
            v if matches!(v.swap_bytes(), 1..=3) => {
                return Err(Error::Gguf(format!(
                    "GGUF: this is a big-endian GGUF file (version field {v:#010x}); only \
                     little-endian files are supported"
                )))
            }
            v => return Err(Error::Gguf(format!("GGUF: unsupported version {v}; expected version 2 or 3"))),
        }
        let n_tensors = r.u64("the tensor count").map_err(|f| at("the header", f))?;
        let n_kv = r.u64("the metadata count").map_err(|f| at("the header", f))?;
        // A metadata entry takes at least 13 bytes (key length, value type, a u8) and a
        // tensor info 24 (name length, dimension count, type, offset): counts the rest of
        // the file cannot hold are corrupt, and must not size an allocation.
        let rest = if whole { r.remaining() as u64 } else { file_len.saturating_sub(r.pos as u64) };
        let need = n_kv.checked_mul(13).zip(n_tensors.checked_mul(24)).and_then(|(a, b)| a.checked_add(b));
        if need.is_none_or(|need| need > rest) {
            return Err(Error::Gguf(format!(
                "GGUF: the header declares {n_kv} metadata entries and {n_tensors} tensors, which \
                 take at least {} bytes, but only {rest} bytes follow the header (the file is \
                 truncated or corrupt)",
                13 * u128::from(n_kv) + 24 * u128::from(n_tensors)
            )));
        }
        let (n_kv, n_tensors) = (n_kv as usize, n_tensors as usize);

        let mut metadata = Vec::with_capacity(n_kv);
        let mut keys = HashMap::with_capacity(n_kv);
        for i in 0..n_kv {
            let key = r.string("the key").map_err(|f| at(&format!("metadata entry #{i}"), f))?;
            let value = r.value().map_err(|f| at(&format!("metadata {key:?}"), f))?;
            if keys.insert(key.to_owned(), metadata.len()).is_some() {
                return Err(Error::Gguf(format!("GGUF: metadata key {key:?} appears twice")));
            }
            metadata.push((key.to_owned(), value));
        }

        let mut tensors = Vec::with_capacity(n_tensors);
        let mut names = HashMap::with_capacity(n_tensors);
        for i in 0..n_tensors {
            let name = r.string("the name").map_err(|f| at(&format!("tensor info #{i}"), f))?;
            let info = r.tensor_info(name).map_err(|f| at(&format!("tensor {name:?}"), f))?;
            if names.insert(name.to_owned(), tensors.len()).is_some() {
                return Err(Error::Gguf(format!("GGUF: tensor {name:?} appears twice")));
            }
            tensors.push(info);
        }

        let alignment = match keys.get("general.alignment").map(|&i| &metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => return Err(Error::Gguf(format!("GGUF: metadata \"general.alignment\" is {}, expected a power of two", v.describe()))),
            },
        };
        let end_of_infos = r.pos as u64;
        let data_offset = end_of_infos.div_ceil(alignment).saturating_mul(alignment);
        let data = match usize::try_from(data_offset).ok().and_then(|o| bytes.get(o..)) {
            _ if !whole => &bytes[bytes.len()..],
            Some(data) => data,
            // A file without tensors may end right after its infos, without padding.
            None if tensors.is_empty() => &bytes[bytes.len()..],
            None => {
                return Err(Error::Gguf(format!(
                    "GGUF: the file is truncated: the data section starts at byte {data_offset} \
                     (the end of the tensor infos, {end_of_infos}, padded to the alignment \
                     {alignment}), but the file is {} bytes long",
                    bytes.len()
                )))
            }
        };
        let data_len = if whole { data.len() as u64 } else { file_len.saturating_sub(data_offset) };
        let mut spans = Vec::with_capacity(tensors.len());
        for t in &tensors {
            spans.push((t.byte_range(usize::try_from(data_len).unwrap_or(usize::MAX)).map_err(Error::Gguf)?, t));
        }
        // Each tensor's size comes from its type and dims; data that runs into the next
        // tensor's means that one of them is not what its type says (a block size that does
        // not match its type, dims too large).
        spans.retain(|(r, _)| !r.is_empty());
        spans.sort_by_key(|(r, _)| r.start);
        if let Some(w) = spans.windows(2).find(|w| w[0].0.end > w[1].0.start) {
            let ((a, ta), (b, tb)) = (&w[0], &w[1]);
            return Err(Error::Gguf(format!(
                "GGUF: tensor {:?} ({}, dims {:?}) takes bytes {}..{} of the data section, but tensor {:?} ({}) starts at byte {}: \
                 their data overlaps, so one of them is not the size its type and dims imply",
                ta.name, ta.ty, ta.dims, a.start, a.end, tb.name, tb.ty, b.start
            )));
        }

        Ok(Gguf { version, metadata, keys, tensors, names, alignment, data_offset: bytes.len() - data.len(), data })
    }

    /// The GGUF version: 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The metadata in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The data section's alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Where the data section starts in the file.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// The data section: the bytes tensor offsets index.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.keys.get(key).map(|&i| &self.metadata[i].1)
    }

    /// The metadata value `key` as a `T`, or an error naming the key and what was expected
    /// when it is missing or of another type: `g.get_as::<u32>("llama.block_count")`.
    pub fn get_as<'v, T: FromValue<'v>>(&'v self, key: &str) -> Result<T> {
        self.opt_as(key)?.ok_or_else(|| Error::Gguf(format!("GGUF: metadata {key:?} is missing; expected {}", T::EXPECTED)))
    }

    /// As [`Gguf::get_as`], but a missing key is `Ok(None)`; a key of another type is still
    /// an error.
    pub fn opt_as<'v, T: FromValue<'v>>(&'v self, key: &str) -> Result<Option<T>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        T::from_value(v).map(Some).ok_or_else(|| Error::Gguf(format!("GGUF: metadata {key:?} is {}, expected {}", v.describe(), T::EXPECTED)))
    }

    pub fn get_usize(&self, key: &str) -> Result<usize> {
        self.get_as(key)
    }

    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.get_as(key)
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.get_as(key)
    }

    pub fn get_str_array(&self, key: &str) -> Result<&[String]> {
        self.get_as(key)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.names.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor's bytes in the data section, as stored (quantized blocks, f16, …).
    pub fn raw(&self, t: &TensorInfo) -> Result<&'a [u8]> {
        // Checked again: `t` need not come from this file.
        t.byte_range(self.data.len()).map(|r| &self.data[r]).map_err(Error::Gguf)
    }

    /// Where the tensor's bytes are in the bytes the file was parsed from.
    pub fn raw_range(&self, t: &TensorInfo) -> Result<std::ops::Range<usize>> {
        t.byte_range(self.data.len()).map(|r| self.data_offset + r.start..self.data_offset + r.end).map_err(Error::Gguf)
    }

    /// The tensor's values as f32, in row-major order of its PyTorch shape
    /// ([`TensorInfo::shape`]).
    pub fn dequantize(&self, t: &TensorInfo) -> Result<Vec<f32>> {
        let raw = self.checked_raw(t)?;
        let n = usize::try_from(t.n_elements()).map_err(|_| too_large(t))?;
        quant::dequantize(t.ty, raw, n)
    }

    /// The raw bytes of a tensor whose type can be dequantized.
    fn checked_raw(&self, t: &TensorInfo) -> Result<&'a [u8]> {
        if !t.ty.can_dequantize() {
            return Err(Error::Gguf(format!(
                "GGUF: tensor {:?} has ggml type {} ({}); supported: {}",
                t.name,
                t.ty.id(),
                t.ty.name(),
                quant::supported_list()
            )));
        }
        self.raw(t)
    }
}

/// An error in a GGUF file's contents, worded as every GGUF error is ("GGUF: …"; the model
/// loader puts the file's name in place of the format's).
pub fn gguf_error(msg: impl Into<String>) -> Error {
    Error::Gguf(format!("GGUF: {}", msg.into()))
}

fn too_large(t: &TensorInfo) -> Error {
    Error::Gguf(format!("GGUF: tensor {:?} has {} values, too many for this platform's memory", t.name, t.n_elements()))
}
