//! Turning next-token logits into a choice: greedy, or sampled with temperature, top-k and
//! top-p from a seeded generator so every run can be reproduced.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// 0 means greedy (always the most probable token).
    pub temperature: f32,
    /// Keep only the k most probable tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most probable tokens whose probability reaches p; 1 keeps all.
    pub top_p: f32,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 }
    }
}

/// SplitMix64: tiny, fast, and the same stream on every platform, unlike a system RNG.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Index of the largest value; the first one on ties (as `torch.argmax`).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

impl Sampling {
    /// Refuses settings that have no meaning, in words for people (CLI and page alike).
    pub fn check(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err("temperature must be 0 (greedy) or a positive number".into());
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err("top-p must be in (0, 1]".into());
        }
        Ok(())
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// The distribution sampling draws from, after temperature, top-k and top-p, as
    /// (token id, probability) pairs sorted most probable first. Tokens cut by top-k/top-p
    /// are left out; the rest sum to 1. Greedy is the limit of temperature → 0: all
    /// probability on the argmax.
    pub fn distribution(&self, logits: &[f32]) -> Vec<(u32, f32)> {
        if logits.is_empty() {
            return Vec::new();
        }
        if self.is_greedy() {
            return vec![(argmax(logits), 1.0)];
        }
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        // Stable sort keeps lower ids first on ties, so results never depend on sort internals.
        order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
        if self.top_k > 0 {
            order.truncate(self.top_k);
        }
        let max = logits[order[0] as usize] as f64;
        let t = self.temperature as f64;
        let weights: Vec<f64> = order.iter().map(|&i| ((logits[i as usize] as f64 - max) / t).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut out = Vec::with_capacity(order.len());
        let mut cumulative = 0.0;
        for (&id, w) in order.iter().zip(&weights) {
            let p = w / total;
            out.push((id, p));
            cumulative += p;
            if cumulative >= self.top_p as f64 {
                break;
            }
        }
        let kept: f64 = out.iter().map(|(_, p)| p).sum();
        out.into_iter().map(|(id, p)| (id, (p / kept) as f32)).collect()
    }

    pub fn sample(&self, logits: &[f32], rng: &mut Rng) -> u32 {
        if self.is_greedy() {
            return argmax(logits);
        }
        let dist = self.distribution(logits);
        let mut r = rng.next_f64();
        for &(id, p) in &dist {
            r -= p as f64;
            if r < 0.0 {
                return id;
            }
        }
        dist.last().map_or(0, |d| d.0)
    }
}
