//! Each kernel on its own, host slices in and out, for the kernel tests (tests/gpu.rs)
//! to hold against the CPU reference. Not a fast path: every call uploads and reads back.

use super::context::Context;
use super::kernels::{grid, Kernels, Mm, Recorder, K};
use crate::config::Activation;
use crate::error::Result;

pub struct Ops {
    ctx: Context,
    k: Kernels,
}

/// Everything `attention` computes for one layer: per-head q/k/v of the new rows
/// [H, T, hd], scores and probabilities [H, T, Tk], and the heads' output [T, d].
pub struct AttentionOut {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub scores: Vec<f32>,
    pub probs: Vec<f32>,
    pub out: Vec<f32>,
}

fn u(x: usize) -> u32 {
    x as u32
}

impl Ops {
    pub async fn new() -> Result<Ops> {
        let ctx = Context::new(1 << 27).await?;
        let k = Kernels::new(&ctx).await?;
        Ok(Ops { ctx, k })
    }

    pub fn adapter(&self) -> &super::AdapterSummary {
        &self.ctx.summary
    }

    async fn read(&self, r: Recorder<'_>, bufs: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<f32>>> {
        let mut r = r;
        let slots: Vec<_> = bufs.iter().map(|(b, n)| r.save(b, 0, *n)).collect();
        r.finish(&slots).await
    }

    fn rec(&self, bytes: usize) -> Recorder<'_> {
        Recorder::new(&self.ctx, &self.k, (bytes * 4) as u64)
    }

    /// Rows of `x` [rows, n] normalised with gain `g` and bias `b` [n].
    pub async fn layer_norm(&self, x: &[f32], n: usize, g: &[f32], b: &[f32], eps: f32) -> Result<Vec<f32>> {
        let rows = x.len() / n;
        let (xb, gb, bb, y) = (self.ctx.upload("x", x)?, self.ctx.upload("g", g)?, self.ctx.upload("b", b)?, self.ctx.storage("y", x.len())?);
        let mut r = self.rec(x.len());
        r.dispatch(K::LayerNorm, [u(rows), u(n), eps.to_bits(), 0, 0, 0, 0, 0], &[&xb, &gb, &bb, &y], (u(rows), 1, 1));
        Ok(self.read(r, &[(&y, x.len())]).await?.remove(0))
    }

    /// a [m, k] · w + bias (the few-rows kernel up to 8 rows, the tiled one above), with w [k, n] (Conv1D) or, `transposed`, w [n, k] (an embedding table).
    #[allow(clippy::too_many_arguments)] // the shapes spelled out read better in tests
    pub async fn matmul(&self, a: &[f32], m: usize, k: usize, w: &[f32], n: usize, bias: Option<&[f32]>, transposed: bool) -> Result<Vec<f32>> {
        let (ab, wb) = (self.ctx.upload("a", a)?, self.ctx.upload("w", w)?);
        let bb = self.ctx.upload("bias", bias.unwrap_or(&[0.0]))?;
        let c = self.ctx.storage("c", m * n)?;
        let mut r = self.rec(m * n);
        r.matmul(Mm { m, n, k, ldc: n, c_off: 0, a_off: 0, transposed, bias: bias.is_some() }, &ab, &wb, &bb, &c);
        Ok(self.read(r, &[(&c, m * n)]).await?.remove(0))
    }

    pub async fn activation(&self, x: &[f32], a: Activation) -> Result<Vec<f32>> {
        let (xb, y) = (self.ctx.upload("x", x)?, self.ctx.storage("y", x.len())?);
        let kind = if a == Activation::Relu { 1 } else { 0 };
        let mut r = self.rec(x.len());
        r.dispatch(K::Activation, [u(x.len()), kind, 0, 0, 0, 0, 0, 0], &[&xb, &y], grid(x.len()));
        Ok(self.read(r, &[(&y, x.len())]).await?.remove(0))
    }

    pub async fn add(&self, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
        let (ab, bb, y) = (self.ctx.upload("a", a)?, self.ctx.upload("b", b)?, self.ctx.storage("y", a.len())?);
        let mut r = self.rec(a.len());
        r.dispatch(K::Add, [u(a.len()), 0, 0, 0, 0, 0, 0, 0], &[&ab, &bb, &y], grid(a.len()));
        Ok(self.read(r, &[(&y, a.len())]).await?.remove(0))
    }

    /// Softmax of each row of `x` [rows, n] (no mask).
    pub async fn softmax(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let rows = x.len() / n;
        let (xb, y) = (self.ctx.upload("x", x)?, self.ctx.storage("y", x.len())?);
        let mut r = self.rec(x.len());
        r.dispatch(K::Softmax, [u(rows), u(n), 0, 0, 1, 0, 0, 0], &[&xb, &y], (u(rows), 1, 1));
        Ok(self.read(r, &[(&y, x.len())]).await?.remove(0))
    }

    /// Rows `ids` of `table` [_, d], with the table uploaded in chunks of `chunk_rows` rows
    /// (one gather dispatch per chunk, as for an embedding larger than one binding).
    pub async fn embed(&self, ids: &[u32], table: &[f32], d: usize, chunk_rows: usize) -> Result<Vec<f32>> {
        let t = ids.len();
        let idb = self.ctx.upload_u32("ids", ids)?;
        let y = self.ctx.storage("y", t * d)?;
        let rows = table.len() / d;
        let chunks: Vec<_> = (0..rows)
            .step_by(chunk_rows)
            .map(|r0| {
                let n = chunk_rows.min(rows - r0);
                Ok((r0, n, self.ctx.upload("table", &table[r0 * d..(r0 + n) * d])?))
            })
            .collect::<Result<_>>()?;
        let mut r = self.rec(t * d);
        for (r0, n, c) in &chunks {
            r.dispatch(K::Embed, [u(t), u(d), u(*r0), u(*n), 0, 1, 0, 0], &[&idb, c, &y], grid(t * d));
        }
        Ok(self.read(r, &[(&y, t * d)]).await?.remove(0))
    }

    /// One attention block from the fused projection `qkv` [T, 3d], after `past_k` and
    /// `past_v` [start, d] already in the cache: split into heads, scores with scale and
    /// causal mask, softmax, probabilities · values.
    pub async fn attention(&self, qkv: &[f32], past_k: &[f32], past_v: &[f32], d: usize, n_head: usize) -> Result<AttentionOut> {
        let (t, start, hd) = (qkv.len() / (3 * d), past_k.len() / d, d / n_head);
        let tk = start + t;
        let mut kc0 = past_k.to_vec();
        kc0.resize(tk * d, 0.0);
        let mut vc0 = past_v.to_vec();
        vc0.resize(tk * d, 0.0);
        let c = &self.ctx;
        let (qkvb, kc, vc) = (c.upload("qkv", qkv)?, c.upload("k cache", &kc0)?, c.upload("v cache", &vc0)?);
        let (qh, kh, vh) = (c.storage("q", t * d)?, c.storage("k", t * d)?, c.storage("v", t * d)?);
        let (sc, pr, out) = (c.storage("scores", n_head * t * tk)?, c.storage("probs", n_head * t * tk)?, c.storage("out", t * d)?);
        let mut r = self.rec(4 * t * d + 2 * n_head * t * tk);
        let scale = (1.0 / (hd as f32).sqrt()).to_bits();
        r.dispatch(K::SplitQkv, [u(t), u(d), u(hd), u(start), 0, 0, 0, 0], &[&qkvb, &qh, &kh, &vh, &kc, &vc], grid(t * 3 * d));
        r.dispatch(K::AttnScores, [u(n_head), u(t), u(tk), u(hd), u(d), u(start), scale, f32::NEG_INFINITY.to_bits()], &[&qh, &kc, &sc], grid(n_head * t * tk));
        r.dispatch(K::Softmax, [u(n_head * t), u(tk), 1, u(start), u(t), 0, 0, 0], &[&sc, &pr], (u(n_head * t), 1, 1));
        r.dispatch(K::AttnValues, [u(t), u(tk), u(hd), u(d), u(start), 0, 0, 0], &[&pr, &vc, &out], grid(t * d));
        let mut v = self
            .read(r, &[(&qh, t * d), (&kh, t * d), (&vh, t * d), (&sc, n_head * t * tk), (&pr, n_head * t * tk), (&out, t * d)])
            .await?
            .into_iter();
        let mut next = || v.next().expect("six readbacks");
        Ok(AttentionOut { q: next(), k: next(), v: next(), scores: next(), probs: next(), out: next() })
    }
}
