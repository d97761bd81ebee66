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
//! type, whose ggml type is unknown, or whose bytes lie outside the data section; and an
//! alignment that is not a power of two.

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

// Metadata value types, by their GGUF ids.
const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

/// The smallest encoding of one value of a metadata type: a string is at least its 8-byte
/// length, an array at least its 4-byte element type and 8-byte count.
fn min_size(ty: u32) -> Option<usize> {
    Some(match ty {
        T_U8 | T_I8 | T_BOOL => 1,
        T_U16 | T_I16 => 2,
        T_U32 | T_I32 | T_F32 => 4,
        T_U64 | T_I64 | T_F64 | T_STRING => 8,
        T_ARRAY => 12,
        _ => return None,
    })
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Array),
}

/// A metadata array. Arrays hold one element type, so they are stored as typed vectors:
/// a vocabulary's 49,152 token types are one `Vec<i32>`, not 49,152 boxed values.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Array(Vec<Array>),
}

impl Value {
    /// Any integer type, when the value is non-negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(x) => Some(x.into()),
            Value::U16(x) => Some(x.into()),
            Value::U32(x) => Some(x.into()),
            Value::U64(x) => Some(x),
            Value::I8(x) => u64::try_from(x).ok(),
            Value::I16(x) => u64::try_from(x).ok(),
            Value::I32(x) => u64::try_from(x).ok(),
            Value::I64(x) => u64::try_from(x).ok(),
            _ => None,
        }
    }

    /// Any integer type, when the value fits an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(x) => Some(x.into()),
            Value::I16(x) => Some(x.into()),
            Value::I32(x) => Some(x.into()),
            Value::I64(x) => Some(x),
            _ => self.as_u64().and_then(|x| i64::try_from(x).ok()),
        }
    }

    /// F32 or F64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(x) => Some(x.into()),
            Value::F64(x) => Some(x),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value's type and, for scalars, the value itself, for error messages: "the u32
    /// 7", "the string \"llama\"", "an array of 3 strings".
    pub fn describe(&self) -> String {
        let s = match self {
            Value::U8(x) => format!("u8 {x}"),
            Value::I8(x) => format!("i8 {x}"),
            Value::U16(x) => format!("u16 {x}"),
            Value::I16(x) => format!("i16 {x}"),
            Value::U32(x) => format!("u32 {x}"),
            Value::I32(x) => format!("i32 {x}"),
            Value::U64(x) => format!("u64 {x}"),
            Value::I64(x) => format!("i64 {x}"),
            Value::F32(x) => format!("f32 {x}"),
            Value::F64(x) => format!("f64 {x}"),
            Value::Bool(x) => format!("bool {x}"),
            Value::Str(s) if s.chars().count() > 40 => {
                format!("string {:?}…", s.chars().take(40).collect::<String>())
            }
            Value::Str(s) => format!("string {s:?}"),
            Value::Array(a) => return a.describe(),
        };
        format!("the {s}")
    }
}

impl Array {
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::Str(v) => v.len(),
            Array::Array(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type's name: "u32", "string", "array".
    pub fn elem_type(&self) -> &'static str {
        match self {
            Array::U8(_) => "u8",
            Array::I8(_) => "i8",
            Array::U16(_) => "u16",
            Array::I16(_) => "i16",
            Array::U32(_) => "u32",
            Array::I32(_) => "i32",
            Array::U64(_) => "u64",
            Array::I64(_) => "i64",
            Array::F32(_) => "f32",
            Array::F64(_) => "f64",
            Array::Bool(_) => "bool",
            Array::Str(_) => "string",
            Array::Array(_) => "array",
        }
    }

    /// "an array of 3 strings", for error messages.
    pub fn describe(&self) -> String {
        let n = self.len();
        let plural = if n == 1 { "" } else { "s" };
        format!("an array of {n} {}{plural}", self.elem_type())
    }

    pub fn as_strs(&self) -> Option<&[String]> {
        match self {
            Array::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of an array of any integer type, when all fit an i64.
    pub fn to_i64s(&self) -> Option<Vec<i64>> {
        fn all<T: Copy>(v: &[T], f: impl Fn(T) -> Option<i64>) -> Option<Vec<i64>> {
            v.iter().map(|&x| f(x)).collect()
        }
        match self {
            Array::U8(v) => all(v, |x| Some(x.into())),
            Array::I8(v) => all(v, |x| Some(x.into())),
            Array::U16(v) => all(v, |x| Some(x.into())),
            Array::I16(v) => all(v, |x| Some(x.into())),
            Array::U32(v) => all(v, |x| Some(x.into())),
            Array::I32(v) => all(v, |x| Some(x.into())),
            Array::U64(v) => all(v, |x| i64::try_from(x).ok()),
            Array::I64(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// The elements of an F32 or F64 array, as f32.
    pub fn to_f32s(&self) -> Option<Vec<f32>> {
        match self {
            Array::F32(v) => Some(v.clone()),
            Array::F64(v) => Some(v.iter().map(|&x| x as f32).collect()),
            _ => None,
        }
    }
}

/// Types that [`Gguf::get_as`] can read a metadata value as.
pub trait FromValue<'v>: Sized {
    /// What the caller asked for, for error messages: "a u32".
    const EXPECTED: &'static str;
    fn from_value(v: &'v Value) -> Option<Self>;
}

macro_rules! from_value {
    ($t:ty, $expected:literal, |$v:ident| $body:expr) => {
        impl<'v> FromValue<'v> for $t {
            const EXPECTED: &'static str = $expected;
            fn from_value($v: &'v Value) -> Option<Self> {
                $body
            }
        }
    };
}

// Integers of any width convert when the value fits: llama.cpp writes most counts as u32,
// other writers use other widths.
from_value!(u32, "a u32", |v| v.as_u64().and_then(|x| x.try_into().ok()));
from_value!(u64, "a u64", |v| v.as_u64());
from_value!(usize, "a non-negative integer", |v| v.as_u64().and_then(|x| x.try_into().ok()));
from_value!(i32, "an i32", |v| v.as_i64().and_then(|x| x.try_into().ok()));
from_value!(i64, "an i64", |v| v.as_i64());
from_value!(f32, "an f32", |v| v.as_f64().map(|x| x as f32));
from_value!(f64, "an f64", |v| v.as_f64());
from_value!(bool, "a bool", |v| v.as_bool());
from_value!(&'v str, "a string", |v| v.as_str());
from_value!(&'v Value, "a value", |v| Some(v));
from_value!(&'v Array, "an array", |v| v.as_array());
from_value!(&'v [String], "an array of strings", |v| v.as_array().and_then(Array::as_strs));
from_value!(Vec<f32>, "an array of floats", |v| v.as_array().and_then(Array::to_f32s));
from_value!(Vec<i64>, "an array of integers", |v| v.as_array().and_then(Array::to_i64s));

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
        let n = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).ok_or_else(|| {
            format!("GGUF: tensor {name:?} has dims {dims:?}, whose product overflows 64 bits")
        })?;
        let row = dims.first().copied().unwrap_or(1);
        let block = ty.block_size() as u64;
        if !row.is_multiple_of(block) {
            return Err(format!(
                "GGUF: tensor {name:?} has rows of {row} values (dims {dims:?}), which is not a \
                 whole number of {ty} blocks ({block} values each)"
            ));
        }
        let size = ty.bytes_for(n).ok_or_else(|| {
            format!("GGUF: tensor {name:?} ({ty}, dims {dims:?}) has a byte size that overflows 64 bits")
        })?;
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
            return Err(Error::Gguf(format!(
                "GGUF: not a GGUF file: the first 4 bytes are {}, expected \"GGUF\" (47 47 55 46)",
                hex.join(" ")
            )));
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
                _ => {
                    return Err(Error::Gguf(format!(
                        "GGUF: metadata \"general.alignment\" is {}, expected a power of two",
                        v.describe()
                    )))
                }
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
        for t in &tensors {
            t.byte_range(usize::try_from(data_len).unwrap_or(usize::MAX)).map_err(Error::Gguf)?;
        }

        Ok(Gguf {
            version,
            metadata,
            keys,
            tensors,
            names,
            alignment,
            data_offset: bytes.len() - data.len(),
            data,
        })
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
        self.opt_as(key)?.ok_or_else(|| {
            Error::Gguf(format!("GGUF: metadata {key:?} is missing; expected {}", T::EXPECTED))
        })
    }

    /// As [`Gguf::get_as`], but a missing key is `Ok(None)`; a key of another type is still
    /// an error.
    pub fn opt_as<'v, T: FromValue<'v>>(&'v self, key: &str) -> Result<Option<T>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        T::from_value(v).map(Some).ok_or_else(|| {
            Error::Gguf(format!("GGUF: metadata {key:?} is {}, expected {}", v.describe(), T::EXPECTED))
        })
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

fn too_large(t: &TensorInfo) -> Error {
    Error::Gguf(format!(
        "GGUF: tensor {:?} has {} values, too many for this platform's memory",
        t.name,
        t.n_elements()
    ))
}

/// Why reading stopped, without the context ("metadata \"x\"") the caller adds.
type Fault = String;

/// A cursor over the file. Every read checks the bytes left first.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn truncated(&self, what: &str, n: usize) -> Fault {
        format!(
            "the file is truncated: {what} needs bytes {}..{}, but the file is {} bytes long",
            self.pos,
            self.pos as u128 + n as u128,
            self.bytes.len()
        )
    }

    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], Fault> {
        if n > self.remaining() {
            return Err(self.truncated(what, n));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], Fault> {
        match self.bytes[self.pos..].first_chunk::<N>() {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(self.truncated(what, N)),
        }
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, Fault> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, Fault> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of items that each take at least `min_size` bytes, checked to fit in the
    /// rest of the file, so that it can size an allocation.
    fn count(&mut self, min_size: usize, what: &str) -> std::result::Result<usize, Fault> {
        let at = self.pos;
        let n = self.u64(what)?;
        let rest = self.remaining();
        match n.checked_mul(min_size as u64) {
            Some(need) if need <= rest as u64 => Ok(n as usize),
            _ if min_size == 1 => Err(format!(
                "{what} at byte {at} is {n}, but only {rest} bytes remain in the file (the file \
                 is truncated or corrupt)"
            )),
            _ => Err(format!(
                "{what} at byte {at} is {n}, but {n} elements of at least {min_size} bytes do not \
                 fit in the {rest} bytes left in the file (the file is truncated or corrupt)"
            )),
        }
    }

    fn string(&mut self, what: &str) -> std::result::Result<&'a str, Fault> {
        let len = self.count(1, "a string's length")?;
        let at = self.pos;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|e| {
            format!("{what} (bytes {at}..{}) is not valid UTF-8 at byte {}", at + len, at + e.valid_up_to())
        })
    }

    /// A metadata value: its type, then the value.
    fn value(&mut self) -> std::result::Result<Value, Fault> {
        let ty = self.u32("the value type")?;
        Ok(match ty {
            T_U8 => Value::U8(u8::from_le_bytes(self.array("the u8 value")?)),
            T_I8 => Value::I8(i8::from_le_bytes(self.array("the i8 value")?)),
            T_U16 => Value::U16(u16::from_le_bytes(self.array("the u16 value")?)),
            T_I16 => Value::I16(i16::from_le_bytes(self.array("the i16 value")?)),
            T_U32 => Value::U32(u32::from_le_bytes(self.array("the u32 value")?)),
            T_I32 => Value::I32(i32::from_le_bytes(self.array("the i32 value")?)),
            T_U64 => Value::U64(u64::from_le_bytes(self.array("the u64 value")?)),
            T_I64 => Value::I64(i64::from_le_bytes(self.array("the i64 value")?)),
            T_F32 => Value::F32(f32::from_le_bytes(self.array("the f32 value")?)),
            T_F64 => Value::F64(f64::from_le_bytes(self.array("the f64 value")?)),
            T_BOOL => {
                let [b] = self.array("the bool value")?;
                Value::Bool(to_bool(b).ok_or_else(|| format!("the bool value is {b}, expected 0 or 1"))?)
            }
            T_STRING => Value::Str(self.string("the string value")?.to_owned()),
            T_ARRAY => Value::Array(self.array_value(0)?),
            _ => return Err(format!("the value type is {ty}, expected 0..=12")),
        })
    }

    /// An array's element type, count and elements; `depth` arrays enclose it.
    fn array_value(&mut self, depth: usize) -> std::result::Result<Array, Fault> {
        if depth >= MAX_NESTING {
            return Err(format!("arrays nest more than {MAX_NESTING} deep"));
        }
        let ty = self.u32("the array's element type")?;
        let min = min_size(ty).ok_or_else(|| format!("the array's element type is {ty}, expected 0..=12"))?;
        let n = self.count(min, "the array's length")?;
        Ok(match ty {
            T_U8 => Array::U8(self.take(n, "the u8 array")?.to_vec()),
            T_I8 => Array::I8(self.nums(n, "the i8 array", i8::from_le_bytes)?),
            T_U16 => Array::U16(self.nums(n, "the u16 array", u16::from_le_bytes)?),
            T_I16 => Array::I16(self.nums(n, "the i16 array", i16::from_le_bytes)?),
            T_U32 => Array::U32(self.nums(n, "the u32 array", u32::from_le_bytes)?),
            T_I32 => Array::I32(self.nums(n, "the i32 array", i32::from_le_bytes)?),
            T_U64 => Array::U64(self.nums(n, "the u64 array", u64::from_le_bytes)?),
            T_I64 => Array::I64(self.nums(n, "the i64 array", i64::from_le_bytes)?),
            T_F32 => Array::F32(self.nums(n, "the f32 array", f32::from_le_bytes)?),
            T_F64 => Array::F64(self.nums(n, "the f64 array", f64::from_le_bytes)?),
            T_BOOL => {
                let bytes = self.take(n, "the bool array")?;
                let bools: Option<Vec<bool>> = bytes.iter().map(|&b| to_bool(b)).collect();
                Array::Bool(bools.ok_or_else(|| {
                    let (i, b) = bytes.iter().enumerate().find(|(_, &b)| b > 1).unwrap_or((0, &0));
                    format!("element {i} of the bool array is {b}, expected 0 or 1")
                })?)
            }
            T_STRING => {
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    let s = self.string("the string").map_err(|f| format!("element {i} of {n}: {f}"))?;
                    v.push(s.to_owned());
                }
                Array::Str(v)
            }
            _ => {
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    v.push(self.array_value(depth + 1).map_err(|f| format!("element {i} of {n}: {f}"))?);
                }
                Array::Array(v)
            }
        })
    }

    /// `n` fixed-size little-endian numbers.
    fn nums<const N: usize, T>(
        &mut self,
        n: usize,
        what: &str,
        from_le: fn([u8; N]) -> T,
    ) -> std::result::Result<Vec<T>, Fault> {
        // `count` checked n × N against the bytes left, so this cannot overflow.
        let bytes = self.take(n * N, what)?;
        Ok(bytes.as_chunks::<N>().0.iter().map(|&c| from_le(c)).collect())
    }

    /// The rest of a tensor info, after its name.
    fn tensor_info(&mut self, name: &str) -> std::result::Result<TensorInfo, Fault> {
        let n_dims = self.u32("the dimension count")?;
        if n_dims > MAX_DIMS {
            return Err(format!("it has {n_dims} dimensions; ggml tensors have at most {MAX_DIMS}"));
        }
        let dims =
            (0..n_dims).map(|_| self.u64("a dimension")).collect::<std::result::Result<Vec<_>, _>>()?;
        let id = self.u32("the ggml type")?;
        let ty = GgmlType::from_id(id).ok_or_else(|| match quant::removed_type_name(id) {
            Some(old) => format!(
                "it has ggml type {id} ({old}), which ggml has removed; re-quantize the model \
                 with a current llama.cpp"
            ),
            None => format!("it has unknown ggml type {id}"),
        })?;
        let offset = self.u64("the data offset")?;
        Ok(TensorInfo { name: name.to_owned(), dims, ty, offset })
    }
}

fn to_bool(b: u8) -> Option<bool> {
    match b {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}
