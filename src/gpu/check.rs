//! Each op on its own, host slices in and out, for the kernel tests (tests/gpu.rs) to hold
//! against the CPU reference's function for the same op. Not a fast path: every call
//! uploads and reads back. The kernels are launched through the same launchers the backend
//! uses, so what is tested is what runs. Test support: compiled only for this crate's
//! tests or with the `test-support` feature, which `cargo test` turns on.

use super::context::Context;
use super::device_weights::{upload_linear, Table};
use super::ops::linear::{self, GpuLinear, GpuWeight};
use super::ops::{activation, add, attention, head_mask, kv_append, matmul, norm, rope, scale, softmax, split_qkv, u, ALL};
use super::recorder::{Pipelines, Recorder};
use crate::config::{Activation, Norm};
use crate::cpu;
use crate::cpu::ops::Scheme;
use crate::error::Result;
use crate::weights::{Linear, Matrix};

pub struct Ops {
    ctx: Context,
    pipelines: Pipelines,
}

/// Everything one layer's attention computes: per-head q, k, v of the new rows
/// [heads, T, hd] (q and k after RoPE when rotated), scores and probabilities [H, T, Tk],
/// and the heads' outputs z [T, H·hd].
pub struct AttentionOut {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub scores: Vec<f32>,
    pub probs: Vec<f32>,
    pub z: Vec<f32>,
}

impl Ops {
    pub async fn new() -> Result<Ops> {
        let ctx = Context::new(1 << 27).await?;
        let pipelines = Pipelines::new(&ctx, ALL).await?;
        Ok(Ops { ctx, pipelines })
    }

    async fn run(&self, r: Recorder<'_>, outs: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<f32>>> {
        let mut r = r;
        let slots: Vec<_> = outs.iter().map(|(b, n)| r.save(b, 0, *n)).collect();
        let groups: Vec<_> = slots.iter().map(std::slice::from_ref).collect();
        Ok(r.finish(&groups).await?.0)
    }

    fn recorder(&self) -> Recorder<'_> {
        Recorder::new(&self.ctx, &self.pipelines)
    }

    fn up(&self, data: &[f32]) -> Result<wgpu::Buffer> {
        self.ctx.upload("test input", data)
    }

    fn out(&self, n: usize) -> Result<wgpu::Buffer> {
        self.ctx.storage("test output", n)
    }

    /// LayerNorm (with `b`) or RMSNorm (without) of the rows of x [rows, n].
    pub async fn norm(&self, x: &[f32], n: usize, g: &[f32], b: Option<&[f32]>, eps: f32) -> Result<Vec<f32>> {
        let (xb, gb, y) = (self.up(x)?, self.up(g)?, self.out(x.len())?);
        let bb = b.map(|b| self.up(b)).transpose()?;
        let kind = if b.is_some() { Norm::LayerNorm } else { Norm::RmsNorm };
        let mut r = self.recorder();
        norm::run(&mut r, norm::Params { rows: u(x.len() / n), n: u(n), eps }, kind, &xb, &gb, &y, bb.as_ref());
        Ok(self.run(r, &[(&y, x.len())]).await?.remove(0))
    }

    /// QK-norm: RMSNorm of each head of per-head rows x [heads, T, hd], every head with the
    /// one gain g [hd].
    pub async fn qk_norm(&self, x: &[f32], hd: usize, g: &[f32], eps: f32) -> Result<Vec<f32>> {
        let (xb, gb, y) = (self.up(x)?, self.up(g)?, self.out(x.len())?);
        let mut r = self.recorder();
        norm::heads(&mut r, u(x.len() / hd), u(hd), eps, &xb, &gb, &y);
        Ok(self.run(r, &[(&y, x.len())]).await?.remove(0))
    }

    /// x × s, elementwise (Gemma's embedding scale), in place on the device.
    pub async fn scale(&self, x: &[f32], s: f32) -> Result<Vec<f32>> {
        let xb = self.up(x)?;
        let mut r = self.recorder();
        scale::run(&mut r, scale::Params { n: u(x.len()), s }, &xb);
        Ok(self.run(r, &[(&xb, x.len())]).await?.remove(0))
    }

    /// a [m, k] · w + bias, with w [k, n] (Conv1D layout) or, `transposed`, w [n, k] (an
    /// embedding table used as the unembedding, which has no bias).
    #[allow(clippy::too_many_arguments)] // the shapes spelled out read better in tests
    pub async fn matmul(&self, a: &[f32], m: usize, k: usize, w: &[f32], n: usize, bias: Option<&[f32]>, transposed: bool) -> Result<Vec<f32>> {
        let (ab, c) = (self.up(a)?, self.out(m * n)?);
        let wb = self.up(w)?;
        let mut r = self.recorder();
        if transposed {
            matmul::run(&mut r, matmul::Params { m: u(m), n: u(n), k: u(k), ldc: u(n), c_off: 0, a_off: 0, trans_b: 1 }, &ab, &wb, &c);
        } else {
            let l = GpuLinear { w: GpuWeight::F32(wb), b: bias.map(|b| self.up(b)).transpose()?, k, n };
            linear::run(&mut r, &ab, m, &l, &c);
        }
        Ok(self.run(r, &[(&c, m * n)]).await?.remove(0))
    }

    /// a [m, k] · W + b for a layer as the backend uploads it (weights held in blocks run
    /// the qmatmul kernels, one per stacked part).
    pub async fn linear(&self, a: &[f32], m: usize, l: &Linear) -> Result<Vec<f32>> {
        let (ab, c) = (self.up(a)?, self.out(m * l.n_out())?);
        let gl = upload_linear(&self.ctx, "test layer", l)?;
        let mut r = self.recorder();
        linear::run(&mut r, &ab, m, &gl, &c);
        Ok(self.run(r, &[(&c, m * l.n_out())]).await?.remove(0))
    }

    /// Logits x [m, d] · Uᵀ for a table U [V, d] uploaded as the backend does, in chunks of
    /// `chunk_rows` rows.
    pub async fn unembed(&self, x: &[f32], m: usize, table: &Matrix, chunk_rows: usize) -> Result<Vec<f32>> {
        let (v, d) = (table.rows(), table.cols());
        let (xb, c) = (self.up(x)?, self.out(m * v)?);
        let t = Table::upload(&self.ctx, "test table", table, (chunk_rows * table.bytes() / v.max(1)) as u64)?;
        let mut r = self.recorder();
        t.times_rows(&mut r, &xb, m, 0, d, v, &c);
        Ok(self.run(r, &[(&c, m * v)]).await?.remove(0))
    }

    /// act(x), or act(x) · up when `up` is given (the gated MLP).
    pub async fn activation(&self, x: &[f32], a: Activation, up: Option<&[f32]>) -> Result<Vec<f32>> {
        let (xb, y) = (self.up(x)?, self.out(x.len())?);
        let p = activation::Params { n: u(x.len()), kind: activation::kind(a) };
        let mut r = self.recorder();
        match up {
            Some(up) => {
                let ub = self.up(up)?;
                activation::gated(&mut r, p, &xb, &y, &ub);
            }
            None => activation::run(&mut r, p, &xb, &y),
        }
        Ok(self.run(r, &[(&y, x.len())]).await?.remove(0))
    }

    pub async fn add(&self, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
        let (ab, bb, y) = (self.up(a)?, self.up(b)?, self.out(a.len())?);
        let mut r = self.recorder();
        add::run(&mut r, add::Params { n: u(a.len()) }, &ab, &bb, &y);
        Ok(self.run(r, &[(&y, a.len())]).await?.remove(0))
    }

    /// Softmax of each row of x [rows, n] (no mask).
    pub async fn softmax(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let rows = x.len() / n;
        let (xb, y) = (self.up(x)?, self.out(x.len())?);
        let mut r = self.recorder();
        softmax::run(&mut r, softmax::Params { rows: u(rows), n: u(n), causal: 0, start: 0, t: u(rows), window: 0 }, &xb, &y);
        Ok(self.run(r, &[(&y, x.len())]).await?.remove(0))
    }

    /// Rows `ids` of `table` [_, d], through the backend's own embedding table uploaded in
    /// chunks of `chunk_rows` rows (as for an embedding larger than one binding).
    pub async fn embed(&self, ids: &[u32], table: &[f32], d: usize, chunk_rows: usize) -> Result<Vec<f32>> {
        let m = Matrix::F32(ndarray::Array2::from_shape_vec((table.len() / d, d), table.to_vec()).expect("rows of d values"));
        self.embed_matrix(ids, &m, chunk_rows).await
    }

    /// As [`Ops::embed`] for a table as the engine holds it (f32 or blocks).
    pub async fn embed_matrix(&self, ids: &[u32], table: &Matrix, chunk_rows: usize) -> Result<Vec<f32>> {
        let (t, d) = (ids.len(), table.cols());
        let idb = self.ctx.scratch_u32("test ids", ids)?;
        let y = self.out(t * d)?;
        let table = Table::upload(&self.ctx, "test table", table, (chunk_rows * table.bytes() / table.rows().max(1)) as u64)?;
        let mut r = self.recorder();
        table.gather(&mut r, &idb, t, d, None, &y);
        Ok(self.run(r, &[(&y, t * d)]).await?.remove(0))
    }

    /// RoPE of per-head rows x [heads, T, hd] at positions start.., with frequencies
    /// `inv_freq` [hd/2] (through the cos/sin tables the backend uploads).
    pub async fn rope(&self, x: &[f32], heads: usize, hd: usize, start: usize, inv_freq: &[f32]) -> Result<Vec<f32>> {
        let t = x.len() / (heads * hd);
        let (sin, cos): (Vec<f32>, Vec<f32>) = cpu::ops::rope_angles(0, start + t, inv_freq).into_iter().unzip();
        let (xb, cb, sb, y) = (self.up(x)?, self.up(&cos)?, self.up(&sin)?, self.out(x.len())?);
        let mut r = self.recorder();
        rope::run(&mut r, rope::Params { heads: u(heads), t: u(t), hd: u(hd), start: u(start) }, &xb, &cb, &sb, &y);
        Ok(self.run(r, &[(&y, x.len())]).await?.remove(0))
    }

    /// One layer's attention, heads = (H, Hkv, hd), from the fused projection qkv
    /// [T, (H + 2·Hkv)·hd], after
    /// `past_k` and `past_v` [start, Hkv·hd] already in the cache: split into heads,
    /// append to the cache, scores with the scale and the causal (and sliding-window) mask
    /// of `scheme`, softmax, probabilities · values; then, given a `mask` (keep [H],
    /// replacements [H·hd], as `Ablation::layer_mask` makes them), the ablated heads'
    /// outputs are replaced.
    pub async fn attention(
        &self,
        qkv: &[f32],
        past_k: &[f32],
        past_v: &[f32],
        (h, kv, hd): (usize, usize, usize),
        scheme: Scheme,
        mask: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Result<AttentionOut> {
        let kvw = kv * hd;
        let (t, start) = (qkv.len() / ((h + 2 * kv) * hd), past_k.len() / kvw);
        let tk = start + t;
        let cache = |past: &[f32]| {
            let mut c = past.to_vec();
            c.resize(tk * kvw, 0.0);
            self.up(&c)
        };
        let (qkvb, kc, vc) = (self.up(qkv)?, cache(past_k)?, cache(past_v)?);
        let (q, k, v) = (self.out(t * h * hd)?, self.out(t * kvw)?, self.out(t * kvw)?);
        let (sc, pr, z) = (self.out(h * t * tk)?, self.out(h * t * tk)?, self.out(t * h * hd)?);
        let mut r = self.recorder();
        split_qkv::run(&mut r, split_qkv::Params { t: u(t), hq: u(h), hkv: u(kv), hd: u(hd) }, &qkvb, &q, &k, &v);
        let rows = kv_append::Params { heads: u(kv), t: u(t), hd: u(hd), start: u(start) };
        kv_append::run(&mut r, rows, &k, &kc);
        kv_append::run(&mut r, rows, &v, &vc);
        attention::run(
            &mut r,
            attention::Shape { h, kv, hd, t, start, scale: scheme.scale, window: scheme.window },
            attention::Buffers { q: &q, k_cache: &kc, v_cache: &vc, scores: &sc, probs: &pr, z: &z },
        );
        let mask = mask.map(|(keep, repl)| Ok::<_, crate::Error>((self.up(&keep)?, self.up(&repl)?))).transpose()?;
        if let Some((kb, rb)) = &mask {
            head_mask::run(&mut r, head_mask::Params { t: u(t), h: u(h), hd: u(hd) }, kb, rb, &z);
        }
        let mut out = self.run(r, &[(&q, t * h * hd), (&k, t * kvw), (&v, t * kvw), (&sc, h * t * tk), (&pr, h * t * tk), (&z, t * h * hd)]).await?.into_iter();
        let mut next = || out.next().expect("six readbacks");
        Ok(AttentionOut { q: next(), k: next(), v: next(), scores: next(), probs: next(), z: next() })
    }
}
