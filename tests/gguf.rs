//! The GGUF reader and ggml dequantization against gguf-py (llama.cpp's Python package):
//! random blocks of every supported type, a GGUF file written by gguf-py's GGUFWriter, and
//! malformed files, which must each be refused with a named error and never a panic.
//! Fixtures: tests/fixtures/quant/, written by tests/fixtures/make_quant_fixtures.py.

use llm_xray::gguf::{Array, Gguf, TensorInfo, Value};
use llm_xray::model::Model;
use llm_xray::quant::{self, GgmlType};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn read_f32(name: &str) -> Vec<f32> {
    read(name).chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn index() -> serde_json::Value {
    serde_json::from_slice(&read("index.json")).unwrap()
}

/// Bit-for-bit equality, except that any NaN matches any NaN (converters may quiet them).
fn assert_same(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
        assert!(same, "{what}[{i}]: got {g:e}, gguf-py gives {w:e}");
    }
}

fn err(bytes: &[u8]) -> String {
    match Gguf::parse(bytes) {
        Ok(_) => panic!("parsed a malformed file"),
        Err(e) => e.to_string(),
    }
}

fn assert_err(bytes: &[u8], parts: &[&str]) {
    let e = err(bytes);
    assert!(e.starts_with("GGUF: "), "{e}");
    for p in parts {
        assert!(e.contains(p), "expected {p:?} in: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// Dequantization

#[test]
fn every_type_dequantizes_as_gguf_py_does() {
    let index = index();
    let types = index["types"].as_array().unwrap();
    assert_eq!(types.len(), quant::SUPPORTED.len());
    for t in types {
        let name = t["type"].as_str().unwrap();
        let ty = GgmlType::from_id(t["id"].as_u64().unwrap() as u32).unwrap();
        assert_eq!(ty.name(), name);
        assert!(ty.can_dequantize(), "{name}");
        assert_eq!(ty.block_size() as u64, t["block_size"].as_u64().unwrap(), "{name}");
        assert_eq!(ty.type_size() as u64, t["type_size"].as_u64().unwrap(), "{name}");

        let raw = read(t["raw"].as_str().unwrap());
        let want = read_f32(t["f32"].as_str().unwrap());
        assert_eq!(want.len() as u64, t["n_values"].as_u64().unwrap());
        let got = quant::dequantize(ty, &raw, want.len()).unwrap();
        assert_same(&got, &want, name);

        // Block by block into a preallocated buffer gives the same values.
        let mut out = vec![f32::NAN; want.len()];
        let (bs, ts) = (ty.block_size().max(64), ty.type_size() * ty.block_size().max(64) / ty.block_size());
        for (r, o) in raw.chunks(ts).zip(out.chunks_mut(bs)) {
            quant::dequantize_into(ty, r, o).unwrap();
        }
        assert_same(&out, &want, name);
    }
}

#[test]
fn dequantize_refuses_wrong_sizes() {
    let e = quant::dequantize(GgmlType::Q4_K, &[0; 144], 255).unwrap_err().to_string();
    assert!(e.contains("not a whole number of Q4_K blocks (256 values each)"), "{e}");
    let e = quant::dequantize(GgmlType::Q6_K, &[0; 209], 256).unwrap_err().to_string();
    assert!(e.contains("take 210 bytes") && e.contains("got 209"), "{e}");
    let mut out = [0.0; 64];
    let e = quant::dequantize_into(GgmlType::Q8_0, &[0; 34], &mut out).unwrap_err().to_string();
    assert!(e.contains("take 68 bytes"), "{e}");
    // A huge count with too few bytes is refused before anything is allocated.
    assert!(quant::dequantize(GgmlType::F32, &[0; 4], usize::MAX / 8).is_err());
    let e = quant::dequantize(GgmlType::F32, &[0; 4], usize::MAX).unwrap_err().to_string();
    assert!(e.contains(&format!("take {} bytes", usize::MAX as u128 * 4)), "{e}");
}

#[test]
fn unsupported_types_are_named() {
    let e = quant::dequantize(GgmlType::IQ2_XXS, &[0; 66], 256).unwrap_err().to_string();
    assert!(e.starts_with("GGUF: ") && e.contains("16 (IQ2_XXS)"), "{e}");
    assert!(e.contains("supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K"), "{e}");
}

// ---------------------------------------------------------------------------------------
// A file written by gguf-py

#[test]
fn reads_a_file_written_by_gguf_py() {
    let bytes = read("tiny.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.alignment(), 32);
    assert_eq!(g.data_offset() % 32, 0);

    let index = index();
    let want_all = read_f32(index["gguf"]["f32"].as_str().unwrap());
    let want_tensors = index["gguf"]["tensors"].as_array().unwrap();
    assert_eq!(g.tensors().len(), want_tensors.len());
    for (t, w) in g.tensors().iter().zip(want_tensors) {
        let name = w["name"].as_str().unwrap();
        assert_eq!(t.name, name);
        assert_eq!(t.ty.name(), w["type"].as_str().unwrap(), "{name}");
        let dims: Vec<u64> = w["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(t.dims, dims, "{name}");
        let shape: Vec<usize> = dims.iter().rev().map(|&d| d as usize).collect();
        assert_eq!(t.shape(), shape, "{name}");
        assert_eq!(g.tensor(name), Some(t));

        let (off, n) = (w["offset"].as_u64().unwrap() as usize, w["n_values"].as_u64().unwrap() as usize);
        let want = &want_all[off..off + n];
        assert_eq!(t.n_elements(), n as u64);
        assert_same(&g.dequantize(t).unwrap(), want, name);
        assert_eq!(g.raw(t).unwrap().len() as u64, t.ty.bytes_for(t.n_elements()).unwrap());
    }
    assert_eq!(g.tensor("missing"), None);
    assert_eq!(g.tensors()[0].shape(), vec![3, 5]);
}

#[test]
fn reads_metadata_of_every_type() {
    let bytes = read("tiny.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let keys: Vec<&str> = g.metadata().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys[0], "general.architecture");
    assert_eq!(keys.len(), 20);

    let v = |k: &str| g.get(k).unwrap_or_else(|| panic!("{k}")).clone();
    assert_eq!(v("general.architecture"), Value::Str("llama".into()));
    assert_eq!(v("test.u8"), Value::U8(200));
    assert_eq!(v("test.i8"), Value::I8(-100));
    assert_eq!(v("test.u16"), Value::U16(60000));
    assert_eq!(v("test.i16"), Value::I16(-30000));
    assert_eq!(v("test.u32"), Value::U32(4_000_000_000));
    assert_eq!(v("test.i32"), Value::I32(-2_000_000_000));
    assert_eq!(v("test.u64"), Value::U64((1 << 63) + 5));
    assert_eq!(v("test.i64"), Value::I64(-(1 << 62)));
    assert_eq!(v("test.f32"), Value::F32(0.1));
    assert_eq!(v("test.f64"), Value::F64(-2.5e-300));
    assert_eq!(v("test.true"), Value::Bool(true));
    assert_eq!(v("test.false"), Value::Bool(false));
    assert_eq!(v("test.string"), Value::Str("héllo ☃ GGUF".into()));
    let strings = ["a", "", "Ġthe", "<|endoftext|>"].map(String::from).to_vec();
    assert_eq!(v("test.strings"), Value::Array(Array::Str(strings.clone())));
    assert_eq!(v("test.i32s"), Value::Array(Array::I32(vec![1, -2, 3])));
    assert_eq!(v("test.f32s"), Value::Array(Array::F32(vec![0.5, -1.25, 3.0])));
    let nested = Array::Array(vec![Array::I32(vec![1, 2]), Array::I32(vec![3]), Array::I32(vec![4, 5, 6])]);
    assert_eq!(v("test.nested"), Value::Array(nested));

    // Typed getters convert integers of any width that fit.
    assert_eq!(g.get_as::<u32>("llama.block_count").unwrap(), 2);
    assert_eq!(g.get_usize("test.u8").unwrap(), 200);
    assert_eq!(g.get_as::<i64>("test.i8").unwrap(), -100);
    assert_eq!(g.get_as::<u64>("test.u64").unwrap(), (1 << 63) + 5);
    assert_eq!(g.get_f32("llama.rope.freq_base").unwrap(), 10000.0);
    assert_eq!(g.get_as::<f64>("test.f64").unwrap(), -2.5e-300);
    assert!(g.get_as::<bool>("test.true").unwrap());
    assert_eq!(g.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(g.get_str_array("test.strings").unwrap(), &strings[..]);
    assert_eq!(g.get_as::<Vec<i64>>("test.i32s").unwrap(), vec![1, -2, 3]);
    assert_eq!(g.get_as::<Vec<f32>>("test.f32s").unwrap(), vec![0.5, -1.25, 3.0]);
    assert_eq!(g.opt_as::<u32>("llama.context_length").unwrap(), None);
    assert_eq!(g.opt_as::<u32>("llama.block_count").unwrap(), Some(2));

    let e = |r: llm_xray::error::Result<_>| -> String { r.map(|_: ()| ()).unwrap_err().to_string() };
    assert_eq!(e(g.get_as::<u32>("llama.context_length").map(drop)), "GGUF: metadata \"llama.context_length\" is missing; expected a u32");
    assert_eq!(e(g.get_as::<u32>("test.i8").map(drop)), "GGUF: metadata \"test.i8\" is the i8 -100, expected a u32");
    assert_eq!(e(g.get_as::<u32>("test.u64").map(drop)), "GGUF: metadata \"test.u64\" is the u64 9223372036854775813, expected a u32");
    assert_eq!(e(g.get_str("test.u8").map(drop)), "GGUF: metadata \"test.u8\" is the u8 200, expected a string");
    assert_eq!(e(g.get_str_array("test.i32s").map(drop)), "GGUF: metadata \"test.i32s\" is an array of 3 i32s, expected an array of strings");
    assert_eq!(e(g.opt_as::<f32>("general.architecture").map(drop)), "GGUF: metadata \"general.architecture\" is the string \"llama\", expected an f32");
}

#[test]
fn reads_version_2() {
    // v2 and v3 differ only in v3 allowing big-endian files: a little-endian file is the same.
    let mut bytes = read("tiny.gguf");
    bytes[4] = 2;
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version(), 2);
    assert_eq!(g.tensors().len(), 9);
}

// ---------------------------------------------------------------------------------------
// Malformed files

/// Writes GGUF files field by field, so each test can get one field wrong.
#[derive(Default)]
struct Builder {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

impl Builder {
    fn str(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// A key/value whose value type and encoded value are given.
    fn kv_raw(mut self, key: &str, ty: u32, value: &[u8]) -> Self {
        Self::str(&mut self.kv, key);
        self.kv.extend(ty.to_le_bytes());
        self.kv.extend(value);
        self.n_kv += 1;
        self
    }

    fn kv_u32(self, key: &str, v: u32) -> Self {
        self.kv_raw(key, 4, &v.to_le_bytes())
    }

    fn kv_f32(self, key: &str, v: f32) -> Self {
        self.kv_raw(key, 6, &v.to_le_bytes())
    }

    fn kv_str(self, key: &str, v: &str) -> Self {
        let mut value = Vec::new();
        Self::str(&mut value, v);
        self.kv_raw(key, 8, &value)
    }

    /// An array: its element type, its length, then the encoded elements.
    fn kv_array(self, key: &str, elem_ty: u32, n: usize, elems: &[u8]) -> Self {
        let mut value = elem_ty.to_le_bytes().to_vec();
        value.extend((n as u64).to_le_bytes());
        value.extend(elems);
        self.kv_raw(key, 9, &value)
    }

    fn kv_strs(self, key: &str, v: &[&str]) -> Self {
        let mut elems = Vec::new();
        v.iter().for_each(|s| Self::str(&mut elems, s));
        self.kv_array(key, 8, v.len(), &elems)
    }

    fn kv_i32s(self, key: &str, v: &[i32]) -> Self {
        self.kv_array(key, 5, v.len(), &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>())
    }

    fn tensor_raw(mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        Self::str(&mut self.infos, name);
        self.infos.extend((dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| self.infos.extend(d.to_le_bytes()));
        self.infos.extend(ty.to_le_bytes());
        self.infos.extend(offset.to_le_bytes());
        self.n_tensors += 1;
        self
    }

    /// An F32 tensor holding `values`, appended to the data section.
    fn tensor_f32(mut self, name: &str, dims: &[u64], values: &[f32]) -> Self {
        let offset = self.data.len() as u64;
        self.data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        while !self.data.len().is_multiple_of(32) {
            self.data.push(0);
        }
        self.tensor_raw(name, dims, 0, offset)
    }

    fn build_with(&self, version: u32, alignment: usize) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(version.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(&self.kv);
        out.extend(&self.infos);
        while !out.len().is_multiple_of(alignment) {
            out.push(0);
        }
        out.extend(&self.data);
        out
    }

    fn build(&self) -> Vec<u8> {
        self.build_with(3, 32)
    }
}

#[test]
fn builder_files_parse() {
    let values: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
    let bytes = Builder::default().kv_u32("llama.block_count", 1).tensor_f32("a", &[3, 2], &values).tensor_f32("b", &[], &[7.0]).build();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.dequantize(g.tensor("a").unwrap()).unwrap(), values);
    // No dims: a scalar, one value.
    assert_eq!(g.dequantize(g.tensor("b").unwrap()).unwrap(), vec![7.0]);

    // A custom alignment moves the data section.
    let b = Builder::default().kv_u32("general.alignment", 256).tensor_f32("a", &[3, 2], &values);
    let g_bytes = b.build_with(3, 256);
    let g = Gguf::parse(&g_bytes).unwrap();
    assert_eq!((g.alignment(), g.data_offset()), (256, 256));
    assert_eq!(g.dequantize(&g.tensors()[0]).unwrap(), values);

    // A file without tensors may end right after its metadata.
    let mut bytes = Builder::default().kv_u32("x", 1).build();
    bytes.truncate(24 + 8 + 1 + 4 + 4);
    assert_eq!(Gguf::parse(&bytes).unwrap().tensors().len(), 0);
}

#[test]
fn refuses_files_that_are_not_gguf() {
    assert_err(b"PK\x03\x04 a zip file, not a model", &["not a GGUF file", "50 4B 03 04", "expected \"GGUF\""]);
    assert_err(b"GG", &["not a GGUF file", "2 bytes long"]);
    assert_err(b"", &["not a GGUF file", "0 bytes long"]);
}

#[test]
fn refuses_other_versions() {
    let b = Builder::default().kv_u32("a", 1);
    assert_err(&b.build_with(1, 32), &["version 1", "expected version 2 or 3"]);
    assert_err(&b.build_with(4, 32), &["version 4", "expected version 2 or 3"]);
    assert_err(&b.build_with(0, 32), &["version 0"]);
    assert_err(&b.build_with(3u32.swap_bytes(), 32), &["big-endian"]);
}

#[test]
fn refuses_truncated_files_at_every_cut() {
    let bytes = read("tiny.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let find = |s: &[u8]| bytes.windows(s.len()).position(|w| w == s).unwrap();
    let infos_start = find(b"f32.weight") - 8;
    // The file ends with padding after the last tensor, which a reader does not need.
    let data_end = g.data_offset() + g.tensors().iter().map(|t| t.offset as usize + g.raw(t).unwrap().len()).max().unwrap();
    assert!(data_end < bytes.len());
    let cuts = [
        (10, "the header"),
        // Before byte 500 the header's counts alone say the file is too short.
        (300, "the header declares 20 metadata entries and 9 tensors"),
        // Inside a metadata array of arrays.
        (find(b"test.nested") + 80, "metadata \"test.nested\": element 2 of 3"),
        (infos_start + 12, "tensor info #0"),
        (infos_start + 40, "tensor \"f32.weight\""),
        (g.data_offset() + 100, "of the data section"),
        (data_end - 1, "tensor \"scalar\" needs bytes"),
    ];
    for (cut, part) in cuts {
        assert_err(&bytes[..cut], &["truncated", part]);
    }
    // Every prefix short of the last tensor's end is refused, without a panic.
    for cut in 0..bytes.len() {
        assert_eq!(Gguf::parse(&bytes[..cut]).is_ok(), cut >= data_end, "a prefix of {cut} bytes");
    }
}

#[test]
fn refuses_bad_tensor_infos() {
    let b = || Builder::default().tensor_f32("ok", &[4], &[1.0; 4]);
    assert_err(
        &b().tensor_raw("far", &[4], 0, 1 << 40).build(),
        &["tensor \"far\" has data offset 1099511627776, past the end of the data section (32 bytes)"],
    );
    assert_err(&b().tensor_raw("long", &[16], 0, 0).build(), &["truncated: tensor \"long\" needs bytes 0..64 of the data section, which has 32"]);
    assert_err(&b().tensor_raw("t", &[32], 99, 0).build(), &["tensor \"t\"", "unknown ggml type 99"]);
    assert_err(&b().tensor_raw("t", &[32], 31, 0).build(), &["tensor \"t\"", "ggml type 31 (Q4_0_4_4)", "removed"]);
    assert_err(&b().tensor_raw("big", &[1 << 32, 1 << 32, 2], 0, 0).build(), &["tensor \"big\"", "[4294967296, 4294967296, 2]", "overflows"]);
    // The element count fits but its byte size does not.
    assert_err(&b().tensor_raw("big", &[1 << 62, 2], 0, 0).build(), &["tensor \"big\"", "overflows"]);
    assert_err(&b().tensor_raw("t", &[1, 1, 1, 1, 1], 0, 0).build(), &["tensor \"t\"", "5 dimensions"]);
    assert_err(&b().tensor_raw("q", &[16, 2], 2, 0).build(), &["tensor \"q\"", "rows of 16 values", "Q4_0 blocks"]);
    assert_err(&b().tensor_raw("ok", &[4], 0, 0).build(), &["tensor \"ok\" appears twice"]);

    let mut name_len_max = b().build();
    let infos_start = 24;
    name_len_max[infos_start..infos_start + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_err(&name_len_max, &["tensor info #0", "18446744073709551615"]);
}

#[test]
fn refuses_tensors_whose_data_overlaps() {
    // Two Q8_0 rows of 32 values take 34 bytes each; the second starts 32 bytes in, inside
    // the first: one of them is not the size its type says (written as Q4_0's 18, say).
    let mut b = Builder::default().tensor_raw("a", &[32], 8, 0).tensor_raw("b", &[32], 8, 32);
    b.data = vec![0; 96];
    assert_err(&b.build(), &["tensor \"a\" (Q8_0, dims [32]) takes bytes 0..34", "tensor \"b\" (Q8_0) starts at byte 32", "not the size its type"]);
    let mut b = Builder::default().tensor_raw("a", &[32], 8, 0).tensor_raw("b", &[32], 8, 64);
    b.data = vec![0; 128];
    Gguf::parse(&b.build()).unwrap();
}

#[test]
fn refuses_bad_counts_and_lengths() {
    let mut huge_counts = Builder::default().kv_u32("a", 1).build();
    huge_counts[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_err(&huge_counts, &["18446744073709551615 tensors", "truncated or corrupt"]);
    let mut huge_counts = Builder::default().kv_u32("a", 1).build();
    huge_counts[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert_err(&huge_counts, &["1152921504606846976 metadata entries"]);

    // A key length of u64::MAX.
    let mut key = Builder::default().kv_u32("a", 1).build();
    key[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_err(&key, &["metadata entry #0", "string's length", "18446744073709551615"]);

    // A string value of u64::MAX bytes.
    let s = Builder::default().kv_raw("s", 8, &u64::MAX.to_le_bytes()).build();
    assert_err(&s, &["metadata \"s\"", "18446744073709551615"]);

    // Arrays of u64::MAX elements, of fixed-size and variable-size types.
    for elem in [0u32, 6, 8, 9] {
        let mut v = elem.to_le_bytes().to_vec();
        v.extend(u64::MAX.to_le_bytes());
        let bytes = Builder::default().kv_raw("arr", 9, &v).build();
        assert_err(&bytes, &["metadata \"arr\"", "array's length", "18446744073709551615"]);
    }
}

#[test]
fn refuses_bad_metadata_values() {
    let e = |ty: u32, v: &[u8], parts: &[&str]| assert_err(&Builder::default().kv_raw("k", ty, v).build(), parts);
    e(13, &[0; 8], &["metadata \"k\"", "value type is 13"]);
    e(7, &[2], &["metadata \"k\"", "bool value is 2"]);
    e(8, &[2, 0, 0, 0, 0, 0, 0, 0, 0xC3, 0x28], &["metadata \"k\"", "not valid UTF-8"]);
    e(9, &[20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], &["metadata \"k\"", "element type is 20"]);
    e(9, &[7, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 5], &["element 1 of the bool array is 5"]);
    // A string array whose second element is cut short.
    let mut v = 8u32.to_le_bytes().to_vec();
    v.extend(2u64.to_le_bytes());
    v.extend(1u64.to_le_bytes());
    v.push(b'a');
    v.extend(100u64.to_le_bytes());
    e(9, &v, &["metadata \"k\"", "element 1 of 2", "100"]);

    // Arrays of arrays nest at most MAX_NESTING deep.
    let nested = |depth: usize| {
        let mut v = Vec::new();
        for _ in 1..depth {
            v.extend(9u32.to_le_bytes());
            v.extend(1u64.to_le_bytes());
        }
        v.extend(0u32.to_le_bytes());
        v.extend(1u64.to_le_bytes());
        v.push(42);
        v
    };
    let ok = Builder::default().kv_raw("k", 9, &nested(llm_xray::gguf::MAX_NESTING)).build();
    Gguf::parse(&ok).unwrap();
    e(9, &nested(llm_xray::gguf::MAX_NESTING + 1), &["nest more than"]);
    e(9, &nested(100_000), &["nest more than"]);

    let twice = Builder::default().kv_u32("a", 1).kv_u32("a", 2).build();
    assert_err(&twice, &["metadata key \"a\" appears twice"]);
    for bad in [0, 3, 48] {
        let b = Builder::default().kv_u32("general.alignment", bad).build();
        assert_err(&b, &["general.alignment", "power of two"]);
    }
}

#[test]
fn dequantize_names_the_tensor() {
    let bytes = Builder::default().tensor_raw("blk.0.ffn_up.weight", &[256], 16, 0).build();
    let mut bytes = bytes;
    bytes.extend([0; 66]);
    let g = Gguf::parse(&bytes).unwrap();
    let t = &g.tensors()[0];
    assert_eq!(g.raw(t).unwrap().len(), 66);
    let e = g.dequantize(t).unwrap_err().to_string();
    assert_eq!(
        e,
        "GGUF: tensor \"blk.0.ffn_up.weight\" has ggml type 16 (IQ2_XXS); supported: F32, F16, \
         BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K"
    );

    let bytes = Builder::default().tensor_f32("a", &[4, 2], &[0.0; 8]).build();
    let g = Gguf::parse(&bytes).unwrap();
    // An info that does not come from this file is checked too.
    let stray = TensorInfo { name: "stray".into(), dims: vec![u64::MAX, 3], ty: GgmlType::F32, offset: 0 };
    assert!(g.raw(&stray).unwrap_err().to_string().contains("tensor \"stray\""));
    assert!(g.dequantize(&stray).is_err());
}

// ---------------------------------------------------------------------------------------
// Malformed models

/// A Llama GGUF's metadata, two tokens and no tensors: enough for loading to reach the
/// tokenizer, which comes before any tensor is read.
fn llama_metadata(types: &[i32]) -> Builder {
    Builder::default()
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.embedding_length", 8)
        .kv_u32("llama.attention.head_count", 2)
        .kv_u32("llama.context_length", 16)
        .kv_u32("llama.block_count", 1)
        .kv_u32("llama.feed_forward_length", 16)
        .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        .kv_str("tokenizer.ggml.model", "gpt2")
        .kv_strs("tokenizer.ggml.tokens", &["a", "b"])
        .kv_i32s("tokenizer.ggml.token_type", types)
}

fn model_err(b: &Builder) -> String {
    match Model::from_gguf(&b.build(), "bad.gguf") {
        Ok(_) => panic!("loaded a malformed model"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn token_types_must_match_the_tokens() {
    for types in [&[1, 1, 3][..], &[1], &[]] {
        assert_eq!(
            model_err(&llama_metadata(types)),
            format!(
                "bad.gguf: tokenizer.ggml.token_type has {} entries, but tokenizer.ggml.tokens has 2 \
                 tokens; expected one type per token",
                types.len()
            )
        );
    }
    // One type per token gets past the tokenizer, to the tensors this file lacks (the first
    // of the block: its norm).
    let e = model_err(&llama_metadata(&[1, 3]));
    assert!(e.starts_with("bad.gguf: tensor \"blk.0.attn_norm.weight\" is missing"), "{e}");
}

#[test]
fn a_type_the_engine_does_not_read_is_named_before_anything_is_loaded() {
    // An IQ2_XXS and a TQ1_0 tensor among metadata that would fail later (no tensors the
    // model needs): the type is what the error names.
    for (ty, name) in [(16u32, "IQ2_XXS"), (34, "TQ1_0")] {
        let mut b = llama_metadata(&[1, 1]).tensor_raw("blk.0.ffn_up.weight", &[256], ty, 0);
        b.data = vec![0; 256];
        let e = model_err(&b);
        assert!(e.starts_with(&format!("bad.gguf: tensor \"blk.0.ffn_up.weight\" has ggml type {ty} ({name}), which this engine does not read")), "{e}");
        // The page's size check, from the header alone, says the same.
        let bytes = b.build();
        let e = llm_xray::model::Footprint::from_gguf_header(&bytes, bytes.len() as u64, "bad.gguf").unwrap_err().to_string();
        assert!(e.contains(&format!("({name}), which this engine does not read")), "{e}");
    }
}

#[test]
fn optional_metadata_of_the_wrong_type_is_refused() {
    let e = model_err(&llama_metadata(&[1, 1]).kv_u32("tokenizer.ggml.add_bos_token", 1));
    assert_eq!(e, "bad.gguf: metadata \"tokenizer.ggml.add_bos_token\" is the u32 1, expected a bool");
    let e = model_err(&llama_metadata(&[1, 1]).kv_str("tokenizer.ggml.bos_token_id", "a"));
    assert_eq!(e, "bad.gguf: metadata \"tokenizer.ggml.bos_token_id\" is the string \"a\", expected a u32");
    let e = model_err(&llama_metadata(&[1, 1]).kv_u32("llama.attention.head_count_kv", 0));
    assert_eq!(e, "bad.gguf: llama.attention.head_count_kv is 0; expected a positive integer");
}

// ---------------------------------------------------------------------------------------
// Fuzz

/// splitmix64: a fixed-seed generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8], structure_end: usize) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        // Mostly hit the header, metadata and tensor infos, where the parsing is.
        let at = if rng.below(4) > 0 { rng.below(structure_end.min(b.len())) } else { rng.below(b.len()) };
        match rng.below(5) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = [0, 1, 2, 3, 4, 8, 9, 12, 13, 31, 32, 0x7F, 0x80, 0xFF][rng.below(14)],
            2 => {
                // A length, count, dim or offset field set to an edge value.
                let v = [0, 1, 31, 32, 255, 256, 1 << 31, 1 << 32, 1 << 62, 1 << 63, u64::MAX][rng.below(11)];
                let end = (at + 8).min(b.len());
                b[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            }
            3 => b.truncate(at),
            _ => {
                let n = rng.below(16);
                b.splice(at..at, (0..n).map(|_| rng.next() as u8));
            }
        }
    }
    b
}

#[test]
fn fuzz_parse_and_dequantize_never_panic() {
    const ITERATIONS: usize = 20_000;
    let bytes = read("tiny.gguf");
    let structure_end = Gguf::parse(&bytes).unwrap().data_offset();
    let mut rng = Rng(0x6767_7566);
    let (mut parsed, mut values) = (0, 0usize);
    for i in 0..ITERATIONS {
        let input = mutate(&mut rng, &bytes, structure_end);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let Ok(g) = Gguf::parse(&input) else { return None };
            let mut n = 0;
            for t in g.tensors() {
                if let Ok(v) = g.dequantize(t) {
                    n += v.len();
                }
            }
            for (k, _) in g.metadata() {
                let _ = (g.get_as::<u32>(k), g.get_str(k), g.get_str_array(k), g.get_as::<Vec<f32>>(k));
            }
            Some(n)
        }));
        match outcome {
            Ok(Some(n)) => {
                parsed += 1;
                values += n;
            }
            Ok(None) => {}
            Err(_) => panic!("iteration {i} panicked; input of {} bytes: {:02X?}", input.len(), input),
        }
    }
    println!("{parsed} of {ITERATIONS} mutated files parsed; {values} values dequantized");
    // The mutations must leave some files valid, or the dequantization path goes untested.
    assert!(parsed > ITERATIONS / 20 && values > 0, "only {parsed} of {ITERATIONS} mutated files parsed");
}
