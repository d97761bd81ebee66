//! Adapter choice, device creation with the limits the model needs, buffers (uploaded
//! once, or pooled across runs), and the asynchronous readback (map_async; natively we
//! drive it with `poll`, on the web the browser resolves it).

use super::AdapterSummary;
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use wgpu::util::DeviceExt;

pub(crate) struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    /// Largest storage binding and buffer the device was created with.
    pub max_binding: u64,
    pub max_buffer: u64,
    /// Alignment of uniform-buffer offsets (where each kernel's parameters sit).
    pub uniform_align: u64,
    /// Whether the device can time passes (`bench --kernels`).
    pub timestamps: bool,
    /// Set by the device-lost callback; every run checks it first.
    lost: Arc<Mutex<Option<String>>>,
    /// Errors wgpu reports outside an error scope (it would panic on them by default).
    uncaptured: Arc<Mutex<Option<String>>>,
    /// Buffers reused from run to run, by role: a run allocates nothing once they are big
    /// enough.
    pool: RefCell<HashMap<&'static str, wgpu::Buffer>>,
}

fn backends() -> wgpu::Backends {
    #[cfg(target_arch = "wasm32")]
    {
        wgpu::Backends::BROWSER_WEBGPU
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // Vulkan/Metal/DX12; WGPU_BACKEND=gl etc. still chooses another.
        wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY)
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends();
    wgpu::Instance::new(desc)
}

pub(crate) fn summarize(info: &wgpu::AdapterInfo) -> AdapterSummary {
    let text = format!("{} {} {}", info.name, info.driver, info.driver_info).to_lowercase();
    let software_names = ["llvmpipe", "lavapipe", "swiftshader", "softpipe", "software", "microsoft basic render"];
    AdapterSummary {
        // Browsers may withhold the adapter's description (fingerprinting); say so plainly.
        name: match (info.name.is_empty(), info.device_type == wgpu::DeviceType::Cpu) {
            (false, _) => info.name.clone(),
            (true, true) => "software fallback adapter (the browser does not disclose its name)".into(),
            (true, false) => "unnamed adapter (the browser does not disclose its name)".into(),
        },
        backend: format!("{:?}", info.backend),
        is_software: info.device_type == wgpu::DeviceType::Cpu || software_names.iter().any(|s| text.contains(s)),
    }
}

/// Adapters that can run compute shaders, best first: hardware before software, then
/// Vulkan/Metal/DX12/WebGPU before GL.
pub(crate) async fn adapters() -> Vec<wgpu::Adapter> {
    let inst = instance();
    #[cfg(not(target_arch = "wasm32"))]
    let mut list = inst.enumerate_adapters(backends()).await;
    #[cfg(target_arch = "wasm32")]
    let mut list: Vec<wgpu::Adapter> = inst
        .request_adapter(&wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() })
        .await
        .ok()
        .into_iter()
        .collect();
    list.retain(|a| a.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS));
    list.sort_by_key(|a| {
        let info = a.get_info();
        (summarize(&info).is_software, info.backend == wgpu::Backend::Gl)
    });
    list
}

impl Context {
    /// `need` is the largest buffer the model would like in one binding; we ask for up to
    /// that much, never more than the adapter has (bigger tensors get split by the caller).
    pub async fn new(need: u64) -> Result<Context> {
        let adapter = adapters().await.into_iter().next().ok_or_else(|| {
            Error::Backend(
                "no WebGPU/Vulkan/Metal/DX12 adapter with compute shaders found (on Linux without a GPU, install Mesa's \
                 llvmpipe Vulkan driver: apt-get install mesa-vulkan-drivers)"
                    .into(),
            )
        })?;
        let info = adapter.get_info();
        let summary = summarize(&info);
        let have = adapter.limits();
        let mut limits = wgpu::Limits::default().or_worse_values_from(&have);
        let want = need.max(limits.max_storage_buffer_binding_size);
        limits.max_storage_buffer_binding_size = have.max_storage_buffer_binding_size.min(want);
        limits.max_buffer_size = have.max_buffer_size.min(want.max(limits.max_buffer_size));
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("llm-xray"),
                required_features: if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() },
                required_limits: limits.clone(),
                memory_hints: wgpu::MemoryHints::Performance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Backend(format!("the GPU adapter \"{}\" refused a device: {e}", summary.name)))?;
        let lost = Arc::new(Mutex::new(None));
        let l = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *l.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        let uncaptured = Arc::new(Mutex::new(None));
        let u = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            u.lock().unwrap().get_or_insert_with(|| e.to_string());
        }));
        Ok(Context {
            device,
            queue,
            summary,
            max_binding: limits.max_storage_buffer_binding_size,
            max_buffer: limits.max_buffer_size,
            uniform_align: limits.min_uniform_buffer_offset_alignment as u64,
            timestamps,
            lost,
            uncaptured,
            pool: RefCell::new(HashMap::new()),
        })
    }

    /// Err if the device was lost or reported an error outside a scope.
    pub fn check(&self) -> Result<()> {
        if let Some(why) = self.lost.lock().unwrap().clone() {
            return Err(Error::Backend(format!("the GPU device was lost ({why}); the GPU backend cannot run any more")));
        }
        if let Some(e) = self.uncaptured.lock().unwrap().take() {
            return Err(Error::Backend(format!("the GPU reported an error: {e}")));
        }
        Ok(())
    }

    fn check_size(&self, what: &str, bytes: u64) -> Result<()> {
        if bytes > self.max_binding {
            return Err(Error::Backend(format!(
                "{what} needs {bytes} bytes in one GPU buffer, more than this adapter allows in one binding ({} bytes)",
                self.max_binding
            )));
        }
        Ok(())
    }

    const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

    /// A zero-filled f32 storage buffer of `n` values.
    pub fn storage(&self, what: &str, n: usize) -> Result<wgpu::Buffer> {
        let bytes = (n.max(1) * 4) as u64;
        self.check_size(what, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(what), size: bytes, usage: Self::STORAGE, mapped_at_creation: false }))
    }

    /// The pooled buffer for `role`, at least `bytes` long: reused run after run, replaced
    /// only when a run needs more, then at least doubled (up to `cap`) so that a growing
    /// context does not replace it at every step.
    fn pooled(&self, role: &'static str, bytes: u64, usage: wgpu::BufferUsages, cap: u64) -> wgpu::Buffer {
        let mut pool = self.pool.borrow_mut();
        let old = pool.get(role).map_or(0, wgpu::Buffer::size);
        if old >= bytes {
            return pool[role].clone();
        }
        let size = bytes.max(2 * old).min(cap).max(bytes);
        let b = self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(role), size, usage, mapped_at_creation: false });
        pool.insert(role, b.clone());
        b
    }

    /// The pooled storage buffer for `role`, at least `n` f32 values.
    pub fn scratch(&self, role: &'static str, n: usize) -> Result<wgpu::Buffer> {
        let bytes = (n.max(1) * 4) as u64;
        self.check_size(role, bytes)?;
        Ok(self.pooled(role, bytes, Self::STORAGE, self.max_binding))
    }

    /// The pooled uniform buffer, holding `bytes`.
    pub fn pooled_uniform(&self, bytes: &[u8]) -> wgpu::Buffer {
        let usage = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let b = self.pooled("kernel parameters", (bytes.len() as u64).max(16), usage, self.max_buffer);
        self.queue.write_buffer(&b, 0, bytes);
        b
    }

    /// The pooled readback buffer, at least `bytes` long.
    pub fn pooled_staging(&self, bytes: u64) -> Result<wgpu::Buffer> {
        let need = bytes.max(4).div_ceil(4) * 4;
        if need > self.max_buffer {
            return Err(Error::Backend(format!(
                "this run reads back {need} bytes, more than one GPU buffer may hold on this adapter ({} bytes); ask for fewer parts or tokens",
                self.max_buffer
            )));
        }
        Ok(self.pooled("readback", need, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, self.max_buffer))
    }

    pub fn upload(&self, what: &str, data: &[f32]) -> Result<wgpu::Buffer> {
        let one = [0f32];
        let data = if data.is_empty() { &one[..] } else { data };
        self.check_size(what, (data.len() * 4) as u64)?;
        Ok(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(what), contents: bytemuck::cast_slice(data), usage: Self::STORAGE }))
    }

    /// Raw bytes (weights held in ggml blocks, read by the kernels as u32 words), padded
    /// with zeros to a whole number of words.
    pub fn upload_bytes(&self, what: &str, data: &[u8]) -> Result<wgpu::Buffer> {
        let padded = data.len().div_ceil(4).max(1) * 4;
        self.check_size(what, padded as u64)?;
        let buf =
            self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(what), size: padded as u64, usage: Self::STORAGE, mapped_at_creation: false });
        // Written from where the bytes are (in the browser, straight out of wasm memory,
        // without a copy there): the whole words, then the last one padded.
        let whole = data.len() / 4 * 4;
        if whole > 0 {
            self.queue.write_buffer(&buf, 0, &data[..whole]);
        }
        if whole < data.len() {
            let mut last = [0u8; 4];
            last[..data.len() - whole].copy_from_slice(&data[whole..]);
            self.queue.write_buffer(&buf, whole as u64, &last);
        }
        Ok(buf)
    }

    /// Writes u32 values into the pooled buffer for `role` (e.g. this run's token ids).
    pub fn scratch_u32(&self, role: &'static str, data: &[u32]) -> Result<wgpu::Buffer> {
        let b = self.scratch(role, data.len())?;
        self.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
        Ok(b)
    }

    /// A query set for `n` timed passes and the buffer it resolves into.
    pub fn timer(&self, n: usize) -> (wgpu::QuerySet, wgpu::Buffer) {
        let count = (2 * n).max(2) as u32;
        let q = self.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("kernel timestamps"), ty: wgpu::QueryType::Timestamp, count });
        let b = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel timestamps"),
            size: 8 * count as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        (q, b)
    }

    /// The first `bytes` of resolved timestamps.
    pub async fn read_query(&self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u64>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: bytes.max(8),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf, 0, &staging, 0, bytes.max(8));
        self.queue.submit([enc.finish()]);
        self.read(&staging, bytes, bytemuck::pod_collect_to_vec).await
    }

    /// Maps `buf` (after everything submitted so far), hands its first `bytes` to `take`
    /// (which copies out what it keeps) and unmaps it again for the next run.
    pub async fn read<T>(&self, buf: &wgpu::Buffer, bytes: u64, take: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let state = Arc::new(Mutex::new(MapState { done: false, error: None, waker: None }));
        let s = state.clone();
        let len = bytes.max(4).div_ceil(4) * 4;
        buf.map_async(wgpu::MapMode::Read, 0..len, move |r| {
            let mut st = s.lock().unwrap();
            st.done = true;
            if let Err(e) = r {
                st.error = Some(e.to_string());
            }
            if let Some(w) = st.waker.take() {
                w.wake();
            }
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Backend(format!("waiting for the GPU failed: {e}")))?;
        MapWait(state).await?;
        let out = buf.slice(0..len).get_mapped_range().map(|m| take(&m[..bytes as usize]));
        buf.unmap();
        out.map_err(|e| Error::Backend(format!("reading results back from the GPU failed: {e}")))
    }
}

struct MapState {
    done: bool,
    error: Option<String>,
    waker: Option<Waker>,
}

struct MapWait(Arc<Mutex<MapState>>);

impl Future for MapWait {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<()>> {
        let mut st = self.0.lock().unwrap();
        if let Some(e) = st.error.take() {
            return Poll::Ready(Err(Error::Backend(format!("reading results back from the GPU failed: {e}"))));
        }
        if st.done {
            return Poll::Ready(Ok(()));
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
