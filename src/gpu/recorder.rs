//! The dispatch machinery every op shares: a [`Kernel`] describes one WGSL entry point,
//! [`Pipelines`] compiles the registered kernels once per device, and a [`Recorder`]
//! collects one run's dispatches and readback copies, then encodes them into one command
//! encoder with every dispatch's parameters packed into one uniform buffer (at aligned
//! offsets), submits once and maps the readbacks once.
//!
//! Binding convention, for every kernel: binding 0 is its `Params` uniform, bindings 1..
//! are the storage buffers its launcher passes to [`Recorder::dispatch`], in that order,
//! which is the order [`Kernel::bindings`] names them.

use super::context::Context;
use crate::error::{Error, Result};
use bytemuck::Pod;
use std::borrow::Cow;

/// One compute kernel: a WGSL entry point and what the host binds for it. Each op module
/// declares its kernels as statics and the op registry lists them.
pub(crate) struct Kernel {
    /// What `bench --kernels` prints: the file's stem, or the entry point where one file
    /// has several.
    pub name: &'static str,
    pub file: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    /// The WGSL `Params` struct's fields as (name, type), in order: the op's Rust params
    /// struct spells them out, and a unit test holds them against the shader's text.
    pub params: &'static [(&'static str, &'static str)],
    /// The storage buffers the entry point binds, by their WGSL names, at bindings 1.. in
    /// this order.
    pub bindings: &'static [&'static str],
}

/// Every registered kernel compiled for one device, in registration order.
pub(crate) struct Pipelines {
    compiled: Vec<Compiled>,
}

struct Compiled {
    kernel: &'static Kernel,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Pipelines {
    /// Compiles every kernel; a compile or validation error names the file and entry point.
    pub async fn new(ctx: &Context, kernels: &[&'static Kernel]) -> Result<Pipelines> {
        let mut compiled = Vec::with_capacity(kernels.len());
        for &kernel in kernels {
            let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel.file),
                source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(kernel.source)),
            });
            // Layout from the entry point: bindings it does not use are left out, so e.g.
            // RMSNorm's pipeline binds no bias.
            let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.name),
                layout: None,
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: Default::default(),
                cache: None,
            });
            let layout = pipeline.get_bind_group_layout(0);
            if let Some(e) = scope.pop().await {
                return Err(Error::Backend(format!("the GPU could not build the compute pipeline {} ({}): {e}", kernel.file, kernel.entry)));
            }
            compiled.push(Compiled { kernel, pipeline, layout });
        }
        Ok(Pipelines { compiled })
    }

    /// Where `kernel` is in `compiled`. Kernels are statics, so one kernel has one address;
    /// a kernel missing here was left out of the registry, a bug in this crate.
    fn index(&self, kernel: &'static Kernel) -> usize {
        self.compiled
            .iter()
            .position(|c| std::ptr::eq(c.kernel, kernel))
            .unwrap_or_else(|| panic!("the kernel {} ({}) is not in the op registry", kernel.name, kernel.file))
    }
}

/// Workgroups for `n` elementwise invocations of 256 threads, folded into 2D past the
/// 65535-per-dimension limit (the shaders rebuild the flat index from num_workgroups).
pub(crate) fn grid(n: usize) -> (u32, u32, u32) {
    let groups = n.div_ceil(256).max(1);
    let x = groups.min(65535);
    (x as u32, groups.div_ceil(x) as u32, 1)
}

enum Op {
    /// `pipeline` indexes `Pipelines::compiled`; the parameters sit at `offset` in the
    /// uniform buffer.
    Dispatch { pipeline: usize, offset: u64, size: u64, bufs: Vec<wgpu::Buffer>, groups: (u32, u32, u32) },
    /// Copy `bytes` from `src` at `from` into the readback at `to`.
    Save { src: wgpu::Buffer, from: u64, to: u64, bytes: u64 },
}

/// Where one readback lands: byte offset in the readback, f32 count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    offset: u64,
    len: usize,
}

pub(crate) struct Recorder<'a> {
    ctx: &'a Context,
    pipelines: &'a Pipelines,
    ops: Vec<Op>,
    params: Vec<u8>,
    readback: u64,
    /// Time each dispatch (its own compute pass with timestamps), for `bench --kernels`.
    profile: bool,
    /// The first buffer found too small for its kernel: the run fails with it.
    shape_error: Option<String>,
}

impl<'a> Recorder<'a> {
    pub fn new(ctx: &'a Context, pipelines: &'a Pipelines) -> Self {
        Recorder { ctx, pipelines, ops: Vec::new(), params: Vec::new(), readback: 0, profile: false, shape_error: None }
    }

    /// Times every dispatch with timestamp queries when the device has them.
    pub fn profiled(mut self) -> Self {
        self.profile = self.ctx.timestamps;
        self
    }

    /// One dispatch of `kernel` with parameters `p` and its storage buffers in binding
    /// order, each with the number of 4-byte values (f32 or u32) the kernel may touch in
    /// it for these parameters. A buffer too small for that would not fail on the GPU
    /// (out-of-bounds reads and writes are clamped) but give wrong numbers, so the run
    /// fails instead, naming the kernel and the binding. Parameters or buffers that do not
    /// match the kernel's declaration are a bug in the launcher: that panics.
    pub fn dispatch<P: Pod>(&mut self, kernel: &'static Kernel, p: &P, bufs: &[(&wgpu::Buffer, usize)], groups: (u32, u32, u32)) {
        let name = kernel.name;
        assert_eq!(std::mem::size_of::<P>(), 4 * kernel.params.len(), "{name}: the parameters do not match the kernel's Params");
        assert_eq!(bufs.len(), kernel.bindings.len(), "{name}: wrong number of buffers");
        for ((buf, words), binding) in bufs.iter().zip(kernel.bindings) {
            let need = 4 * *words as u64;
            if buf.size() < need && self.shape_error.is_none() {
                let have = buf.size();
                self.shape_error = Some(format!("the GPU kernel {name} needs {need} bytes in its buffer {binding} for these shapes; the buffer holds {have}"));
            }
        }
        let align = self.ctx.uniform_align;
        let offset = (self.params.len() as u64).div_ceil(align) * align;
        self.params.resize(offset as usize, 0);
        self.params.extend_from_slice(bytemuck::bytes_of(p));
        let size = (std::mem::size_of::<P>() as u64).div_ceil(16) * 16;
        self.params.resize((offset + size) as usize, 0);
        let pipeline = self.pipelines.index(kernel);
        self.ops.push(Op::Dispatch { pipeline, offset, size, bufs: bufs.iter().map(|(b, _)| (*b).clone()).collect(), groups });
    }

    /// Reads `len` f32 values of `buf` from index `from` back after the run. The copy is
    /// encoded here, in order, so a buffer a later kernel overwrites is read before it
    /// changes.
    pub fn save(&mut self, buf: &wgpu::Buffer, from: usize, len: usize) -> Slot {
        let bytes = (len.max(1) * 4) as u64;
        let slot = Slot { offset: self.readback, len };
        self.ops.push(Op::Save { src: buf.clone(), from: (from * 4) as u64, to: self.readback, bytes });
        self.readback += bytes;
        slot
    }

    /// Encodes, submits and waits; returns the values of each group of saved slots (its
    /// slots one after another) and, when profiled, (kernel name, milliseconds) per
    /// dispatch.
    pub async fn finish(self, groups: &[&[Slot]]) -> Result<(Vec<Vec<f32>>, Vec<(&'static str, f64)>)> {
        if let Some(e) = self.shape_error {
            return Err(Error::Backend(e));
        }
        let ctx = self.ctx;
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let uniforms = ctx.pooled_uniform(&self.params);
        let staging = ctx.pooled_staging(self.readback)?;
        let dispatches = self.ops.iter().filter(|o| matches!(o, Op::Dispatch { .. })).count();
        let timer = if self.profile { Some(ctx.timer(dispatches)) } else { None };
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("llm-xray run") });
        let mut timed: Vec<&'static str> = Vec::new();
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
                        beginning_of_pass_write_index: Some(2 * timed.len() as u32),
                        end_of_pass_write_index: Some(2 * timed.len() as u32 + 1),
                    });
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: writes });
                    while let Some(Op::Dispatch { pipeline, offset, size, bufs, groups }) = self.ops.get(i) {
                        let c = &self.pipelines.compiled[*pipeline];
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
                        let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &c.layout, entries: &entries });
                        pass.set_pipeline(&c.pipeline);
                        pass.set_bind_group(0, &bg, &[]);
                        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
                        i += 1;
                        if timer.is_some() {
                            timed.push(c.kernel.name);
                            break;
                        }
                    }
                }
            }
        }
        if let Some((q, buf)) = &timer {
            enc.resolve_query_set(q, 0..2 * timed.len() as u32, buf, 0);
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
                let stamps = ctx.read_query(buf, 16 * timed.len() as u64).await?;
                let period = ctx.queue.get_timestamp_period() as f64;
                timed.iter().enumerate().map(|(k, name)| (*name, stamps[2 * k + 1].saturating_sub(stamps[2 * k]) as f64 * period / 1e6)).collect()
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
