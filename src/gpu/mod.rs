//! GPU backend: the whole forward pass as WGSL compute shaders on wgpu — WebGPU in the
//! browser, Vulkan/Metal/DX12 natively — filling the same [`Trace`] as the CPU reference.
//!
//! One run is one command encoder: every kernel of every layer, and right after each layer
//! the copies of the parts the caller asked for into one readback buffer (activation
//! buffers are reused by the next layer, so the copy must come first). One submit, one map,
//! then the trace is cut out of the mapped bytes. Weights are uploaded once, in `new`; the
//! KV cache lives on the GPU as [n_positions, kv_width] per layer; working buffers are
//! pooled, so a run allocates nothing once they are large enough.

pub mod check;
mod context;
mod kernels;

use crate::backend::Ablation;
use crate::clock::now_ms;
use crate::config::Config;
use crate::cpu;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::trace::{self, Dims, Part, Parts, Trace};
use crate::weights::{Linear, NormWeights};
use context::Context;
use kernels::{
    activation_kind, u, ActParams, AddParams, AttnBuffers, AttnShape, EmbedParams, GpuLinear, HeadRowsParams, Kernels, MaskParams, MatmulParams, NormParams,
    Recorder, Slot, SoftmaxParams, SplitParams,
};
use std::sync::Arc;

/// The adapter a backend runs on, for people and for `auto`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    /// wgpu's name of the graphics API: Vulkan, Metal, Dx12, Gl, BrowserWebGpu.
    pub backend: String,
    /// A software rasteriser (llvmpipe, SwiftShader, …): slower than the CPU path.
    pub is_software: bool,
}

/// Knobs for tests; `Default` is what `GpuBackend::new` uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct GpuOptions {
    /// Split embedding tables into chunks of at most this many bytes even when the
    /// adapter's binding limit is larger (tests the split on small fixtures).
    pub max_binding_bytes: Option<u64>,
}

/// A tensor uploaded as row chunks, each within one storage binding: (first row, rows, buffer).
struct Table {
    chunks: Vec<(usize, usize, wgpu::Buffer)>,
}

impl Table {
    fn upload(ctx: &Context, name: &str, data: &[f32], cols: usize, max_bytes: u64) -> Result<Table> {
        let rows = data.len() / cols;
        let per = ((max_bytes / (cols as u64 * 4)) as usize).max(1);
        let mut chunks = Vec::new();
        let mut r0 = 0;
        while r0 < rows {
            let n = per.min(rows - r0);
            chunks.push((r0, n, ctx.upload(&format!("{name} rows {r0}..{}", r0 + n), &data[r0 * cols..(r0 + n) * cols])?));
            r0 += n;
        }
        Ok(Table { chunks })
    }

    /// Rows picked by token id (`use_ids`) or by position start.. into out [t, d].
    fn gather(&self, r: &mut Recorder, ids: &wgpu::Buffer, t: usize, d: usize, pos_start: Option<usize>, out: &wgpu::Buffer) {
        for (row0, n, chunk) in &self.chunks {
            let p = EmbedParams {
                rows: t as u32,
                d: d as u32,
                row0: *row0 as u32,
                nrows: *n as u32,
                pos_start: pos_start.unwrap_or(0) as u32,
                use_ids: pos_start.is_none() as u32,
            };
            r.embed(p, ids, chunk, out);
        }
    }
}

struct GpuNorm {
    g: wgpu::Buffer,
    b: Option<wgpu::Buffer>,
}

struct GpuLayer {
    ln_1: GpuNorm,
    qkv: GpuLinear,
    o: GpuLinear,
    ln_2: GpuNorm,
    up: GpuLinear,
    gate: Option<GpuLinear>,
    down: GpuLinear,
    k_cache: wgpu::Buffer,
    v_cache: wgpu::Buffer,
    /// Ablated heads: keep-mask [H] and replacements [H·hd].
    mask: Option<(wgpu::Buffer, wgpu::Buffer)>,
}

pub struct GpuBackend {
    model: Arc<Model>,
    ctx: Context,
    kernels: Kernels,
    wte: Table,
    wpe: Option<Table>,
    /// None: tied, the unembedding is `wte`.
    lm_head: Option<Table>,
    layers: Vec<GpuLayer>,
    ln_f: GpuNorm,
    /// cos and sin of every position's RoPE angles [n_positions, hd/2].
    rope: Option<(wgpu::Buffer, wgpu::Buffer)>,
    /// The most bytes one table chunk or one row block of logits may take: the binding
    /// limit, or less where a test asks (`GpuOptions`).
    table_bytes: u64,
    /// The context's token ids (what the KV cache holds).
    ids: Vec<u32>,
    /// Why the last `set_ablation` could not upload its masks: every run fails with it
    /// (and the engine's CPU, which has the ablation, takes over) rather than run unablated.
    ablation_error: Option<String>,
}

/// The largest single buffer this model would like: the biggest weight, or the attention
/// scores / logits of a full context.
fn wanted_binding(c: &Config) -> u64 {
    let (v, d, p, f, h) = (c.vocab_size as u64, c.n_embd as u64, c.n_positions as u64, c.n_inner as u64, c.n_head as u64);
    4 * [v * d, p * d, d * c.qkv_width() as u64, d * f, h * p * p, p * v, p * f].into_iter().max().unwrap_or(0)
}

impl GpuBackend {
    /// Requests an adapter + device sized to the model's needs; uploads weights once.
    pub async fn new(model: Arc<Model>) -> Result<GpuBackend> {
        Self::with_options(model, GpuOptions::default()).await
    }

    pub async fn with_options(model: Arc<Model>, opts: GpuOptions) -> Result<GpuBackend> {
        let cfg = &model.config;
        if cfg.model_type == crate::config::Family::Gemma3 {
            return Err(Error::Backend("Gemma 3 is not yet on the GPU (no WGSL kernels for its sliding-window attention, QK-norm and post-norms yet)".into()));
        }
        let ctx = Context::new(wanted_binding(cfg)).await?;
        let kernels = Kernels::new(&ctx).await?;
        let w = &model.weights;
        let d = cfg.n_embd;
        let table_bytes = opts.max_binding_bytes.map_or(ctx.max_binding, |b| b.min(ctx.max_binding));
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        fn flat<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> &[f32] {
            a.as_slice().expect("weights are contiguous")
        }
        let linear = |name: String, l: &Linear| -> Result<GpuLinear> {
            let b = l.b.as_ref().map(|b| ctx.upload(&format!("{name}.bias"), flat(b))).transpose()?;
            Ok(GpuLinear { w: ctx.upload(&format!("{name}.weight"), flat(&l.w))?, b, k: l.w.nrows(), n: l.w.ncols() })
        };
        let norm = |name: String, n: &NormWeights| -> Result<GpuNorm> {
            let b = n.b.as_ref().map(|b| ctx.upload(&format!("{name}.bias"), flat(b))).transpose()?;
            Ok(GpuNorm { g: ctx.upload(&format!("{name}.weight"), flat(&n.g))?, b })
        };
        let wte = Table::upload(&ctx, "token embedding", flat(&w.wte), d, table_bytes)?;
        let wpe = w.wpe.as_ref().map(|p| Table::upload(&ctx, "position embedding", flat(p), d, table_bytes)).transpose()?;
        let lm_head = w.lm_head.as_ref().map(|h| Table::upload(&ctx, "unembedding", flat(h), d, table_bytes)).transpose()?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for (i, lw) in w.layers.iter().enumerate() {
            let n = |s: &str| format!("layer {i} {s}");
            layers.push(GpuLayer {
                ln_1: norm(n("ln_1"), &lw.ln_1)?,
                qkv: linear(n("q|k|v"), &lw.qkv)?,
                o: linear(n("attention output"), &lw.o)?,
                ln_2: norm(n("ln_2"), &lw.ln_2)?,
                up: linear(n("MLP up"), &lw.up)?,
                gate: lw.gate.as_ref().map(|g| linear(n("MLP gate"), g)).transpose()?,
                down: linear(n("MLP down"), &lw.down)?,
                k_cache: ctx.storage(&n("key cache"), cfg.n_positions * cfg.kv_width())?,
                v_cache: ctx.storage(&n("value cache"), cfg.n_positions * cfg.kv_width())?,
                mask: None,
            });
        }
        let ln_f = norm("final norm".into(), &w.ln_f)?;
        let rope = match cfg.rope_theta {
            Some(_) => {
                let (s, c): (Vec<f32>, Vec<f32>) = cpu::ops::rope_angles(0, cfg.n_positions, &cfg.rope_inv_freq()).into_iter().unzip();
                Some((ctx.upload("RoPE cos", &c)?, ctx.upload("RoPE sin", &s)?))
            }
            None => None,
        };
        if let Some(e) = scope.pop().await {
            return Err(Error::Backend(format!("the GPU \"{}\" ran out of memory uploading the weights: {e}", ctx.summary.name)));
        }
        ctx.check()?;
        Ok(GpuBackend { model, ctx, kernels, wte, wpe, lm_head, layers, ln_f, rope, table_bytes, ids: Vec::new(), ablation_error: None })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.summary
    }

    pub fn describe(&self) -> String {
        let a = &self.ctx.summary;
        format!("GPU ({} via {}{})", a.name, a.backend, if a.is_software { ", a software rasteriser" } else { "" })
    }

    /// The context's token ids (the KV cache).
    pub fn context(&self) -> &[u32] {
        &self.ids
    }

    pub fn context_len(&self) -> usize {
        self.ids.len()
    }

    /// Keeps the first `n` tokens: the cache rows past them are simply overwritten later.
    pub fn truncate(&mut self, n: usize) {
        self.ids.truncate(n);
    }

    pub fn reset(&mut self) {
        self.ids.clear();
    }

    /// Heads to ablate from now on (a mask in the kernels); empties the context. A mask
    /// that cannot be uploaded fails every run until the next call.
    pub fn set_ablation(&mut self, a: Ablation) {
        let cfg = &self.model.config;
        self.ablation_error = None;
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let upload = |(keep, repl): (Vec<f32>, Vec<f32>)| -> Result<_> {
                Ok((self.ctx.upload("ablation keep-mask", &keep)?, self.ctx.upload("ablation replacements", &repl)?))
            };
            match a.layer_mask(l, cfg.n_head, cfg.head_dim).map(upload).transpose() {
                Ok(mask) => layer.mask = mask,
                Err(e) => {
                    layer.mask = None;
                    self.ablation_error.get_or_insert_with(|| format!("the head ablation could not be uploaded to the GPU: {}", e.message()));
                }
            }
        }
        self.reset();
    }

    /// Frees the device and its memory. Every later run fails as after a lost device (the
    /// engine then falls back to the CPU), which is also how tests lose a device on purpose.
    pub fn destroy(&self) {
        self.ctx.device.destroy();
    }

    /// A fresh run of a whole prompt (the context is emptied first).
    pub async fn trace(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.reset();
        self.run(ids, parts).await
    }

    /// Same semantics as `CpuBackend::run`: appends ids to the KV cache, returns the trace of
    /// those rows. A run that fails leaves the context as it was.
    pub async fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        Ok(self.run_timed(ids, parts, false).await?.0)
    }

    /// A run with each kernel timed by timestamp queries (where the adapter has them):
    /// (kernel file, milliseconds) per dispatch, for `bench --kernels`.
    pub async fn run_timed(&mut self, ids: &[u32], parts: Parts, profile: bool) -> Result<(Trace, Vec<(&'static str, f64)>)> {
        let started = now_ms();
        self.ctx.check()?;
        if let Some(e) = &self.ablation_error {
            return Err(Error::Backend(e.clone()));
        }
        let model = self.model.clone();
        let (m, start, t) = (&*model, self.ids.len(), ids.len());
        m.check_ids(ids, start)?;
        let cfg = &m.config;
        let mut rec = trace::Recorder::new(cfg, parts, Dims::new(cfg, start, t));
        let b = Buffers::new(&self.ctx, cfg, t, start)?;
        let mut r = Recorder::new(&self.ctx, &self.kernels);
        if profile {
            r = r.profiled();
        }
        let mut saved = Saved::default();

        let mut x = self.embed(&mut r, &mut saved, &rec, ids, start, &b)?;
        for l in 0..cfg.n_layer {
            x = self.layer(&mut r, &mut saved, &rec, l, &x, start, t, &b);
        }
        let next = self.unembed(&mut r, &mut saved, &rec, &x, t, &b)?;

        let mut groups: Vec<&[Slot]> = saved.0.iter().map(|(_, _, slots)| &slots[..]).collect();
        groups.extend(next.as_ref().map(std::slice::from_ref));
        let (mut data, times) = r.finish(&groups).await?;
        let next_logits = match next {
            Some(_) => data.pop().expect("the next-token logits were read back"),
            None => {
                let v = cfg.vocab_size;
                let logits = saved.0.iter().position(|(_, p, _)| *p == Part::Logits).map(|i| &data[i]).expect("the logits were read back");
                logits[logits.len() - v..].to_vec()
            }
        };
        for ((layer, part, _), values) in saved.0.into_iter().zip(data) {
            rec.put(layer, part, move || values);
        }
        let tokens = m.token_infos(ids, m.tokenizer.bytes_len(&self.ids));
        // Only a run that completed moves the context on.
        self.ids.extend_from_slice(ids);
        let times = times.into_iter().map(|(k, ms)| (k.name(), ms)).collect();
        Ok((rec.finish(tokens, start, next_logits, now_ms() - started), times))
    }

    /// Token embeddings, plus the learned position table where the model has one: the
    /// residual stream entering layer 1.
    fn embed(&self, r: &mut Recorder, saved: &mut Saved, rec: &trace::Recorder, ids: &[u32], start: usize, b: &Buffers) -> Result<wgpu::Buffer> {
        let (t, d) = (ids.len(), self.model.config.n_embd);
        let ids_buf = self.ctx.scratch_u32("token ids", ids)?;
        self.wte.gather(r, &ids_buf, t, d, None, &b.tok);
        saved.save(r, rec, None, Part::TokEmb, &b.tok);
        let Some(wpe) = &self.wpe else { return Ok(b.tok.clone()) };
        wpe.gather(r, &ids_buf, t, d, Some(start), &b.pos);
        saved.save(r, rec, None, Part::PosEmb, &b.pos);
        r.add(AddParams { n: u(t * d) }, &b.tok, &b.pos, &b.resid[1]);
        Ok(b.resid[1].clone())
    }

    /// One transformer block on the residual stream x; returns the buffer holding its output.
    #[allow(clippy::too_many_arguments)]
    fn layer(
        &self,
        r: &mut Recorder,
        saved: &mut Saved,
        rec: &trace::Recorder,
        l: usize,
        x: &wgpu::Buffer,
        start: usize,
        t: usize,
        b: &Buffers,
    ) -> wgpu::Buffer {
        let cfg = &self.model.config;
        let lw = &self.layers[l];
        let (d, h, kv, hd, f) = (cfg.n_embd, cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.n_inner);
        let at = Some(l);
        let norm = |r: &mut Recorder, x: &wgpu::Buffer, n: &GpuNorm, y: &wgpu::Buffer| {
            r.norm(NormParams { rows: u(t), n: u(d), eps: cfg.layer_norm_epsilon }, cfg.norm, x, &n.g, n.b.as_ref(), y);
        };

        norm(r, x, &lw.ln_1, &b.h);
        saved.save(r, rec, at, Part::Ln1, &b.h);
        r.linear(&b.h, t, &lw.qkv, &b.qkv);
        r.split_qkv(SplitParams { t: u(t), hq: u(h), hkv: u(kv), hd: u(hd) }, &b.qkv, &b.q, &b.k, &b.v);
        saved.save(r, rec, at, Part::Q, &b.q);
        saved.save(r, rec, at, Part::K, &b.k);
        saved.save(r, rec, at, Part::V, &b.v);
        let (q, k) = match &self.rope {
            Some((cos, sin)) => {
                r.rope(HeadRowsParams { heads: u(h), t: u(t), hd: u(hd), start: u(start) }, &b.q, cos, sin, &b.q_rot);
                r.rope(HeadRowsParams { heads: u(kv), t: u(t), hd: u(hd), start: u(start) }, &b.k, cos, sin, &b.k_rot);
                saved.save(r, rec, at, Part::QRot, &b.q_rot);
                saved.save(r, rec, at, Part::KRot, &b.k_rot);
                (&b.q_rot, &b.k_rot)
            }
            None => (&b.q, &b.k),
        };
        let rows = HeadRowsParams { heads: u(kv), t: u(t), hd: u(hd), start: u(start) };
        r.kv_append(rows, k, &lw.k_cache);
        r.kv_append(rows, &b.v, &lw.v_cache);
        r.attention(
            AttnShape { h, kv, hd, t, start },
            AttnBuffers { q, k_cache: &lw.k_cache, v_cache: &lw.v_cache, scores: &b.scores, probs: &b.probs, z: &b.z },
        );
        saved.save(r, rec, at, Part::AttnScores, &b.scores);
        saved.save(r, rec, at, Part::AttnProbs, &b.probs);
        if let Some((keep, repl)) = &lw.mask {
            r.head_mask(MaskParams { t: u(t), h: u(h), hd: u(hd) }, keep, repl, &b.z);
        }
        saved.save(r, rec, at, Part::HeadOutputs, &b.z);
        r.linear(&b.z, t, &lw.o, &b.attn_out);
        saved.save(r, rec, at, Part::AttnOut, &b.attn_out);
        r.add(AddParams { n: u(t * d) }, x, &b.attn_out, &b.mid);
        saved.save(r, rec, at, Part::ResidMid, &b.mid);

        norm(r, &b.mid, &lw.ln_2, &b.h);
        saved.save(r, rec, at, Part::Ln2, &b.h);
        let act = ActParams { n: u(t * f), kind: activation_kind(cfg.activation) };
        r.linear(&b.h, t, &lw.up, &b.up);
        match &lw.gate {
            None => {
                saved.save(r, rec, at, Part::MlpPre, &b.up);
                r.activation(act, &b.up, &b.act);
            }
            Some(gate) => {
                r.linear(&b.h, t, gate, &b.gate);
                saved.save(r, rec, at, Part::MlpGate, &b.gate);
                saved.save(r, rec, at, Part::MlpUp, &b.up);
                r.gated(act, &b.gate, &b.up, &b.act);
            }
        }
        saved.save(r, rec, at, Part::MlpPost, &b.act);
        r.linear(&b.act, t, &lw.down, &b.mlp_out);
        saved.save(r, rec, at, Part::MlpOut, &b.mlp_out);
        // Blocks alternate between the two residual buffers; the embedding output is in
        // resid[1] or its own buffer, so block l never writes its own input.
        let out = &b.resid[l % 2];
        r.add(AddParams { n: u(t * d) }, &b.mid, &b.mlp_out, out);
        saved.save(r, rec, at, Part::ResidPost, out);
        out.clone()
    }

    /// Final norm and logits = ln_f · Uᵀ, one dispatch per vocabulary chunk of U, in row
    /// blocks small enough that [rows, V] fits one binding. Without a request for logits or
    /// probabilities only the last row (what generation needs) is computed. Returns where
    /// the next-token logits are read back, or None when they are the recorded logits'
    /// last row.
    fn unembed(&self, r: &mut Recorder, saved: &mut Saved, rec: &trace::Recorder, x: &wgpu::Buffer, t: usize, b: &Buffers) -> Result<Option<Slot>> {
        let cfg = &self.model.config;
        let (d, v) = (cfg.n_embd, cfg.vocab_size);
        r.norm(NormParams { rows: u(t), n: u(d), eps: cfg.layer_norm_epsilon }, cfg.norm, x, &self.ln_f.g, self.ln_f.b.as_ref(), &b.h);
        saved.save(r, rec, None, Part::LnF, &b.h);
        let u_table = self.lm_head.as_ref().unwrap_or(&self.wte);
        let all_rows = rec.wants(Part::Logits) || rec.wants(Part::Probs);
        let (first, rows) = if all_rows { (0, t) } else { (t - 1, 1) };
        let block = ((self.table_bytes / (v as u64 * 4)) as usize).clamp(1, rows);
        let logits = self.ctx.scratch("logits [rows, V]", block * v)?;
        let probs = if rec.wants(Part::Probs) { Some(self.ctx.scratch("probabilities [rows, V]", block * v)?) } else { None };
        let (mut logit_blocks, mut prob_blocks, mut next) = (Vec::new(), Vec::new(), None);
        for b0 in (0..rows).step_by(block) {
            let br = block.min(rows - b0);
            for (row0, n, chunk) in &u_table.chunks {
                let p = MatmulParams { m: u(br), n: u(*n), k: u(d), ldc: u(v), c_off: u(*row0), a_off: u((first + b0) * d), trans_b: 1 };
                r.matmul(p, &b.h, chunk, &logits);
            }
            if rec.wants(Part::Logits) {
                logit_blocks.push(r.save(&logits, 0, br * v));
            } else if b0 + br == rows {
                next = Some(r.save(&logits, (br - 1) * v, v));
            }
            if let Some(p) = &probs {
                r.softmax(SoftmaxParams { rows: u(br), n: u(v), causal: 0, start: 0, t: u(br) }, &logits, p);
                prob_blocks.push(r.save(p, 0, br * v));
            }
        }
        if rec.wants(Part::Logits) {
            saved.0.push((None, Part::Logits, logit_blocks));
        }
        if rec.wants(Part::Probs) {
            saved.0.push((None, Part::Probs, prob_blocks));
        }
        Ok(next)
    }
}

/// One run's working buffers, pooled by role in the context.
struct Buffers {
    tok: wgpu::Buffer,
    pos: wgpu::Buffer,
    /// Two residual-stream buffers: each block reads one and writes the other.
    resid: [wgpu::Buffer; 2],
    h: wgpu::Buffer,
    qkv: wgpu::Buffer,
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    q_rot: wgpu::Buffer,
    k_rot: wgpu::Buffer,
    scores: wgpu::Buffer,
    probs: wgpu::Buffer,
    z: wgpu::Buffer,
    attn_out: wgpu::Buffer,
    mid: wgpu::Buffer,
    up: wgpu::Buffer,
    gate: wgpu::Buffer,
    act: wgpu::Buffer,
    mlp_out: wgpu::Buffer,
}

impl Buffers {
    fn new(ctx: &Context, cfg: &Config, t: usize, start: usize) -> Result<Buffers> {
        let (d, f, qw, kvw, tk) = (cfg.n_embd, cfg.n_inner, cfg.q_width(), cfg.kv_width(), start + t);
        let s = |role: &'static str, n: usize| ctx.scratch(role, n);
        Ok(Buffers {
            tok: s("token embeddings [T, d]", t * d)?,
            pos: s("position embeddings [T, d]", t * d)?,
            resid: [s("residual stream A [T, d]", t * d)?, s("residual stream B [T, d]", t * d)?],
            h: s("norm output [T, d]", t * d)?,
            qkv: s("q|k|v projection [T, qkv]", t * cfg.qkv_width())?,
            q: s("q [H, T, hd]", t * qw)?,
            k: s("k [Hkv, T, hd]", t * kvw)?,
            v: s("v [Hkv, T, hd]", t * kvw)?,
            q_rot: s("rotated q [H, T, hd]", if cfg.rope_theta.is_some() { t * qw } else { 1 })?,
            k_rot: s("rotated k [Hkv, T, hd]", if cfg.rope_theta.is_some() { t * kvw } else { 1 })?,
            scores: s("attention scores [H, T, Tk]", cfg.n_head * t * tk)?,
            probs: s("attention probabilities [H, T, Tk]", cfg.n_head * t * tk)?,
            z: s("head outputs [T, H·hd]", t * qw)?,
            attn_out: s("attention output [T, d]", t * d)?,
            mid: s("residual after attention [T, d]", t * d)?,
            up: s("MLP up [T, F]", t * f)?,
            gate: s("MLP gate [T, F]", if cfg.gated_mlp { t * f } else { 1 })?,
            act: s("MLP activation [T, F]", t * f)?,
            mlp_out: s("MLP output [T, d]", t * d)?,
        })
    }
}

/// The readbacks of one run: each saved (layer, part) once, with where its values land,
/// in order (logits and probabilities come in row blocks).
#[derive(Default)]
struct Saved(Vec<(Option<usize>, Part, Vec<Slot>)>);

impl Saved {
    /// Reads back `buf` as part `p` (of layer `l`) if the caller asked for it; its length
    /// comes from the part's description, so the data comes back in the part's shape.
    fn save(&mut self, r: &mut Recorder, rec: &trace::Recorder, l: Option<usize>, p: Part, buf: &wgpu::Buffer) {
        if rec.wants(p) {
            let len = (p.spec().shape)(&rec.dims()).iter().product();
            self.0.push((l, p, vec![r.save(buf, 0, len)]));
        }
    }
}

/// true when an adapter that is not a software rasteriser exists (for `auto`).
pub async fn hardware_adapter_available() -> bool {
    context::adapters().await.iter().any(|a| !context::summarize(&a.get_info()).is_software)
}
