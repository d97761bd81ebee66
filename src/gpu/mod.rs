//! GPU backend: the whole forward pass as WGSL compute shaders on wgpu — WebGPU in the
//! browser, Vulkan/Metal/DX12 natively — filling the same [`Trace`] as the CPU reference.
//!
//! One run is one command encoder: every kernel of every layer, each part the caller asked
//! for copied into one readback buffer before a later kernel reuses its buffer. One submit,
//! one map (a profiled run maps its timestamps too), then the trace is cut out of the
//! mapped bytes. Weights are uploaded once, in `new`; the KV cache lives on the GPU as
//! [n_positions, kv_width] per layer; working buffers are pooled, so a run that is not
//! profiled allocates no buffers once they are large enough.
//!
//! The files: `context` (adapter, device, buffer pools, readback), `recorder` (kernels,
//! pipelines, dispatch and readback recording), `ops` (one module per op, its WGSL beside
//! it), `device_weights` (the uploaded model), `forward` (the forward pass as ops), and
//! `check` (each op on its own, for tests/gpu.rs; only with the `test-support` feature).

#[cfg(any(test, feature = "test-support"))]
pub mod check;
mod context;
mod device_weights;
mod forward;
mod ops;
mod recorder;

use crate::ablation::Ablation;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::trace::{self, Dims, Part, Parts, Positions, Trace};
use context::Context;
use device_weights::{wanted_binding, DeviceWeights};
use recorder::{Pipelines, Recorder};
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

pub struct GpuBackend {
    model: Arc<Model>,
    ctx: Context,
    pipelines: Pipelines,
    weights: DeviceWeights,
    /// The context's token ids (what the KV cache holds).
    ids: Vec<u32>,
    /// Why the last `set_ablation` could not upload its masks: every run fails with it
    /// (and the engine's CPU, which has the ablation, takes over) rather than run unablated.
    ablation_error: Option<String>,
}

impl GpuBackend {
    /// Requests an adapter + device sized to the model's needs; uploads weights once.
    pub async fn new(model: Arc<Model>) -> Result<GpuBackend> {
        Self::with_options(model, GpuOptions::default()).await
    }

    pub async fn with_options(model: Arc<Model>, opts: GpuOptions) -> Result<GpuBackend> {
        let ctx = Context::new(wanted_binding(&model.config)).await?;
        let pipelines = Pipelines::new(&ctx, ops::ALL).await?;
        let table_bytes = opts.max_binding_bytes.map_or(ctx.max_binding, |b| b.min(ctx.max_binding));
        let weights = DeviceWeights::upload(&ctx, &model, table_bytes).await?;
        ctx.check()?;
        Ok(GpuBackend { model, ctx, pipelines, weights, ids: Vec::new(), ablation_error: None })
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
        for (l, layer) in self.weights.layers.iter_mut().enumerate() {
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

    /// As [`GpuBackend::run`], keeping the per-position parts of `positions` only; the
    /// unembedding runs on those rows alone (and the last, for the next-token logits).
    pub async fn run_positions(&mut self, ids: &[u32], parts: Parts, positions: &Positions) -> Result<Trace> {
        Ok(self.run_kept(ids, parts, positions, false).await?.0)
    }

    /// A run with each kernel timed by timestamp queries (where the adapter has them):
    /// (kernel name, milliseconds) per dispatch, for `bench --kernels`.
    pub async fn run_timed(&mut self, ids: &[u32], parts: Parts, profile: bool) -> Result<(Trace, Vec<(&'static str, f64)>)> {
        self.run_kept(ids, parts, &Positions::All, profile).await
    }

    async fn run_kept(&mut self, ids: &[u32], parts: Parts, positions: &Positions, profile: bool) -> Result<(Trace, Vec<(&'static str, f64)>)> {
        let started = now_ms();
        self.ctx.check()?;
        if let Some(e) = &self.ablation_error {
            return Err(Error::Backend(e.clone()));
        }
        let model = self.model.clone();
        let (m, start, t) = (&*model, self.ids.len(), ids.len());
        m.check_ids(ids, start)?;
        let cfg = &m.config;
        let mut rec = trace::Recorder::new(cfg, parts, Dims::new(cfg, start, t)).keep(positions, start);
        let mut r = Recorder::new(&self.ctx, &self.pipelines);
        if profile {
            r = r.profiled();
        }
        let pass = forward::Pass { ctx: &self.ctx, cfg, w: &self.weights, rec: &rec, start, t };
        let out = pass.run(ids, r).await?;
        for (layer, part, values) in out.parts {
            // The unembedding ran on the kept rows only.
            if matches!(part, Part::Logits | Part::Probs) {
                rec.put_kept(layer, part, move || values);
            } else {
                rec.put(layer, part, move || values);
            }
        }
        let tokens = m.token_infos(ids, m.tokenizer.bytes_len(&self.ids));
        // Only a run that completed moves the context on.
        self.ids.extend_from_slice(ids);
        Ok((rec.finish(tokens, start, out.next_logits, now_ms() - started), out.times))
    }
}

/// true when an adapter that is not a software rasteriser exists (for `auto`).
pub async fn hardware_adapter_available() -> bool {
    context::adapters().await.iter().any(|a| !context::summarize(&a.get_info()).is_software)
}
