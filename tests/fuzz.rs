//! Property test: the loaders and tokenizer never panic on random and mutated bytes.
//! Bounded in time (about 2 s per target) so it fits every `npm test`.

mod common;
use common::*;
use llm_xray::sampling::Rng;
use llm_xray::tokenizer::Tokenizer;
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
