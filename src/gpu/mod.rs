//! GPU backend: the whole forward pass as WGSL compute shaders on wgpu — WebGPU in the
//! browser, Vulkan/Metal/DX12 natively — filling the same [`Trace`] as the CPU reference.
//!
//! One run is one command encoder: every kernel of every layer, and right after each layer
//! the copies of the parts the caller asked for into one staging buffer (activation buffers
//! are reused by the next layer, so the copy must come first). One submit, one map, then
//! the trace is cut out of the mapped bytes. Weights are uploaded once, in `new`; the KV
//! cache lives on the GPU as [n_positions, d] per layer.

mod context;
mod kernels;
pub mod ops;

use crate::clock::now_ms;
use crate::config::Activation;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::trace::{LayerTrace, Part, Parts, Tensor, Trace};
use context::Context;
use kernels::{grid, Kernels, Mm, Recorder, Slot, K};
use std::collections::HashMap;
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
            let what = format!("{name} rows {r0}..{}", r0 + n);
            chunks.push((r0, n, ctx.upload(&what, &data[r0 * cols..(r0 + n) * cols])?));
            r0 += n;
        }
        Ok(Table { chunks })
    }
}

struct GpuLayer {
    ln_1_g: wgpu::Buffer,
    ln_1_b: wgpu::Buffer,
    c_attn_w: wgpu::Buffer,
    c_attn_b: wgpu::Buffer,
    attn_proj_w: wgpu::Buffer,
    attn_proj_b: wgpu::Buffer,
    ln_2_g: wgpu::Buffer,
    ln_2_b: wgpu::Buffer,
    fc_w: wgpu::Buffer,
    fc_b: wgpu::Buffer,
    mlp_proj_w: wgpu::Buffer,
    mlp_proj_b: wgpu::Buffer,
    k_cache: wgpu::Buffer,
    v_cache: wgpu::Buffer,
}

pub struct GpuBackend {
    model: Arc<Model>,
    ctx: Context,
    kernels: Kernels,
    wte: Table,
    wpe: Table,
    /// None: tied, the unembedding is `wte`.
    lm_head: Option<Table>,
    layers: Vec<GpuLayer>,
    ln_f_g: wgpu::Buffer,
    ln_f_b: wgpu::Buffer,
    /// Bytes of one binding for the logits (row blocks of [rows, V] are split by it).
    max_binding: u64,
    len: usize,
    bytes_len: usize,
}

fn flat(a: &ndarray::Array2<f32>) -> Vec<f32> {
    a.as_standard_layout().iter().copied().collect()
}

/// The largest single buffer this model would like: the biggest weight, or the attention
/// scores / logits of a full context.
fn wanted_binding(m: &Model) -> u64 {
    let c = &m.config;
    let (v, d, p, f, h) = (c.vocab_size as u64, c.n_embd as u64, c.n_positions as u64, c.n_inner as u64, c.n_head as u64);
    4 * [v * d, p * d, d * f, 3 * d * d, h * p * p, p * v, p * f].into_iter().max().unwrap_or(0)
}

impl GpuBackend {
    /// Requests an adapter + device sized to the model's needs; uploads weights once.
    pub async fn new(model: Arc<Model>) -> Result<GpuBackend> {
        Self::with_options(model, GpuOptions::default()).await
    }

    pub async fn with_options(model: Arc<Model>, opts: GpuOptions) -> Result<GpuBackend> {
        let ctx = Context::new(wanted_binding(&model)).await?;
        let kernels = Kernels::new(&ctx).await?;
        let cfg = &model.config;
        let w = &model.weights;
        let d = cfg.n_embd;
        let table_bytes = opts.max_binding_bytes.map_or(ctx.max_binding, |b| b.min(ctx.max_binding));
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let wte = Table::upload(&ctx, "wte.weight", &flat(&w.wte), d, table_bytes)?;
        let wpe = Table::upload(&ctx, "wpe.weight", &flat(&w.wpe), d, table_bytes)?;
        let lm_head = match &w.lm_head {
            Some(h) => Some(Table::upload(&ctx, "lm_head.weight", &flat(h), d, table_bytes)?),
            None => None,
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for (i, lw) in w.layers.iter().enumerate() {
            let up = |name: &str, data: &[f32]| ctx.upload(&format!("h.{i}.{name}"), data);
            let v1 = |a: &ndarray::Array1<f32>| a.to_vec();
            layers.push(GpuLayer {
                ln_1_g: up("ln_1.weight", &v1(&lw.ln_1_g))?,
                ln_1_b: up("ln_1.bias", &v1(&lw.ln_1_b))?,
                c_attn_w: up("attn.c_attn.weight", &flat(&lw.c_attn_w))?,
                c_attn_b: up("attn.c_attn.bias", &v1(&lw.c_attn_b))?,
                attn_proj_w: up("attn.c_proj.weight", &flat(&lw.attn_proj_w))?,
                attn_proj_b: up("attn.c_proj.bias", &v1(&lw.attn_proj_b))?,
                ln_2_g: up("ln_2.weight", &v1(&lw.ln_2_g))?,
                ln_2_b: up("ln_2.bias", &v1(&lw.ln_2_b))?,
                fc_w: up("mlp.c_fc.weight", &flat(&lw.fc_w))?,
                fc_b: up("mlp.c_fc.bias", &v1(&lw.fc_b))?,
                mlp_proj_w: up("mlp.c_proj.weight", &flat(&lw.mlp_proj_w))?,
                mlp_proj_b: up("mlp.c_proj.bias", &v1(&lw.mlp_proj_b))?,
                k_cache: ctx.storage(&format!("layer {i} key cache"), cfg.n_positions * d)?,
                v_cache: ctx.storage(&format!("layer {i} value cache"), cfg.n_positions * d)?,
            });
        }
        let ln_f_g = ctx.upload("ln_f.weight", &w.ln_f_g.to_vec())?;
        let ln_f_b = ctx.upload("ln_f.bias", &w.ln_f_b.to_vec())?;
        if let Some(e) = scope.pop().await {
            return Err(Error::Backend(format!(
                "the GPU \"{}\" ran out of memory uploading the weights: {e}",
                ctx.summary.name
            )));
        }
        ctx.check()?;
        let max_binding = ctx.max_binding;
        Ok(GpuBackend { model, ctx, kernels, wte, wpe, lm_head, layers, ln_f_g, ln_f_b, max_binding, len: 0, bytes_len: 0 })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.summary
    }

    pub fn describe(&self) -> String {
        let a = &self.ctx.summary;
        format!("GPU ({} via {}{})", a.name, a.backend, if a.is_software { ", a software rasteriser" } else { "" })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    pub fn context_len(&self) -> usize {
        self.len
    }

    pub fn reset(&mut self) {
        self.len = 0;
        self.bytes_len = 0;
    }

    /// Same semantics as Backend::run: appends ids to the KV cache, returns the trace of those rows.
    pub async fn run_async(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        let started = now_ms();
        self.ctx.check()?;
        let model = self.model.clone();
        let m = &*model;
        m.check_ids(ids, self.len)?;
        let cfg = &m.config;
        let (t, d, nh, hd, f, v) = (ids.len(), cfg.n_embd, cfg.n_head, cfg.head_dim(), cfg.n_inner, cfg.vocab_size);
        let start = self.len;
        let tk = start + t;
        let rec = |p: Part| parts.has(p);
        let all_rows = rec(Part::Logits) || rec(Part::Probs);
        let ctx = &self.ctx;

        // The readback size, known before encoding so the staging buffer is made once.
        let part_len = |p: Part| match p {
            Part::AttnScores | Part::AttnProbs => nh * t * tk,
            Part::MlpPre | Part::MlpPost => t * f,
            Part::Logits | Part::Probs => t * v,
            _ => t * d,
        };
        let global = [Part::TokEmb, Part::PosEmb, Part::LnF, Part::Logits, Part::Probs];
        let per_layer: usize = Part::ALL.iter().filter(|p| rec(**p) && !global.contains(p)).map(|p| part_len(*p)).sum();
        let globals: usize = global.iter().filter(|p| rec(**p)).map(|p| part_len(*p)).sum();
        let readback = 4 * (per_layer * cfg.n_layer + globals + v) as u64;

        let u = |x: usize| x as u32;
        let ids_buf = ctx.upload_u32("token ids", ids)?;
        let tok = ctx.storage("token embeddings [T, d]", t * d)?;
        let pos = ctx.storage("position embeddings [T, d]", t * d)?;
        let mut x = ctx.storage("residual stream [T, d]", t * d)?;
        let ln = ctx.storage("layer norm output [T, d]", t * d)?;
        let qkv = ctx.storage("q|k|v projection [T, 3d]", t * 3 * d)?;
        let (qh, kh, vh) = (ctx.storage("q [H, T, hd]", t * d)?, ctx.storage("k [H, T, hd]", t * d)?, ctx.storage("v [H, T, hd]", t * d)?);
        let scores = ctx.storage("attention scores [H, T, Tk]", nh * t * tk)?;
        let probs = ctx.storage("attention probabilities [H, T, Tk]", nh * t * tk)?;
        let heads = ctx.storage("attention heads [T, d]", t * d)?;
        let attn_out = ctx.storage("attention output [T, d]", t * d)?;
        let mid = ctx.storage("residual after attention [T, d]", t * d)?;
        let ln2 = ctx.storage("ln_2 output [T, d]", t * d)?;
        let pre = ctx.storage("MLP pre-activation [T, n_inner]", t * f)?;
        let post = ctx.storage("MLP activation [T, n_inner]", t * f)?;
        let mlp_out = ctx.storage("MLP output [T, d]", t * d)?;
        let mut x_next = ctx.storage("residual stream [T, d]", t * d)?;

        let mut r = Recorder::new(ctx, &self.kernels, readback);
        let mut saved = Saved::default();
        const G: usize = usize::MAX; // layer index of the parts outside the blocks

        // Embeddings: gather per table chunk, then x = tok + pos.
        for (row0, rows, chunk) in &self.wte.chunks {
            r.dispatch(K::Embed, [u(t), u(d), u(*row0), u(*rows), 0, 1, 0, 0], &[&ids_buf, chunk, &tok], grid(t * d));
        }
        for (row0, rows, chunk) in &self.wpe.chunks {
            r.dispatch(K::Embed, [u(t), u(d), u(*row0), u(*rows), u(start), 0, 0, 0], &[&ids_buf, chunk, &pos], grid(t * d));
        }
        r.dispatch(K::Add, [u(t * d), 0, 0, 0, 0, 0, 0, 0], &[&tok, &pos, &x], grid(t * d));
        if rec(Part::TokEmb) {
            saved.save(&mut r, (G, Part::TokEmb), &tok, 0, t * d);
        }
        if rec(Part::PosEmb) {
            saved.save(&mut r, (G, Part::PosEmb), &pos, 0, t * d);
        }

        let eps = cfg.layer_norm_epsilon.to_bits();
        let scale = (1.0 / (hd as f32).sqrt()).to_bits();
        let kind = match cfg.activation {
            Activation::GeluNew => 0,
            Activation::Relu => 1,
        };
        let matmul = |r: &mut Recorder, a: &wgpu::Buffer, w: &wgpu::Buffer, b: &wgpu::Buffer, c: &wgpu::Buffer, m: usize, k: usize, n: usize| {
            r.matmul(Mm { m, n, k, ldc: n, c_off: 0, a_off: 0, transposed: false, bias: true }, a, w, b, c);
        };
        for (l, lw) in self.layers.iter().enumerate() {
            r.dispatch(K::LayerNorm, [u(t), u(d), eps, 0, 0, 0, 0, 0], &[&x, &lw.ln_1_g, &lw.ln_1_b, &ln], (u(t), 1, 1));
            matmul(&mut r, &ln, &lw.c_attn_w, &lw.c_attn_b, &qkv, t, d, 3 * d);
            r.dispatch(K::SplitQkv, [u(t), u(d), u(hd), u(start), 0, 0, 0, 0], &[&qkv, &qh, &kh, &vh, &lw.k_cache, &lw.v_cache], grid(t * 3 * d));
            let neg_inf = f32::NEG_INFINITY.to_bits();
            r.dispatch(K::AttnScores, [u(nh), u(t), u(tk), u(hd), u(d), u(start), scale, neg_inf], &[&qh, &lw.k_cache, &scores], grid(nh * t * tk));
            r.dispatch(K::Softmax, [u(nh * t), u(tk), 1, u(start), u(t), 0, 0, 0], &[&scores, &probs], (u(nh * t), 1, 1));
            r.dispatch(K::AttnValues, [u(t), u(tk), u(hd), u(d), u(start), 0, 0, 0], &[&probs, &lw.v_cache, &heads], grid(t * d));
            matmul(&mut r, &heads, &lw.attn_proj_w, &lw.attn_proj_b, &attn_out, t, d, d);
            r.dispatch(K::Add, [u(t * d), 0, 0, 0, 0, 0, 0, 0], &[&x, &attn_out, &mid], grid(t * d));
            r.dispatch(K::LayerNorm, [u(t), u(d), eps, 0, 0, 0, 0, 0], &[&mid, &lw.ln_2_g, &lw.ln_2_b, &ln2], (u(t), 1, 1));
            matmul(&mut r, &ln2, &lw.fc_w, &lw.fc_b, &pre, t, d, f);
            r.dispatch(K::Activation, [u(t * f), kind, 0, 0, 0, 0, 0, 0], &[&pre, &post], grid(t * f));
            matmul(&mut r, &post, &lw.mlp_proj_w, &lw.mlp_proj_b, &mlp_out, t, f, d);
            r.dispatch(K::Add, [u(t * d), 0, 0, 0, 0, 0, 0, 0], &[&mid, &mlp_out, &x_next], grid(t * d));

            for (p, buf, n) in [
                (Part::Ln1, &ln, t * d),
                (Part::Q, &qh, t * d),
                (Part::K, &kh, t * d),
                (Part::V, &vh, t * d),
                (Part::AttnScores, &scores, nh * t * tk),
                (Part::AttnProbs, &probs, nh * t * tk),
                (Part::AttnOut, &attn_out, t * d),
                (Part::ResidMid, &mid, t * d),
                (Part::Ln2, &ln2, t * d),
                (Part::MlpPre, &pre, t * f),
                (Part::MlpPost, &post, t * f),
                (Part::MlpOut, &mlp_out, t * d),
                (Part::ResidPost, &x_next, t * d),
            ] {
                if rec(p) {
                    saved.save(&mut r, (l, p), buf, 0, n);
                }
            }
            std::mem::swap(&mut x, &mut x_next);
        }

        r.dispatch(K::LayerNorm, [u(t), u(d), eps, 0, 0, 0, 0, 0], &[&x, &self.ln_f_g, &self.ln_f_b, &ln], (u(t), 1, 1));
        if rec(Part::LnF) {
            saved.save(&mut r, (G, Part::LnF), &ln, 0, t * d);
        }

        // Unembedding: logits = ln_f · Uᵀ, one dispatch per vocabulary chunk of U, in row
        // blocks small enough that [rows, V] fits one binding. Without a request for
        // logits/probabilities only the last row (what generation needs) is computed.
        let unembed = self.lm_head.as_ref().unwrap_or(&self.wte);
        let (first_row, rows) = if all_rows { (0, t) } else { (t - 1, 1) };
        let block = ((self.max_binding / (v as u64 * 4)) as usize).clamp(1, rows);
        let mut next = 0;
        let mut b0 = 0;
        while b0 < rows {
            let br = block.min(rows - b0);
            let logits = ctx.storage("logits [rows, V]", br * v)?;
            for (row0, n, chunk) in &unembed.chunks {
                let mm = Mm { m: br, n: *n, k: d, ldc: v, c_off: *row0, a_off: (first_row + b0) * d, transposed: true, bias: false };
                r.matmul(mm, &ln, chunk, &self.ln_f_b, &logits);
            }
            if rec(Part::Logits) {
                saved.save(&mut r, (G, Part::Logits), &logits, 0, br * v);
            }
            if rec(Part::Probs) {
                let p = ctx.storage("probabilities [rows, V]", br * v)?;
                r.dispatch(K::Softmax, [u(br), u(v), 0, 0, 1, 0, 0, 0], &[&logits, &p], (u(br), 1, 1));
                saved.save(&mut r, (G, Part::Probs), &p, 0, br * v);
            }
            if b0 + br == rows {
                next = saved.slots.len();
                saved.slots.push(r.save(&logits, (br - 1) * v, v));
            }
            b0 += br;
        }

        let Saved { slots, index } = saved;
        let mut data: Vec<Option<Vec<f32>>> = r.finish(&slots).await?.into_iter().map(Some).collect();
        let next_logits = data[next].take().expect("next-token logits were read back");
        let mut take = |l: usize, p: Part, shape: Vec<usize>| -> Option<Tensor> {
            let list = index.get(&(l, p))?;
            let mut out = Vec::with_capacity(shape.iter().product());
            for &i in list {
                out.extend(data[i].take().expect("each slot is read once"));
            }
            Some(Tensor::new(shape, out))
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for l in 0..cfg.n_layer {
            layers.push(LayerTrace {
                ln_1: take(l, Part::Ln1, vec![t, d]),
                q: take(l, Part::Q, vec![nh, t, hd]),
                k: take(l, Part::K, vec![nh, t, hd]),
                v: take(l, Part::V, vec![nh, t, hd]),
                attention_scores: take(l, Part::AttnScores, vec![nh, t, tk]),
                attentions: take(l, Part::AttnProbs, vec![nh, t, tk]),
                attention_output: take(l, Part::AttnOut, vec![t, d]),
                residual_after_attention: take(l, Part::ResidMid, vec![t, d]),
                ln_2: take(l, Part::Ln2, vec![t, d]),
                mlp_pre_activation: take(l, Part::MlpPre, vec![t, f]),
                mlp_activation: take(l, Part::MlpPost, vec![t, f]),
                mlp_output: take(l, Part::MlpOut, vec![t, d]),
                residual_after_mlp: take(l, Part::ResidPost, vec![t, d]),
            });
        }
        let tokens = m.token_infos(ids, self.bytes_len);
        let trace = Trace {
            start_position: start,
            token_embeddings: take(G, Part::TokEmb, vec![t, d]),
            position_embeddings: take(G, Part::PosEmb, vec![t, d]),
            layers,
            ln_f: take(G, Part::LnF, vec![t, d]),
            logits: take(G, Part::Logits, vec![t, v]),
            probabilities: take(G, Part::Probs, vec![t, v]),
            next_logits,
            elapsed_ms: 0.0,
            tokens,
        };
        // Only a run that completed moves the context on; a failed one leaves it as it was.
        self.len = tk;
        self.bytes_len = trace.tokens.last().map_or(self.bytes_len, |t| t.span.1);
        Ok(Trace { elapsed_ms: now_ms() - started, ..trace })
    }
}

/// The readbacks of one run: where each landed, and which belong to which (layer, part).
#[derive(Default)]
struct Saved {
    slots: Vec<Slot>,
    index: HashMap<(usize, Part), Vec<usize>>,
}

impl Saved {
    fn save(&mut self, r: &mut Recorder, key: (usize, Part), buf: &wgpu::Buffer, from: usize, len: usize) {
        self.index.entry(key).or_default().push(self.slots.len());
        self.slots.push(r.save(buf, from, len));
    }
}

/// true when an adapter that is not a software rasteriser exists (for `auto`).
pub async fn hardware_adapter_available() -> bool {
    context::adapters().await.iter().any(|a| !context::summarize(&a.get_info()).is_software)
}

#[cfg(not(target_arch = "wasm32"))]
impl crate::Backend for GpuBackend {
    fn describe(&self) -> String {
        GpuBackend::describe(self)
    }
    fn model(&self) -> &Arc<Model> {
        &self.model
    }
    fn context_len(&self) -> usize {
        self.len
    }
    fn reset(&mut self) {
        GpuBackend::reset(self)
    }
    fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        pollster::block_on(self.run_async(ids, parts))
    }
}

/// A backend that switches to the CPU reference when the one it wraps fails with a
/// backend error (lost device, failed pipeline): it says so on stderr, replays the context
/// on the CPU and reruns the call, so no run is lost.
#[cfg(not(target_arch = "wasm32"))]
pub struct CpuFallback {
    inner: Box<dyn crate::Backend>,
    history: Vec<u32>,
    fell_back: bool,
}

#[cfg(not(target_arch = "wasm32"))]
impl CpuFallback {
    pub fn new(inner: Box<dyn crate::Backend>) -> Self {
        CpuFallback { inner, history: Vec::new(), fell_back: false }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl crate::Backend for CpuFallback {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn model(&self) -> &Arc<Model> {
        self.inner.model()
    }
    fn context_len(&self) -> usize {
        self.inner.context_len()
    }
    fn reset(&mut self) {
        self.history.clear();
        self.inner.reset()
    }
    fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        let out = match self.inner.run(ids, parts) {
            Err(Error::Backend(msg)) if !self.fell_back => {
                eprintln!("warning: {} failed ({msg}); continuing on the CPU", self.inner.describe());
                let mut cpu = crate::CpuBackend::new(self.inner.model().clone());
                if !self.history.is_empty() {
                    crate::Backend::run(&mut cpu, &self.history, Parts::none())?;
                }
                self.inner = Box::new(cpu);
                self.fell_back = true;
                self.inner.run(ids, parts)
            }
            other => other,
        };
        if out.is_ok() {
            self.history.extend_from_slice(ids);
        }
        out
    }
}
