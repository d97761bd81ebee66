//! Property test: the loaders and tokenizer never panic on random and mutated bytes.
//! Bounded in time (about 2 s per target) so it fits every `npm test`.

mod common;
use common::*;
use llm_xray::cpu::{fast, ops};
use llm_xray::matrix::{Blocks, Bytes, Matrix};
use llm_xray::quant::BLOCKS;
use llm_xray::sampling::Rng;
use llm_xray::tokenizer::Tokenizer;
use llm_xray::weights::Linear;
use llm_xray::Model;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    let r = |rng: &mut Rng, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    for _ in 0..1 + r(rng, 4) {
        match r(rng, 6) {
            0 if !b.is_empty() => {
                let i = r(rng, b.len());
                b[i] ^= 1 << r(rng, 8);
            }
            1 => b.truncate(r(rng, b.len() + 1)),
            2 => {
                let i = r(rng, b.len() + 1);
                let junk: Vec<u8> = (0..r(rng, 16)).map(|_| rng.next_u64() as u8).collect();
                b.splice(i..i, junk);
            }
            3 if !b.is_empty() => {
                // Overwrite with a "structural" byte, likelier to reach deeper parsing paths.
                let i = r(rng, b.len());
                b[i] = *b"{}[]\",:0123456789-eE \x00\xff".get(r(rng, 22)).unwrap();
            }
            4 if b.len() > 8 => {
                // Header length field of a safetensors file: random but plausible.
                let n = (r(rng, b.len() * 2) as u64).to_le_bytes();
                b[..8].copy_from_slice(&n);
            }
            _ => b = (0..r(rng, 256)).map(|_| rng.next_u64() as u8).collect(),
        }
    }
    b
}

fn run_for(budget: Duration, seed: u64, mut f: impl FnMut(&mut Rng)) -> usize {
    let mut rng = Rng::new(seed);
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < budget && n < 200_000 {
        f(&mut rng);
        n += 1;
    }
    n
}

#[test]
fn model_loader_survives_mutated_files() {
    let read = |f: &str| std::fs::read(fixture("tiny-hf").join(f)).unwrap();
    let (cfg, weights, tok) = (read("config.json"), read("model.safetensors"), read("tokenizer.json"));
    let n = run_for(Duration::from_secs(2), 1, |rng| {
        let which = rng.next_u64() % 3;
        let c = if which == 0 { mutate(rng, &cfg) } else { cfg.clone() };
        let w = if which == 1 { mutate(rng, &weights) } else { weights.clone() };
        let t = if which == 2 { mutate(rng, &tok) } else { tok.clone() };
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(m) = Model::from_bytes(&c, &w, &t) {
                let mut cpu = llm_xray::CpuBackend::new(std::sync::Arc::new(m));
                let _ = cpu.trace(&[1, 2], llm_xray::Parts::none());
            }
        }));
        assert!(result.is_ok(), "panic on a mutated file (which = {which})");
    });
    assert!(n > 20, "only {n} cases ran");
}

#[test]
fn tokenizer_survives_random_text_and_round_trips() {
    let tok = Tokenizer::from_json(&std::fs::read(fixture("gpt2/tokenizer.json")).unwrap()).unwrap();
    let alphabet: Vec<char> = " \t\n\r'sdtmlvre!?.,0123456789aZé東🙂\u{200d}\u{301}<|>endoftxt".chars().collect();
    let n = run_for(Duration::from_secs(2), 2, |rng| {
        let len = (rng.next_u64() % 40) as usize;
        let text: String = (0..len)
            .map(|_| {
                if rng.next_u64() % 8 == 0 {
                    char::from_u32((rng.next_u64() % 0x2FFFF) as u32).unwrap_or('x')
                } else {
                    alphabet[(rng.next_u64() % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        let pieces = catch_unwind(AssertUnwindSafe(|| tok.encode(&text))).unwrap_or_else(|_| panic!("panic on {text:?}"));
        let bytes: Vec<u8> = pieces.iter().flat_map(|p| p.bytes.clone()).collect();
        assert_eq!(bytes, text.as_bytes(), "pieces do not cover {text:?}");
        assert!(pieces.windows(2).all(|w| w[0].span.1 == w[1].span.0), "spans not contiguous for {text:?}");
    });
    assert!(n > 100);
}

#[test]
fn gguf_model_loader_survives_mutated_files() {
    // The reader's own fuzzing (tests/gguf.rs) checks parsing; this checks the model built on
    // it: hyperparameters, tokenizer metadata and tensor shapes from a damaged file.
    let bytes = std::fs::read(fixture("tiny-llama-gguf/model.gguf")).unwrap();
    let n = run_for(Duration::from_secs(2), 3, |rng| {
        let b = mutate(rng, &bytes);
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(m) = Model::from_gguf(&b, "model.gguf") {
                let mut cpu = llm_xray::CpuBackend::new(std::sync::Arc::new(m));
                let _ = cpu.trace(&[1, 2], llm_xray::Parts::none());
            }
        }));
        assert!(result.is_ok(), "panic on a mutated GGUF file");
    });
    assert!(n > 20, "only {n} cases ran");
}

#[test]
fn block_readers_survive_random_blocks_and_sizes() {
    // Random types, shapes and byte counts (often not what the type needs), random bytes
    // (scales of every bit pattern: ±∞, NaN, subnormals): the reader refuses or accepts
    // without panicking; accepted blocks with finite scales give finite products in both the
    // fast kernels and the reference, which agree.
    let (mut accepted, mut multiplied) = (0, 0);
    let n = run_for(Duration::from_secs(2), 4, |rng| {
        let r = |rng: &mut Rng, n: u64| (rng.next_u64() % n) as usize;
        let ty = BLOCKS[r(rng, BLOCKS.len() as u64)];
        let bs = ty.block_size().max(if r(rng, 4) == 0 { 1 } else { 32 });
        let (rows, cols) = (1 + r(rng, 6), bs * (1 + r(rng, 3)) + if r(rng, 5) == 0 { 1 } else { 0 });
        let exact = (cols / ty.block_size()) * ty.type_size() * rows;
        let len = if r(rng, 4) == 0 { exact.saturating_sub(1) + r(rng, 3) } else { exact };
        let raw: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let Ok(b) = Blocks::new(ty, rows, cols, Bytes::owned(raw)) else { return (false, false) };
            if b.check_finite().is_err() {
                return (true, false);
            }
            let l = Linear { w: Matrix::Blocks(vec![b]), b: None };
            // Random scales make terms far larger than their sum, so rounding is held to the
            // sum of the terms' sizes, Σ|w·x|, not to the result; 16-bit values near f32's
            // limit may overflow that sum, and then only the absence of a panic is asked.
            let w = l.w.to_f32().mapv(|v| 0.5 * (v as f64).abs());
            let terms = w.sum_axis(ndarray::Axis(1)).fold(1.0f64, |m, v| m.max(*v));
            for t in [1, 6] {
                let x = ndarray::Array2::from_elem((t, cols), 0.5f32);
                let (got, want) = (fast::linear(&x, &l), ops::linear(&x, &l));
                if terms > 1e37 {
                    continue;
                }
                assert!(got.iter().chain(want.iter()).all(|v| v.is_finite()), "{ty}: a non-finite product from finite scales");
                let d = max_diff(got.as_slice().unwrap(), want.as_slice().unwrap(), "fast vs reference") as f64;
                assert!(d <= 1e-5 * terms, "{ty} [{rows}, {cols}]: max |diff| {d:e} exceeds 1e-5 × Σ|w·x| {terms}");
            }
            (true, true)
        }));
        match result {
            Ok((a, m)) => {
                accepted += a as usize;
                multiplied += m as usize;
            }
            Err(_) => panic!("a block reader panicked on {ty} [{rows}, {cols}] of {len} bytes"),
        }
    });
    assert!(n > 100 && accepted > 10 && multiplied > 10, "{n} cases, {accepted} accepted, {multiplied} multiplied");
}
