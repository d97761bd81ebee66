//! The compute kernels. Each is one WGSL entry point with one `#[repr(C)]` parameter struct
//! that matches its WGSL `Params` field for field, and one launcher method on [`Recorder`]
//! taking that struct and the buffers in binding order. The backend (`mod.rs`) and the
//! kernel tests (`check.rs`) launch kernels only through these methods.
//!
//! A [`Recorder`] collects one run's dispatches and readback copies, then encodes them
//! into one command encoder with every kernel's parameters in one uniform buffer (at
//! aligned offsets), submits once and maps the readbacks once.

use super::context::Context;
use crate::config::{Activation, Norm};
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Embed,
    Add,
    Bias,
    LayerNorm,
    RmsNorm,
    Activation,
    Gated,
    Matmul,
    MatmulRows,
    SplitQkv,
    Rope,
    KvAppend,
    AttnScores,
    Softmax,
    AttnValues,
    HeadMask,
}

/// (kernel, file, entry point, source), in `Kernel` order.
const SOURCES: [(Kernel, &str, &str, &str); 16] = [
    (Kernel::Embed, "embed.wgsl", "main", include_str!("embed.wgsl")),
    (Kernel::Add, "add.wgsl", "main", include_str!("add.wgsl")),
    (Kernel::Bias, "bias.wgsl", "main", include_str!("bias.wgsl")),
    (Kernel::LayerNorm, "norm.wgsl", "layer_norm", include_str!("norm.wgsl")),
    (Kernel::RmsNorm, "norm.wgsl", "rms_norm", include_str!("norm.wgsl")),
    (Kernel::Activation, "activation.wgsl", "main", include_str!("activation.wgsl")),
    (Kernel::Gated, "activation.wgsl", "gated", include_str!("activation.wgsl")),
    (Kernel::Matmul, "matmul.wgsl", "main", include_str!("matmul.wgsl")),
    (Kernel::MatmulRows, "matmul_rows.wgsl", "main", include_str!("matmul_rows.wgsl")),
    (Kernel::SplitQkv, "split_qkv.wgsl", "main", include_str!("split_qkv.wgsl")),
    (Kernel::Rope, "rope.wgsl", "main", include_str!("rope.wgsl")),
    (Kernel::KvAppend, "kv_append.wgsl", "main", include_str!("kv_append.wgsl")),
    (Kernel::AttnScores, "attn_scores.wgsl", "main", include_str!("attn_scores.wgsl")),
    (Kernel::Softmax, "softmax.wgsl", "main", include_str!("softmax.wgsl")),
    (Kernel::AttnValues, "attn_values.wgsl", "main", include_str!("attn_values.wgsl")),
    (Kernel::HeadMask, "head_mask.wgsl", "main", include_str!("head_mask.wgsl")),
];

impl Kernel {
    pub fn name(self) -> &'static str {
        let (_, file, entry, _) = SOURCES[self as usize];
        if entry == "main" {
            file.trim_end_matches(".wgsl")
        } else {
            entry
        }
    }
}

macro_rules! params {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
        pub(crate) struct $name { $(pub $field: $ty),* }
    };
}

params!(
    /// embed.wgsl: rows of a table chunk [row0, row0 + nrows), picked by id or position.
    EmbedParams { rows: u32, d: u32, row0: u32, nrows: u32, pos_start: u32, use_ids: u32 }
);
params!(
    /// add.wgsl.
    AddParams { n: u32 }
);
params!(
    /// bias.wgsl: `len` values in rows of width `n`.
    BiasParams { len: u32, n: u32 }
);
params!(
    /// norm.wgsl (both entry points).
    NormParams { rows: u32, n: u32, eps: f32 }
);
params!(
    /// activation.wgsl: `kind` from [`activation_kind`].
    ActParams { n: u32, kind: u32 }
);

/// activation.wgsl's numbering of the activations.
pub(crate) fn activation_kind(a: Activation) -> u32 {
    match a {
        Activation::GeluNew => 0,
        Activation::Relu => 1,
        Activation::Silu => 2,
    }
}

/// A size or index as the kernels' parameters hold it.
pub(crate) fn u(x: usize) -> u32 {
    x as u32
}
params!(
    /// matmul.wgsl and matmul_rows.wgsl: C[m, c_off + n] (row stride ldc) = A[m, k] · B.
    MatmulParams { m: u32, n: u32, k: u32, ldc: u32, c_off: u32, a_off: u32, trans_b: u32 }
);
params!(
    /// split_qkv.wgsl.
    SplitParams { t: u32, hq: u32, hkv: u32, hd: u32 }
);
params!(
    /// rope.wgsl and kv_append.wgsl: per-head rows [heads, t, hd] of tokens at start...
    HeadRowsParams { heads: u32, t: u32, hd: u32, start: u32 }
);
params!(
    /// attn_scores.wgsl.
    ScoresParams { h: u32, group: u32, t: u32, tk: u32, hd: u32, kv_width: u32, start: u32, scale: f32, neg_inf: f32 }
);
params!(
    /// softmax.wgsl: causal = 1 treats row r as query r % t of a head, seeing start + (r % t) + 1 keys.
    SoftmaxParams { rows: u32, n: u32, causal: u32, start: u32, t: u32 }
);
params!(
    /// attn_values.wgsl.
    ValuesParams { h: u32, group: u32, t: u32, tk: u32, hd: u32, kv_width: u32, start: u32 }
);
params!(
    /// head_mask.wgsl.
    MaskParams { t: u32, h: u32, hd: u32 }
);

/// Up to this many rows the per-column kernel beats a 64-row tile.
const FEW_ROWS: u32 = 8;

pub(crate) struct Kernels {
    pipelines: Vec<(wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
}

impl Kernels {
    /// Compiles every shader; a compile or validation error names the file.
    pub async fn new(ctx: &Context) -> Result<Kernels> {
        let mut pipelines = Vec::with_capacity(SOURCES.len());
        for (i, (k, file, entry, src)) in SOURCES.iter().enumerate() {
            debug_assert_eq!(*k as usize, i);
            let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let module =
                ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(file), source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(src)) });
            // Layout from the entry point: bindings it does not use are left out, so e.g.
            // RMSNorm's pipeline binds no bias.
            let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(file),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
            let layout = pipeline.get_bind_group_layout(0);
            if let Some(e) = scope.pop().await {
                return Err(Error::Backend(format!("the GPU could not build the compute pipeline {file} ({entry}): {e}")));
            }
            pipelines.push((pipeline, layout));
        }
        Ok(Kernels { pipelines })
    }
}

/// Workgroups for `n` elementwise invocations of 256 threads, folded into 2D past the
/// 65535-per-dimension limit (the shaders rebuild the flat index from num_workgroups).
pub(crate) fn grid(n: usize) -> (u32, u32, u32) {
    let groups = n.div_ceil(256).max(1);
    let x = groups.min(65535);
    (x as u32, groups.div_ceil(x) as u32, 1)
}

/// A linear layer on the GPU: weights [k, n] (Conv1D layout) and an optional bias [n].
pub(crate) struct GpuLinear {
    pub w: wgpu::Buffer,
    pub b: Option<wgpu::Buffer>,
    pub k: usize,
    pub n: usize,
}

/// The shapes of one layer's attention, for [`Recorder::attention`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttnShape {
    pub h: usize,
    pub kv: usize,
    pub hd: usize,
    pub t: usize,
    pub start: usize,
}

/// The buffers of one layer's attention: queries and the key/value caches in; scores,
/// probabilities and the heads' outputs z out.
pub(crate) struct AttnBuffers<'b> {
    pub q: &'b wgpu::Buffer,
    pub k_cache: &'b wgpu::Buffer,
    pub v_cache: &'b wgpu::Buffer,
    pub scores: &'b wgpu::Buffer,
    pub probs: &'b wgpu::Buffer,
    pub z: &'b wgpu::Buffer,
}

impl AttnShape {
    pub fn tk(&self) -> usize {
        self.start + self.t
    }
}

enum Op {
    Dispatch {
        kernel: Kernel,
        offset: u64,
        size: u64,
        bufs: Vec<wgpu::Buffer>,
        groups: (u32, u32, u32),
    },
    /// Copy `bytes` from `src` at `from` into the readback at `to`.
    Save {
        src: wgpu::Buffer,
        from: u64,
        to: u64,
        bytes: u64,
    },
}

/// Where one readback lands: byte offset in the readback, f32 count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    offset: u64,
    len: usize,
}

pub(crate) struct Recorder<'a> {
    ctx: &'a Context,
    k: &'a Kernels,
    ops: Vec<Op>,
    params: Vec<u8>,
    readback: u64,
    /// Time each dispatch (its own compute pass with timestamps), for `bench --kernels`.
    profile: bool,
}

impl<'a> Recorder<'a> {
    pub fn new(ctx: &'a Context, k: &'a Kernels) -> Self {
        Recorder { ctx, k, ops: Vec::new(), params: Vec::new(), readback: 0, profile: false }
    }

    /// Times every dispatch with timestamp queries when the device has them.
    pub fn profiled(mut self) -> Self {
        self.profile = self.ctx.timestamps;
        self
    }

    /// One dispatch: binding 0 is the parameters, 1.. the buffers in order.
    fn dispatch<P: Pod>(&mut self, kernel: Kernel, p: &P, bufs: &[&wgpu::Buffer], groups: (u32, u32, u32)) {
        let align = self.ctx.uniform_align;
        let offset = (self.params.len() as u64).div_ceil(align) * align;
        self.params.resize(offset as usize, 0);
        self.params.extend_from_slice(bytemuck::bytes_of(p));
        let size = (std::mem::size_of::<P>() as u64).div_ceil(16) * 16;
        self.params.resize((offset + size) as usize, 0);
        self.ops.push(Op::Dispatch { kernel, offset, size, bufs: bufs.iter().map(|b| (*b).clone()).collect(), groups });
    }

    /// Reads `len` f32 values of `buf` from index `from` back after the run. The copy is
    /// encoded here, in order, so a buffer the next layer reuses is read before it changes.
    pub fn save(&mut self, buf: &wgpu::Buffer, from: usize, len: usize) -> Slot {
        let bytes = (len.max(1) * 4) as u64;
        let slot = Slot { offset: self.readback, len };
        self.ops.push(Op::Save { src: buf.clone(), from: (from * 4) as u64, to: self.readback, bytes });
        self.readback += bytes;
        slot
    }

    pub fn embed(&mut self, p: EmbedParams, ids: &wgpu::Buffer, table: &wgpu::Buffer, out: &wgpu::Buffer) {
        self.dispatch(Kernel::Embed, &p, &[ids, table, out], grid((p.rows * p.d) as usize));
    }

    pub fn add(&mut self, p: AddParams, a: &wgpu::Buffer, b: &wgpu::Buffer, out: &wgpu::Buffer) {
        self.dispatch(Kernel::Add, &p, &[a, b, out], grid(p.n as usize));
    }

    pub fn bias(&mut self, p: BiasParams, bias: &wgpu::Buffer, y: &wgpu::Buffer) {
        self.dispatch(Kernel::Bias, &p, &[bias, y], grid(p.len as usize));
    }

    /// The model's norm, as `cpu::norm` chooses it: LayerNorm with bias `b`, or RMSNorm.
    pub fn norm(&mut self, p: NormParams, kind: Norm, x: &wgpu::Buffer, g: &wgpu::Buffer, b: Option<&wgpu::Buffer>, y: &wgpu::Buffer) {
        match kind {
            Norm::LayerNorm => self.dispatch(Kernel::LayerNorm, &p, &[x, g, y, b.expect("the loaders give every LayerNorm a bias")], (p.rows, 1, 1)),
            Norm::RmsNorm => self.dispatch(Kernel::RmsNorm, &p, &[x, g, y], (p.rows, 1, 1)),
        }
    }

    pub fn activation(&mut self, p: ActParams, x: &wgpu::Buffer, out: &wgpu::Buffer) {
        self.dispatch(Kernel::Activation, &p, &[x, out], grid(p.n as usize));
    }

    /// act(gate) · up, elementwise (SwiGLU with SiLU).
    pub fn gated(&mut self, p: ActParams, gate: &wgpu::Buffer, up: &wgpu::Buffer, out: &wgpu::Buffer) {
        self.dispatch(Kernel::Gated, &p, &[gate, out, up], grid(p.n as usize));
    }

    /// The tiled kernel, or the per-column one for a few rows (a KV-cache step has one):
    /// there a 64-row tile would spend 63/64 of its work on padding.
    pub fn matmul(&mut self, p: MatmulParams, a: &wgpu::Buffer, b: &wgpu::Buffer, c: &wgpu::Buffer) {
        if p.m <= FEW_ROWS {
            self.dispatch(Kernel::MatmulRows, &p, &[a, b, c], (p.n.div_ceil(256), p.m.div_ceil(4), 1));
        } else {
            self.dispatch(Kernel::Matmul, &p, &[a, b, c], (p.n.div_ceil(64), p.m.div_ceil(64), 1));
        }
    }

    pub fn split_qkv(&mut self, p: SplitParams, qkv: &wgpu::Buffer, q: &wgpu::Buffer, k: &wgpu::Buffer, v: &wgpu::Buffer) {
        let n = p.t * (p.hq + 2 * p.hkv) * p.hd;
        self.dispatch(Kernel::SplitQkv, &p, &[qkv, q, k, v], grid(n as usize));
    }

    pub fn rope(&mut self, p: HeadRowsParams, x: &wgpu::Buffer, cos: &wgpu::Buffer, sin: &wgpu::Buffer, out: &wgpu::Buffer) {
        self.dispatch(Kernel::Rope, &p, &[x, cos, sin, out], grid((p.heads * p.t * p.hd / 2) as usize));
    }

    pub fn kv_append(&mut self, p: HeadRowsParams, x: &wgpu::Buffer, cache: &wgpu::Buffer) {
        self.dispatch(Kernel::KvAppend, &p, &[x, cache], grid((p.heads * p.t * p.hd) as usize));
    }

    pub fn attn_scores(&mut self, p: ScoresParams, q: &wgpu::Buffer, kc: &wgpu::Buffer, scores: &wgpu::Buffer) {
        self.dispatch(Kernel::AttnScores, &p, &[q, kc, scores], grid((p.h * p.t * p.tk) as usize));
    }

    pub fn softmax(&mut self, p: SoftmaxParams, x: &wgpu::Buffer, y: &wgpu::Buffer) {
        self.dispatch(Kernel::Softmax, &p, &[x, y], (p.rows, 1, 1));
    }

    pub fn attn_values(&mut self, p: ValuesParams, probs: &wgpu::Buffer, vc: &wgpu::Buffer, z: &wgpu::Buffer) {
        self.dispatch(Kernel::AttnValues, &p, &[probs, vc, z], grid((p.t * p.h * p.hd) as usize));
    }

    pub fn head_mask(&mut self, p: MaskParams, keep: &wgpu::Buffer, replacement: &wgpu::Buffer, z: &wgpu::Buffer) {
        self.dispatch(Kernel::HeadMask, &p, &[keep, replacement, z], grid((p.t * p.h * p.hd) as usize));
    }

    /// x [rows, k] · W + b into out [rows, n].
    pub fn linear(&mut self, x: &wgpu::Buffer, rows: usize, l: &GpuLinear, out: &wgpu::Buffer) {
        self.matmul(MatmulParams { m: u(rows), n: u(l.n), k: u(l.k), ldc: u(l.n), c_off: 0, a_off: 0, trans_b: 0 }, x, &l.w, out);
        if let Some(b) = &l.b {
            self.bias(BiasParams { len: u(rows * l.n), n: u(l.n) }, b, out);
        }
    }

    /// Causal attention of queries q [H, T, hd] over the cached keys and values
    /// [n_positions, Hkv·hd]: scores with scale and mask, softmax, probabilities · values
    /// into z [T, H·hd]. The CPU reference is `cpu::attention`.
    pub fn attention(&mut self, s: AttnShape, b: AttnBuffers) {
        let AttnBuffers { q, k_cache: kc, v_cache: vc, scores, probs, z } = b;
        let (h, group, t, tk, hd, kvw, start) = (u(s.h), u(s.h / s.kv), u(s.t), u(s.tk()), u(s.hd), u(s.kv * s.hd), u(s.start));
        let scale = 1.0 / (s.hd as f32).sqrt();
        self.attn_scores(ScoresParams { h, group, t, tk, hd, kv_width: kvw, start, scale, neg_inf: f32::NEG_INFINITY }, q, kc, scores);
        self.softmax(SoftmaxParams { rows: h * t, n: tk, causal: 1, start, t }, scores, probs);
        self.attn_values(ValuesParams { h, group, t, tk, hd, kv_width: kvw, start }, probs, vc, z);
    }

    /// Encodes, submits and waits; returns the values of each group of saved slots (its
    /// slots one after another) and, when profiled, (kernel, milliseconds) per dispatch.
    pub async fn finish(self, groups: &[&[Slot]]) -> Result<(Vec<Vec<f32>>, Vec<(Kernel, f64)>)> {
        let ctx = self.ctx;
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let uniforms = ctx.pooled_uniform(&self.params);
        let staging = ctx.pooled_staging(self.readback)?;
        let dispatches = self.ops.iter().filter(|o| matches!(o, Op::Dispatch { .. })).count();
        let timer = if self.profile { Some(ctx.timer(dispatches)) } else { None };
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("llm-xray run") });
        let mut kernels = Vec::new();
        let mut i = 0;
        while i < self.ops.len() {
            match &self.ops[i] {
                Op::Save { src, from, to, bytes } => {
                    enc.copy_buffer_to_buffer(src, *from, &staging, *to, *bytes);
                    i += 1;
                }
                Op::Dispatch { .. } => {
                    // Consecutive dispatches share one pass (one each when timed).
                    let writes = timer.as_ref().map(|(q, _)| wgpu::ComputePassTimestampWrites {
                        query_set: q,
                        beginning_of_pass_write_index: Some(2 * kernels.len() as u32),
                        end_of_pass_write_index: Some(2 * kernels.len() as u32 + 1),
                    });
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: writes });
                    while let Some(Op::Dispatch { kernel, offset, size, bufs, groups }) = self.ops.get(i) {
                        let (pipeline, layout) = &self.k.pipelines[*kernel as usize];
                        let mut entries = vec![wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &uniforms,
                                offset: *offset,
                                size: wgpu::BufferSize::new(*size),
                            }),
                        }];
                        entries
                            .extend(bufs.iter().enumerate().map(|(b, buf)| wgpu::BindGroupEntry { binding: b as u32 + 1, resource: buf.as_entire_binding() }));
                        let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries });
                        pass.set_pipeline(pipeline);
                        pass.set_bind_group(0, &bg, &[]);
                        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
                        kernels.push(*kernel);
                        i += 1;
                        if timer.is_some() {
                            break;
                        }
                    }
                }
            }
        }
        if let Some((q, buf)) = &timer {
            enc.resolve_query_set(q, 0..2 * kernels.len() as u32, buf, 0);
        }
        ctx.queue.submit([enc.finish()]);
        if let Some(e) = validation.pop().await {
            return Err(Error::Backend(format!("the GPU rejected a kernel: {e}")));
        }
        if let Some(e) = oom.pop().await {
            return Err(Error::Backend(format!("the GPU ran out of memory: {e}")));
        }
        // Each group is copied once, straight out of the mapping.
        let values = ctx.read(&staging, self.readback, |bytes| groups.iter().map(|g| gather(bytes, g)).collect()).await?;
        let times = match &timer {
            Some((_, buf)) => {
                let stamps = ctx.read_query(buf, 16 * kernels.len() as u64).await?;
                let period = ctx.queue.get_timestamp_period() as f64;
                kernels.iter().enumerate().map(|(k, kernel)| (*kernel, stamps[2 * k + 1].saturating_sub(stamps[2 * k]) as f64 * period / 1e6)).collect()
            }
            None => Vec::new(),
        };
        ctx.check()?;
        Ok((values, times))
    }
}

/// The values of `slots`, one after another, out of the mapped readback `bytes`.
fn gather(bytes: &[u8], slots: &[Slot]) -> Vec<f32> {
    let mut out = Vec::with_capacity(slots.iter().map(|s| s.len).sum());
    for s in slots {
        let b = &bytes[s.offset as usize..][..4 * s.len];
        match bytemuck::try_cast_slice::<u8, f32>(b) {
            Ok(v) => out.extend_from_slice(v),
            // wgpu aligns mappings natively; on the web the mapping is a copy it makes, whose
            // alignment nothing promises.
            Err(_) => out.extend(b.chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))),
        }
    }
    out
}
