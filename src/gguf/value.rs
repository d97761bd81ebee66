//! GGUF metadata values: the typed scalars and arrays a file's key/value section holds,
//! and how callers read them as Rust types ([`FromValue`]).

// Metadata value types, by their GGUF ids.
pub(super) const T_U8: u32 = 0;
pub(super) const T_I8: u32 = 1;
pub(super) const T_U16: u32 = 2;
pub(super) const T_I16: u32 = 3;
pub(super) const T_U32: u32 = 4;
pub(super) const T_I32: u32 = 5;
pub(super) const T_F32: u32 = 6;
pub(super) const T_BOOL: u32 = 7;
pub(super) const T_STRING: u32 = 8;
pub(super) const T_ARRAY: u32 = 9;
pub(super) const T_U64: u32 = 10;
pub(super) const T_I64: u32 = 11;
pub(super) const T_F64: u32 = 12;

/// The smallest encoding of one value of a metadata type: a string is at least its 8-byte
/// length, an array at least its 4-byte element type and 8-byte count.
pub(super) fn min_size(ty: u32) -> Option<usize> {
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
