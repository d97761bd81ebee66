//! `llm-xray-train`: trains a small GPT-2 on a text corpus with candle (autodiff on CPU) and
//! writes a Hugging Face GPT-2 model folder the engine loads.
//!
//! The model is GPT-2 exactly as `src/cpu.rs` runs it: learned position embeddings, pre-LN
//! blocks, `gelu_new`, fused QKV in HF's Conv1D layout [in, out], tied unembedding,
//! layer_norm_epsilon 1e-5. Training: AdamW (weight decay on matrices only), linear warm-up
//! then cosine decay, global gradient-norm clipping, a fixed seed for initialisation and
//! batches, periodic validation loss and a CSV log.
//!
//! Curriculum: a fraction of training rows (`--repeat-frac`) hold a span of text followed by
//! the same span again (then the text that follows it), so the model meets copying often
//! enough to grow induction heads within a short run.
//!
//! USAGE:
//!   llm-xray-train train --corpus DIR --tokenizer FILE --out DIR [options]
//!   llm-xray-train logits --model DIR --ids 1,2,3      (candle forward pass, JSON logits)
//!   llm-xray-train eval --model DIR --corpus DIR       (val loss, bits/byte, baselines)

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use llm_xray::quant::{self, GgmlType};
use llm_xray::sampling::Rng;
use llm_xray::tokenizer::Tokenizer;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Debug)]
struct Hp {
    n_layer: usize,
    n_head: usize,
    n_embd: usize,
    n_ctx: usize,
    vocab: usize,
}

/// Learned parameters, named as in HF's GPT2Model (`h.0.attn.c_attn.weight`, …).
struct Gpt {
    hp: Hp,
    vars: Vec<(String, Var)>,
    idx: HashMap<String, usize>,
    mask: Tensor,
}

fn normal(rng: &mut Rng, n: usize, std: f64) -> Vec<f32> {
    // Box–Muller from the engine's own seeded RNG: identical initialisation on every machine.
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let u1 = rng.next_f64().max(1e-300);
        let u2 = rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        out.push((r * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32);
        if out.len() < n {
            out.push((r * (2.0 * std::f64::consts::PI * u2).sin() * std) as f32);
        }
    }
    out
}

/// Names and shapes of every learned tensor, in a fixed order.
fn param_shapes(hp: &Hp) -> Vec<(String, Vec<usize>)> {
    let (d, v, p) = (hp.n_embd, hp.vocab, hp.n_ctx);
    let mut s = vec![("wte.weight".to_string(), vec![v, d]), ("wpe.weight".to_string(), vec![p, d])];
    for i in 0..hp.n_layer {
        for (n, sh) in [
            ("ln_1.weight", vec![d]),
            ("ln_1.bias", vec![d]),
            ("attn.c_attn.weight", vec![d, 3 * d]),
            ("attn.c_attn.bias", vec![3 * d]),
            ("attn.c_proj.weight", vec![d, d]),
            ("attn.c_proj.bias", vec![d]),
            ("ln_2.weight", vec![d]),
            ("ln_2.bias", vec![d]),
            ("mlp.c_fc.weight", vec![d, 4 * d]),
            ("mlp.c_fc.bias", vec![4 * d]),
            ("mlp.c_proj.weight", vec![4 * d, d]),
            ("mlp.c_proj.bias", vec![d]),
        ] {
            s.push((format!("h.{i}.{n}"), sh));
        }
    }
    s.push(("ln_f.weight".to_string(), vec![d]));
    s.push(("ln_f.bias".to_string(), vec![d]));
    s
}

fn causal_mask(t: usize, dev: &Device) -> Res<Tensor> {
    let m: Vec<f32> = (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
    Ok(Tensor::from_vec(m, (t, t), dev)?)
}

impl Gpt {
    fn from_values(hp: Hp, values: Vec<(String, Vec<usize>, Vec<f32>)>, dev: &Device) -> Res<Gpt> {
        let mut vars = Vec::new();
        let mut idx = HashMap::new();
        for (name, shape, data) in values {
            idx.insert(name.clone(), vars.len());
            vars.push((name, Var::from_tensor(&Tensor::from_vec(data, shape, dev)?)?));
        }
        let mask = causal_mask(hp.n_ctx, dev)?;
        Ok(Gpt { hp, vars, idx, mask })
    }

    /// GPT-2 initialisation: N(0, 0.02) weights, residual projections scaled by 1/√(2L),
    /// zero biases, unit layer-norm gains. With `sinusoidal_wpe` the position embeddings
    /// start as Vaswani et al.'s sinusoids (then train like any weight): offsets between
    /// positions are then a fixed rotation of each sin/cos pair, so one linear query–key map
    /// can express "attend to the previous token" from the first step, which random position
    /// vectors make the model discover slowly.
    ///
    /// `qk_std` sets the query and key columns of c_attn apart: attention logits are a product
    /// of the two, so at N(0, 0.02) both gradients start tiny and heads stay uniform for a
    /// long plateau before previous-token and induction heads form; a larger start shortens it.
    fn init(hp: Hp, seed: u64, sinusoidal_wpe: bool, qk_std: f64, dev: &Device) -> Res<Gpt> {
        let mut rng = Rng::new(seed);
        let resid_std = 0.02 / (2.0 * hp.n_layer as f64).sqrt();
        let values = param_shapes(&hp)
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let data = if name.ends_with("ln_1.weight") || name.ends_with("ln_2.weight") || name == "ln_f.weight" {
                    vec![1.0; n]
                } else if name.ends_with(".bias") {
                    vec![0.0; n]
                } else if name.ends_with("c_proj.weight") {
                    normal(&mut rng, n, resid_std)
                } else if name.ends_with("c_attn.weight") {
                    // [d, 3d] row-major: columns 0..d are queries, d..2d keys, 2d..3d values.
                    let d3 = shape[1];
                    let (qk, v) = (normal(&mut rng, n, qk_std), normal(&mut rng, n, 0.02));
                    (0..n).map(|k| if k % d3 < 2 * d3 / 3 { qk[k] } else { v[k] }).collect()
                } else if name == "wpe.weight" && sinusoidal_wpe {
                    // Amplitude √2·0.02 gives rows the same norm as N(0, 0.02) token rows.
                    let (p, d) = (shape[0], shape[1]);
                    let amp = 0.02 * std::f64::consts::SQRT_2;
                    (0..p * d)
                        .map(|k| {
                            let (pos, i) = ((k / d) as f64, k % d);
                            let angle = pos / 10000f64.powf((i / 2 * 2) as f64 / d as f64);
                            (amp * if i % 2 == 0 { angle.sin() } else { angle.cos() }) as f32
                        })
                        .collect()
                } else {
                    normal(&mut rng, n, 0.02)
                };
                (name, shape, data)
            })
            .collect();
        Gpt::from_values(hp, values, dev)
    }

    /// Reads a model folder written by `save` (or any tied GPT-2 folder of the same layout).
    fn load(dir: &Path, dev: &Device) -> Res<Gpt> {
        let model = llm_xray::Model::load(dir)?;
        let c = &model.config;
        if !c.tie_word_embeddings || model.weights.lm_head.is_some() || c.n_inner != 4 * c.n_embd {
            return Err("the trainer handles tied GPT-2 models with n_inner = 4·n_embd only".into());
        }
        let hp = Hp { n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd, n_ctx: c.n_positions, vocab: c.vocab_size };
        // Read through safetensors directly so f16 files come back exactly as the engine sees them.
        let bytes = std::fs::read(dir.join("model.safetensors"))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)?;
        let mut values = Vec::new();
        for (name, shape) in param_shapes(&hp) {
            let t = st.tensor(&name).or_else(|_| st.tensor(&format!("transformer.{name}")))?;
            let ty = match t.dtype() {
                safetensors::Dtype::F32 => GgmlType::F32,
                safetensors::Dtype::F16 => GgmlType::F16,
                other => return Err(format!("{name}: dtype {other:?} not handled").into()),
            };
            let data = quant::dequantize(ty, t.data(), t.shape().iter().product())?;
            values.push((name, shape, data));
        }
        Gpt::from_values(hp, values, dev)
    }

    fn p(&self, name: &str) -> &Tensor {
        self.vars[self.idx[name]].1.as_tensor()
    }

    fn layer_norm(&self, x: &Tensor, prefix: &str) -> Res<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
        Ok(xn.broadcast_mul(self.p(&format!("{prefix}.weight")))?.broadcast_add(self.p(&format!("{prefix}.bias")))?)
    }

    /// x [B, T, in] · W [in, out] + b.
    fn linear(&self, x: &Tensor, prefix: &str) -> Res<Tensor> {
        let (b, t, i) = x.dims3()?;
        let w = self.p(&format!("{prefix}.weight"));
        let y = x.reshape((b * t, i))?.matmul(w)?.broadcast_add(self.p(&format!("{prefix}.bias")))?;
        Ok(y.reshape((b, t, w.dim(1)?))?)
    }

    /// Logits [B, T, V] for ids [B, T]; with `attn` set, also every layer's attention
    /// probabilities [B, H, T, T].
    fn forward(&self, ids: &Tensor, mut attn: Option<&mut Vec<Tensor>>) -> Res<Tensor> {
        let (b, t) = ids.dims2()?;
        let (d, nh) = (self.hp.n_embd, self.hp.n_head);
        let hd = d / nh;
        let wte = self.p("wte.weight");
        let tok = wte.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, d))?;
        let pos = self.p("wpe.weight").narrow(0, 0, t)?;
        let mut x = tok.broadcast_add(&pos)?;
        let mask = self.mask.narrow(0, 0, t)?.narrow(1, 0, t)?;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in 0..self.hp.n_layer {
            let h = format!("h.{l}");
            let ln1 = self.layer_norm(&x, &format!("{h}.ln_1"))?;
            let qkv = self.linear(&ln1, &format!("{h}.attn.c_attn"))?;
            let split = |i: usize| -> Res<Tensor> { Ok(qkv.narrow(2, i * d, d)?.reshape((b, t, nh, hd))?.transpose(1, 2)?.contiguous()?) };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            if let Some(a) = attn.as_deref_mut() {
                a.push(probs.clone());
            }
            let heads = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
            x = (x + self.linear(&heads, &format!("{h}.attn.c_proj"))?)?;
            let ln2 = self.layer_norm(&x, &format!("{h}.ln_2"))?;
            let mlp = self.linear(&self.linear(&ln2, &format!("{h}.mlp.c_fc"))?.gelu()?, &format!("{h}.mlp.c_proj"))?;
            x = (x + mlp)?;
        }
        let x = self.layer_norm(&x, "ln_f")?.reshape((b * t, d))?;
        Ok(x.matmul(&wte.t()?)?.reshape((b, t, self.hp.vocab))?)
    }

    /// Mean cross-entropy (nats/token) of predicting ids[:, 1:] from ids[:, :-1].
    fn loss(&self, rows: &Tensor) -> Res<Tensor> {
        let (b, t1) = rows.dims2()?;
        let t = t1 - 1;
        let inp = rows.narrow(1, 0, t)?;
        let tgt = rows.narrow(1, 1, t)?.flatten_all()?;
        let logits = self.forward(&inp, None)?.reshape((b * t, self.hp.vocab))?;
        Ok(candle_nn::loss::cross_entropy(&logits, &tgt)?)
    }

    fn save(&self, dir: &Path, f16: bool, tokenizer: &Path) -> Res<()> {
        std::fs::create_dir_all(dir)?;
        let hp = &self.hp;
        let config = serde_json::json!({
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "vocab_size": hp.vocab,
            "n_positions": hp.n_ctx,
            "n_ctx": hp.n_ctx,
            "n_embd": hp.n_embd,
            "n_layer": hp.n_layer,
            "n_head": hp.n_head,
            "n_inner": null,
            "activation_function": "gelu_new",
            "layer_norm_epsilon": 1e-5,
            "tie_word_embeddings": true,
            "initializer_range": 0.02,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "bos_token_id": 0,
            "eos_token_id": 0,
            "torch_dtype": if f16 { "float16" } else { "float32" }
        });
        std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config)? + "\n")?;
        let dt = if f16 { DType::F16 } else { DType::F32 };
        let mut map = HashMap::new();
        for (name, v) in &self.vars {
            map.insert(name.clone(), v.as_tensor().to_dtype(dt)?);
        }
        candle_core::safetensors::save(&map, dir.join("model.safetensors"))?;
        if tokenizer != dir.join("tokenizer.json") {
            std::fs::copy(tokenizer, dir.join("tokenizer.json"))?;
        }
        Ok(())
    }

    /// Rounds every parameter to f16 and back, so evaluation sees what an f16 file holds.
    fn round_to_f16(&self) -> Res<()> {
        for (_, v) in &self.vars {
            v.set(&v.as_tensor().to_dtype(DType::F16)?.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse(raw: &[String]) -> Res<Args> {
        let mut m = HashMap::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            let k = a.strip_prefix("--").ok_or_else(|| format!("unexpected argument {a}"))?;
            m.insert(k.to_string(), it.next().ok_or_else(|| format!("--{k} needs a value"))?.clone());
        }
        Ok(Args(m))
    }
    fn s(&self, k: &str) -> Res<String> {
        Ok(self.0.get(k).ok_or_else(|| format!("--{k} is required"))?.clone())
    }
    fn n<T: std::str::FromStr>(&self, k: &str, default: T) -> Res<T> {
        match self.0.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{k}: bad number {v}").into()),
        }
    }
}

/// Token ids of a text, exactly as the engine's tokenizer cuts the whole text.
///
/// For speed the text is encoded in pieces, cut only just before a "\n" that follows a
/// non-space character: there GPT-2's pre-tokenizer always has a boundary and no piece's
/// look-ahead crosses it (cutting after whitespace would not be safe: "\n\n" at the end
/// of a piece becomes one pre-token, but "\n","\n" before a word in the whole text).
fn tokenize(tok: &Tokenizer, text: &str) -> Vec<u32> {
    let b = text.as_bytes();
    let mut ids = Vec::new();
    let mut start = 0;
    for i in 1..b.len() {
        if b[i] == b'\n' && !b[i - 1].is_ascii_whitespace() && i - start > 4096 {
            ids.extend(tok.encode_ids(&text[start..i]));
            start = i;
        }
    }
    ids.extend(tok.encode_ids(&text[start..]));
    ids
}

fn token_bytes(tok: &Tokenizer, ids: &[u32]) -> usize {
    ids.iter().map(|&i| tok.token_bytes(i).map_or(0, |b| b.len())).sum()
}

/// How a repeated row is laid out (`--repeat-layout`).
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// Text, one span of 8..=n_ctx/2 tokens, the same span again, text.
    Single,
    /// The whole row is back-to-back pairs (span, same span), span lengths log-uniform in
    /// 4..64. Short gaps between the copies are what let the copying circuit start: in probes
    /// (MODEL_CARD.md) copying with one long gap sat on a plateau for thousands of steps, while
    /// short gaps learned at once; the longer spans teach it to look far back.
    Pairs,
}

/// One span of `span` tokens for a repeated row: text at `s`, or (with probability `random`)
/// random vocabulary tokens, so only copying, not n-gram statistics, predicts its second copy.
fn repeat_piece(rng: &mut Rng, data: &[u32], s: usize, span: usize, random: f64, vocab: usize) -> Vec<u32> {
    if rng.next_f64() < random {
        (0..span).map(|_| 1 + (rng.next_u64() % (vocab as u64 - 1)) as u32).collect()
    } else {
        data[s..s + span].to_vec()
    }
}

/// One training row of n_ctx+1 tokens; with probability `repeat` a row with repeated spans.
fn sample_row(rng: &mut Rng, data: &[u32], len: usize, repeat: f64, random: f64, layout: Layout, vocab: usize) -> Vec<u32> {
    let start = (rng.next_u64() % (data.len() - 2 * len) as u64) as usize;
    if rng.next_f64() >= repeat {
        return data[start..start + len].to_vec();
    }
    if layout == Layout::Pairs {
        let mut row = Vec::with_capacity(len + 128);
        while row.len() < len {
            let span = (4.0 * 16f64.powf(rng.next_f64())) as usize;
            let piece = repeat_piece(rng, data, start + row.len(), span, random, vocab);
            row.extend_from_slice(&piece);
            row.extend_from_slice(&piece);
        }
        row.truncate(len);
        return row;
    }
    let half = (len - 1) / 2;
    let span = 8 + (rng.next_u64() % (half.saturating_sub(8) + 1) as u64) as usize;
    let span = span.min(half);
    let prefix = (rng.next_u64() % (len - 2 * span + 1) as u64) as usize;
    let mut row: Vec<u32> = data[start..start + prefix].to_vec();
    let s = start + prefix;
    let piece = repeat_piece(rng, data, s, span, random, vocab);
    row.extend_from_slice(&piece);
    row.extend_from_slice(&piece);
    let rest = len - row.len();
    row.extend_from_slice(&data[s + span..s + span + rest]);
    row
}

/// Validation: non-overlapping windows of the held-out ids. Returns (nats/token, bits/byte,
/// predicted tokens).
fn evaluate(m: &Gpt, tok: &Tokenizer, val: &[u32], batch: usize, max_batches: usize, dev: &Device) -> Res<(f64, f64, usize)> {
    let len = m.hp.n_ctx + 1;
    let windows: Vec<&[u32]> = val.chunks_exact(len).collect();
    let (mut nats, mut ntok, mut nbytes) = (0.0f64, 0usize, 0usize);
    for chunk in windows.chunks(batch).take(max_batches) {
        let flat: Vec<u32> = chunk.iter().flat_map(|w| w.iter().copied()).collect();
        let rows = Tensor::from_vec(flat, (chunk.len(), len), dev)?;
        let l = m.loss(&rows)?.to_scalar::<f32>()? as f64;
        let n = chunk.len() * (len - 1);
        nats += l * n as f64;
        ntok += n;
        nbytes += chunk.iter().map(|w| token_bytes(tok, &w[1..])).sum::<usize>();
    }
    Ok((nats / ntok as f64, nats / std::f64::consts::LN_2 / nbytes as f64, ntok))
}

/// Unigram and bigram baselines from training counts, on the same windows' targets.
fn baselines(tok: &Tokenizer, train: &[u32], val: &[u32], vocab: usize, n_ctx: usize) -> (f64, f64, f64, f64) {
    let mut uni = vec![1.0f64; vocab]; // add-one
    for &t in train {
        uni[t as usize] += 1.0;
    }
    let total: f64 = uni.iter().sum();
    let mut big: HashMap<(u32, u32), f64> = HashMap::new();
    let mut ctx = vec![0.0f64; vocab];
    for w in train.windows(2) {
        *big.entry((w[0], w[1])).or_default() += 1.0;
        ctx[w[0] as usize] += 1.0;
    }
    let len = n_ctx + 1;
    let pairs: Vec<(u32, u32)> = val.chunks_exact(len).flat_map(|w| w.windows(2).map(|p| (p[0], p[1])).collect::<Vec<_>>()).collect();
    let bytes: usize = pairs.iter().map(|&(_, t)| tok.token_bytes(t).map_or(0, |b| b.len())).sum();
    let uni_nats: f64 = pairs.iter().map(|&(_, t)| -(uni[t as usize] / total).ln()).sum::<f64>() / pairs.len() as f64;
    // Bigram interpolated with the unigram; λ picked from a grid on this split (optimistic).
    let mut best = f64::INFINITY;
    for lam in [0.5, 0.6, 0.7, 0.8, 0.9] {
        let n: f64 = pairs
            .iter()
            .map(|&(a, t)| {
                let c = ctx[a as usize];
                let pb = if c > 0.0 { big.get(&(a, t)).copied().unwrap_or(0.0) / c } else { 0.0 };
                -(lam * pb + (1.0 - lam) * uni[t as usize] / total).ln()
            })
            .sum::<f64>()
            / pairs.len() as f64;
        best = best.min(n);
    }
    let per_byte = pairs.len() as f64 / bytes as f64 / std::f64::consts::LN_2;
    (uni_nats, uni_nats * per_byte, best, best * per_byte)
}

fn load_corpus(corpus: &Path, tok: &Tokenizer) -> Res<(Vec<u32>, Vec<u32>)> {
    let t0 = Instant::now();
    let train = tokenize(tok, &std::fs::read_to_string(corpus.join("train.txt"))?);
    let val_text = std::fs::read_to_string(corpus.join("val.txt"))?;
    let val = tokenize(tok, &val_text);
    // The piecewise encoding must equal the engine's encoding of the whole text.
    if val != tok.encode_ids(&val_text) {
        return Err("piecewise tokenization differs from whole-text tokenization".into());
    }
    eprintln!("tokenized: {} train tokens, {} val tokens in {:.1}s", train.len(), val.len(), t0.elapsed().as_secs_f64());
    Ok((train, val))
}

fn cmd_train(a: &Args) -> Res<()> {
    let dev = Device::Cpu;
    let corpus = PathBuf::from(a.s("corpus")?);
    let tok_path = PathBuf::from(a.s("tokenizer")?);
    let out = PathBuf::from(a.s("out")?);
    let tok = Tokenizer::from_json(&std::fs::read(&tok_path)?)?;
    let hp =
        Hp { n_layer: a.n("layers", 4)?, n_head: a.n("heads", 4)?, n_embd: a.n("width", 128)?, n_ctx: a.n("ctx", 128)?, vocab: a.n("vocab", tok.vocab_len())? };
    let steps: usize = a.n("steps", 3000)?;
    let batch: usize = a.n("batch", 16)?;
    let lr: f64 = a.n("lr", 3e-3)?;
    let min_lr: f64 = a.n("min-lr", lr / 10.0)?;
    let warmup: usize = a.n("warmup", steps / 20)?;
    let wd: f64 = a.n("weight-decay", 0.1)?;
    let clip: f64 = a.n("clip", 1.0)?;
    let repeat: f64 = a.n("repeat-frac", 0.25)?;
    let repeat_random: f64 = a.n("repeat-random", 0.0)?;
    let layout_name = a.s("repeat-layout").unwrap_or_else(|_| "single".into());
    let layout = match layout_name.as_str() {
        "single" => Layout::Single,
        "pairs" => Layout::Pairs,
        other => return Err(format!("--repeat-layout must be single or pairs, not {other}").into()),
    };
    let seed: u64 = a.n("seed", 1234)?;
    let eval_every: usize = a.n("eval-every", 250)?;
    let eval_batches: usize = a.n("eval-batches", 8)?;
    let max_minutes: f64 = a.n("max-minutes", f64::INFINITY)?;
    let f16: bool = a.n("f16", 1u8)? == 1;
    let qk_std: f64 = a.n("qk-init-std", 0.02)?;
    let wpe_init = a.s("wpe-init").unwrap_or_else(|_| "normal".into());
    if wpe_init != "normal" && wpe_init != "sinusoidal" {
        return Err(format!("--wpe-init must be normal or sinusoidal, not {wpe_init}").into());
    }
    eprintln!("config: {hp:?} steps {steps} batch {batch} lr {lr} min_lr {min_lr} warmup {warmup} wd {wd} clip {clip} repeat {repeat} (random {repeat_random}, layout {layout_name}) wpe {wpe_init} qk-std {qk_std} seed {seed}");

    let (train, val) = load_corpus(&corpus, &tok)?;
    let m = Gpt::init(hp.clone(), seed, wpe_init == "sinusoidal", qk_std, &dev)?;
    let n_params: usize = m.vars.iter().map(|(_, v)| v.elem_count()).sum();
    eprintln!("parameters: {n_params}");
    let (decay, no_decay): (Vec<_>, Vec<_>) = m.vars.iter().partition(|(_, v)| v.rank() == 2);
    let params = |wd| ParamsAdamW { lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: wd };
    let mut opt_d = AdamW::new(decay.iter().map(|(_, v)| v.clone()).collect(), params(wd))?;
    let mut opt_n = AdamW::new(no_decay.iter().map(|(_, v)| v.clone()).collect(), params(0.0))?;

    std::fs::create_dir_all(&out)?;
    let mut csv = std::fs::File::create(out.join("loss.csv"))?;
    writeln!(csv, "step,elapsed_s,lr,train_loss,val_loss,val_bpb")?;
    let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    let len = hp.n_ctx + 1;
    let t0 = Instant::now();
    let mut smooth = f64::NAN;
    let mut last_step = 0;
    let mut warmup_s = f64::NAN;
    for step in 1..=steps {
        // Schedule progress: by steps, or by wall-clock time when --max-minutes is the tighter
        // budget (so a run on a busy machine still completes its cosine decay on time).
        let elapsed = t0.elapsed().as_secs_f64();
        let budget_s = max_minutes * 60.0;
        let time_frac = if warmup_s.is_nan() || step <= warmup { 0.0 } else { (elapsed - warmup_s) / (budget_s - warmup_s).max(1.0) };
        let step_frac = step.saturating_sub(warmup) as f64 / (steps - warmup).max(1) as f64;
        let progress = step_frac.max(time_frac).min(1.0);
        let cur_lr = if step <= warmup {
            lr * step as f64 / warmup.max(1) as f64
        } else {
            min_lr + 0.5 * (lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
        };
        if step == warmup + 1 {
            warmup_s = elapsed;
        }
        opt_d.set_learning_rate(cur_lr);
        opt_n.set_learning_rate(cur_lr);
        let flat: Vec<u32> = (0..batch).flat_map(|_| sample_row(&mut rng, &train, len, repeat, repeat_random, layout, hp.vocab)).collect();
        let rows = Tensor::from_vec(flat, (batch, len), &dev)?;
        let loss = m.loss(&rows)?;
        let mut grads = loss.backward()?;
        // Global gradient-norm clipping.
        let mut sq = 0.0f64;
        for (_, v) in &m.vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        let norm = sq.sqrt();
        if norm > clip {
            let f = clip / (norm + 1e-6);
            for (_, v) in &m.vars {
                if let Some(g) = grads.get(v.as_tensor()) {
                    let g = (g * f)?;
                    grads.insert(v.as_tensor(), g);
                }
            }
        }
        opt_d.step(&grads)?;
        opt_n.step(&grads)?;
        let l = loss.to_scalar::<f32>()? as f64;
        smooth = if smooth.is_nan() { l } else { 0.95 * smooth + 0.05 * l };
        let elapsed = t0.elapsed().as_secs_f64();
        last_step = step;
        let out_of_time = step > warmup && progress >= 1.0 && step < steps;
        if step % eval_every == 0 || step == steps || step == 1 || out_of_time {
            let (vl, vb, _) = evaluate(&m, &tok, &val, batch, eval_batches, &dev)?;
            writeln!(csv, "{step},{elapsed:.1},{cur_lr:.6},{l:.4},{vl:.4},{vb:.4}")?;
            eprintln!(
                "step {step:6}  {:.2} steps/s  lr {cur_lr:.2e}  train {l:.3} (smoothed {smooth:.3})  val {vl:.3} nats/token {vb:.3} bits/byte  |g| {norm:.2}",
                step as f64 / elapsed
            );
            m.save(&out.join("checkpoint"), false, &tok_path)?;
        } else {
            writeln!(csv, "{step},{elapsed:.1},{cur_lr:.6},{l:.4},,")?;
            if step % 50 == 0 {
                eprintln!("step {step:6}  {:.2} steps/s  train {l:.3} (smoothed {smooth:.3})  |g| {norm:.2}", step as f64 / elapsed);
            }
        }
        csv.flush()?;
        if out_of_time {
            eprintln!("stopping at step {step}: the --max-minutes {max_minutes} budget is spent and the learning rate has decayed");
            break;
        }
    }
    let train_s = t0.elapsed().as_secs_f64();
    if f16 {
        m.round_to_f16()?;
    }
    m.save(&out, f16, &tok_path)?;
    let _ = std::fs::remove_dir_all(out.join("checkpoint"));
    // Final evaluation on every held-out window, with the weights as shipped.
    let (vl, vb, n) = evaluate(&m, &tok, &val, batch, usize::MAX, &dev)?;
    let (un, ub, bn, bb) = baselines(&tok, &train, &val, hp.vocab, hp.n_ctx);
    let report = serde_json::json!({
        "steps": last_step, "max_steps": steps, "train_seconds": train_s, "steps_per_second": last_step as f64 / train_s,
        "batch": batch, "lr": lr, "min_lr": min_lr, "warmup": warmup, "weight_decay": wd, "clip": clip,
        "repeat_frac": repeat, "repeat_random": repeat_random, "repeat_layout": layout_name, "wpe_init": wpe_init, "qk_init_std": qk_std, "seed": seed, "max_minutes": if max_minutes.is_finite() { serde_json::json!(max_minutes) } else { serde_json::Value::Null },
        "threads": std::env::var("RAYON_NUM_THREADS").ok(), "parameters": n_params,
        "n_layer": hp.n_layer, "n_head": hp.n_head, "n_embd": hp.n_embd, "n_ctx": hp.n_ctx, "vocab": hp.vocab,
        "train_tokens": train.len(), "val_tokens_scored": n, "weights_dtype": if f16 { "f16" } else { "f32" },
        "val_nats_per_token": vl, "val_bits_per_byte": vb,
        "unigram_nats_per_token": un, "unigram_bits_per_byte": ub,
        "bigram_nats_per_token": bn, "bigram_bits_per_byte": bb,
    });
    std::fs::write(out.join("train_report.json"), serde_json::to_string_pretty(&report)? + "\n")?;
    eprintln!("done: {report}");
    Ok(())
}

fn cmd_logits(a: &Args) -> Res<()> {
    let dev = Device::Cpu;
    let m = Gpt::load(Path::new(&a.s("model")?), &dev)?;
    let ids: Vec<u32> = a.s("ids")?.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
    let t = ids.len();
    let logits = m.forward(&Tensor::from_vec(ids, (1, t), &dev)?, None)?.squeeze(0)?.to_vec2::<f32>()?;
    println!("{}", serde_json::to_string(&logits)?);
    Ok(())
}

fn cmd_eval(a: &Args) -> Res<()> {
    let dev = Device::Cpu;
    let dir = PathBuf::from(a.s("model")?);
    let m = Gpt::load(&dir, &dev)?;
    let tok = Tokenizer::from_json(&std::fs::read(dir.join("tokenizer.json"))?)?;
    let (train, val) = load_corpus(Path::new(&a.s("corpus")?), &tok)?;
    let (vl, vb, n) = evaluate(&m, &tok, &val, 16, usize::MAX, &dev)?;
    let (un, ub, bn, bb) = baselines(&tok, &train, &val, m.hp.vocab, m.hp.n_ctx);
    println!(
        "{}",
        serde_json::json!({"val_tokens_scored": n, "val_nats_per_token": vl, "val_bits_per_byte": vb,
        "unigram_nats_per_token": un, "unigram_bits_per_byte": ub, "bigram_nats_per_token": bn, "bigram_bits_per_byte": bb})
    );
    Ok(())
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = raw.split_first().map(|(c, r)| (c.as_str(), r)).unwrap_or(("", &[]));
    let r = Args::parse(rest).and_then(|a| match cmd {
        "train" => cmd_train(&a),
        "logits" => cmd_logits(&a),
        "eval" => cmd_eval(&a),
        _ => Err("usage: llm-xray-train (train|logits|eval) --option value …; see src/bin/train.rs".into()),
    });
    if let Err(e) = r {
        eprintln!("llm-xray-train: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pairs row is n_ctx+1 tokens of (span, same span) pairs, spans 4..64 tokens long.
    #[test]
    fn pairs_rows_are_back_to_back_repeats() {
        // Distinct consecutive ids: a text span is a run of +1 steps, so its length is visible.
        let data: Vec<u32> = (0..10_000).map(|i| 5000 + i).collect();
        let mut rng = Rng::new(7);
        let mut lengths = Vec::new();
        for _ in 0..200 {
            let row = sample_row(&mut rng, &data, 129, 1.0, 0.0, Layout::Pairs, 4096);
            assert_eq!(row.len(), 129);
            let mut i = 0;
            while i < row.len() {
                let mut s = 1;
                while i + s < row.len() && row[i + s] == row[i + s - 1] + 1 {
                    s += 1;
                }
                if i + s < row.len() {
                    assert!((4..64).contains(&s), "span of {s} tokens at {i} in {row:?}");
                    lengths.push(s);
                }
                let end = (i + 2 * s).min(row.len());
                assert_eq!(row[i + s..end], row[i..end - s], "the copy at {} differs from its span", i + s);
                i += 2 * s;
            }
        }
        // Log-uniform: short gaps are common, and long ones occur.
        assert!(lengths.iter().filter(|&&s| s < 12).count() > lengths.len() / 3);
        assert!(lengths.iter().any(|&s| s >= 40));
    }

    /// The single layout: text, one span, the same span, the text after it.
    #[test]
    fn single_rows_hold_one_repeat() {
        let data: Vec<u32> = (0..10_000).map(|i| 5000 + i).collect();
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            let row = sample_row(&mut rng, &data, 129, 1.0, 0.0, Layout::Single, 4096);
            assert_eq!(row.len(), 129);
            // The copy is the only place the consecutive ids jump back.
            let breaks: Vec<usize> = (1..row.len()).filter(|&k| row[k] != row[k - 1] + 1).collect();
            assert_eq!(breaks.len(), 1, "expected text, a span, its copy, text: {row:?}");
            let a = breaks[0];
            let span = a - row.iter().position(|&x| x == row[a]).unwrap();
            assert!((8..=64).contains(&span) && a + span <= row.len(), "span {span} at {a}");
            assert_eq!(row[a..a + span], row[a - span..a]);
        }
    }
}
