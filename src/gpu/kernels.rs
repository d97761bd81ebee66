//! The compute pipelines (one WGSL file each) and a recorder that encodes dispatches and
//! readback copies into one command encoder.

use super::context::Context;
use crate::error::{Error, Result};
use std::borrow::Cow;
use wgpu::util::DeviceExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum K {
    Embed,
    Add,
    Activation,
    LayerNorm,
    Softmax,
    SplitQkv,
    AttnScores,
    AttnValues,
    Matmul,
    MatmulRows,
}

const SOURCES: [(K, &str, &str); 10] = [
    (K::Embed, "embed.wgsl", include_str!("embed.wgsl")),
    (K::Add, "add.wgsl", include_str!("add.wgsl")),
    (K::Activation, "activation.wgsl", include_str!("activation.wgsl")),
    (K::LayerNorm, "layernorm.wgsl", include_str!("layernorm.wgsl")),
    (K::Softmax, "softmax.wgsl", include_str!("softmax.wgsl")),
    (K::SplitQkv, "split_qkv.wgsl", include_str!("split_qkv.wgsl")),
    (K::AttnScores, "attn_scores.wgsl", include_str!("attn_scores.wgsl")),
    (K::AttnValues, "attn_values.wgsl", include_str!("attn_values.wgsl")),
    (K::Matmul, "matmul.wgsl", include_str!("matmul.wgsl")),
    (K::MatmulRows, "matmul_rows.wgsl", include_str!("matmul_rows.wgsl")),
];

/// Matmul parameters, shared by matmul.wgsl and matmul_rows.wgsl.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Row stride of C and the column C's first output lands in.
    pub ldc: usize,
    pub c_off: usize,
    /// f32 index of A's first row.
    pub a_off: usize,
    pub transposed: bool,
    pub bias: bool,
}

/// Up to this many rows the per-column kernel beats a 64-row tile.
const FEW_ROWS: usize = 8;

pub(crate) struct Kernels {
    pipelines: Vec<(wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
}

impl Kernels {
    /// Compiles every shader; a compile or validation error names the file.
    pub async fn new(ctx: &Context) -> Result<Kernels> {
        let mut pipelines = Vec::with_capacity(SOURCES.len());
        for (i, (k, file, src)) in SOURCES.iter().enumerate() {
            debug_assert_eq!(*k as usize, i);
            let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(file),
                source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(src)),
            });
            let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(file),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            let layout = pipeline.get_bind_group_layout(0);
            if let Some(e) = scope.pop().await {
                return Err(Error::Backend(format!("the GPU could not build the compute pipeline {file}: {e}")));
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

/// Where one readback landed: staging buffer, byte offset, f32 count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub staging: usize,
    pub offset: u64,
    pub len: usize,
}

pub(crate) struct Recorder<'a> {
    pub ctx: &'a Context,
    k: &'a Kernels,
    pub enc: wgpu::CommandEncoder,
    pub staging: Vec<wgpu::Buffer>,
    used: u64,
    remaining: u64,
    // Every error of the run's encoding and submission lands here, not in a panic.
    validation: wgpu::ErrorScopeGuard,
    oom: wgpu::ErrorScopeGuard,
}

impl<'a> Recorder<'a> {
    /// `readback_bytes`: the total of every `save` this run will make.
    pub fn new(ctx: &'a Context, k: &'a Kernels, readback_bytes: u64) -> Self {
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("llm-xray run") });
        Recorder { ctx, k, enc, staging: Vec::new(), used: 0, remaining: readback_bytes, validation, oom }
    }

    /// One dispatch: binding 0 is the uniform parameters, 1.. the buffers in order.
    pub fn dispatch(&mut self, kernel: K, params: [u32; 8], bufs: &[&wgpu::Buffer], groups: (u32, u32, u32)) {
        let (pipeline, layout) = &self.k.pipelines[kernel as usize];
        let uniform = self.ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::cast_slice(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        for (i, b) in bufs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() });
        }
        let bg = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries });
        let mut pass = self.enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
    }

    /// c = a · b (+ bias), choosing the kernel by the number of rows.
    pub fn matmul(&mut self, mm: Mm, a: &wgpu::Buffer, b: &wgpu::Buffer, bias: &wgpu::Buffer, c: &wgpu::Buffer) {
        let u = |x: usize| x as u32;
        let params = [u(mm.m), u(mm.n), u(mm.k), u(mm.ldc), u(mm.c_off), u(mm.a_off), mm.transposed as u32, mm.bias as u32];
        if mm.m <= FEW_ROWS {
            self.dispatch(K::MatmulRows, params, &[a, b, bias, c], (u(mm.n.div_ceil(256)), u(mm.m.div_ceil(4)), 1));
        } else {
            self.dispatch(K::Matmul, params, &[a, b, bias, c], (u(mm.n.div_ceil(64)), u(mm.m.div_ceil(64)), 1));
        }
    }

    /// Copies `len` f32 from `src` (starting at f32 index `from`) into staging, now, in
    /// command order — so a buffer reused by the next layer is read before it is rewritten.
    pub fn save(&mut self, src: &wgpu::Buffer, from: usize, len: usize) -> Slot {
        let bytes = (len * 4) as u64;
        let room = self.staging.last().map_or(0, |s| s.size() - self.used);
        if room < bytes {
            // Normally one staging buffer holds the whole run; a trace bigger than the
            // adapter's largest buffer spills into more, all mapped after the same submit.
            let size = self.remaining.min(self.ctx.max_buffer).max(bytes);
            self.staging.push(self.ctx.staging(size));
            self.used = 0;
        }
        let offset = self.used;
        let dst = self.staging.last().expect("pushed above");
        self.enc.copy_buffer_to_buffer(src, (from * 4) as u64, dst, offset, bytes);
        self.used += bytes;
        self.remaining = self.remaining.saturating_sub(bytes);
        Slot { staging: self.staging.len() - 1, offset, len }
    }

    /// Submits everything, maps the staging buffers once and reads out every slot.
    pub async fn finish(self, slots: &[Slot]) -> Result<Vec<Vec<f32>>> {
        let Recorder { ctx, enc, staging, validation, oom, .. } = self;
        ctx.queue.submit([enc.finish()]);
        let v = validation.pop().await;
        let o = oom.pop().await;
        if let Some(e) = v.or(o) {
            return Err(Error::Backend(format!("the GPU rejected the run: {e}")));
        }
        ctx.map_all(&staging).await?;
        ctx.check()?;
        let mut out = Vec::with_capacity(slots.len());
        {
            let views: Vec<_> = staging
                .iter()
                .map(|b| b.get_mapped_range(..).map_err(|e| Error::Backend(format!("reading the staging buffer: {e}"))))
                .collect::<Result<_>>()?;
            for s in slots {
                let bytes = &views[s.staging][s.offset as usize..s.offset as usize + s.len * 4];
                out.push(match bytemuck::try_cast_slice::<u8, f32>(bytes) {
                    Ok(f) => f.to_vec(),
                    Err(_) => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                });
            }
        }
        for b in &staging {
            b.unmap();
        }
        Ok(out)
    }
}
