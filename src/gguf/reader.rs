//! A bounds-checked cursor over a GGUF file's bytes: every read checks the bytes left
//! before it takes or allocates anything, so a corrupt file cannot make the parser panic or
//! reserve more than a small multiple of its own size.

use super::value::*;
use super::{TensorInfo, MAX_DIMS, MAX_NESTING};
use crate::quant::{self, GgmlType};

/// Why reading stopped, without the context ("metadata \"x\"") the caller adds.
pub(super) type Fault = String;

/// A cursor over the file. Every read checks the bytes left first.
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(super) fn truncated(&self, what: &str, n: usize) -> Fault {
        format!("the file is truncated: {what} needs bytes {}..{}, but the file is {} bytes long", self.pos, self.pos as u128 + n as u128, self.bytes.len())
    }

    pub(super) fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], Fault> {
        if n > self.remaining() {
            return Err(self.truncated(what, n));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(super) fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], Fault> {
        match self.bytes[self.pos..].first_chunk::<N>() {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(self.truncated(what, N)),
        }
    }

    pub(super) fn u32(&mut self, what: &str) -> std::result::Result<u32, Fault> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self, what: &str) -> std::result::Result<u64, Fault> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of items that each take at least `min_size` bytes, checked to fit in the
    /// rest of the file, so that it can size an allocation.
    pub(super) fn count(&mut self, min_size: usize, what: &str) -> std::result::Result<usize, Fault> {
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

    pub(super) fn string(&mut self, what: &str) -> std::result::Result<&'a str, Fault> {
        let len = self.count(1, "a string's length")?;
        let at = self.pos;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|e| format!("{what} (bytes {at}..{}) is not valid UTF-8 at byte {}", at + len, at + e.valid_up_to()))
    }

    /// A metadata value: its type, then the value.
    pub(super) fn value(&mut self) -> std::result::Result<Value, Fault> {
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
    pub(super) fn array_value(&mut self, depth: usize) -> std::result::Result<Array, Fault> {
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
    pub(super) fn nums<const N: usize, T>(&mut self, n: usize, what: &str, from_le: fn([u8; N]) -> T) -> std::result::Result<Vec<T>, Fault> {
        // `count` checked n × N against the bytes left, so this cannot overflow.
        let bytes = self.take(n * N, what)?;
        Ok(bytes.as_chunks::<N>().0.iter().map(|&c| from_le(c)).collect())
    }

    /// The rest of a tensor info, after its name.
    pub(super) fn tensor_info(&mut self, name: &str) -> std::result::Result<TensorInfo, Fault> {
        let n_dims = self.u32("the dimension count")?;
        if n_dims > MAX_DIMS {
            return Err(format!("it has {n_dims} dimensions; ggml tensors have at most {MAX_DIMS}"));
        }
        let dims = (0..n_dims).map(|_| self.u64("a dimension")).collect::<std::result::Result<Vec<_>, _>>()?;
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
