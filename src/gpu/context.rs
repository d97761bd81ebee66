//! Adapter choice, device creation with the limits the model needs, buffers, and the one
//! asynchronous readback per run (map_async; natively we drive it with `poll`, on the web
//! the browser resolves it).

use super::AdapterSummary;
use crate::error::{Error, Result};
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
    /// Set by the device-lost callback; every run checks it first.
    lost: Arc<Mutex<Option<String>>>,
    /// Errors wgpu reports outside an error scope (it would panic on them by default).
    uncaptured: Arc<Mutex<Option<String>>>,
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
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
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
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("llm-xray"),
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
            lost,
            uncaptured,
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

    /// A zero-filled f32 storage buffer of `n` values.
    pub fn storage(&self, what: &str, n: usize) -> Result<wgpu::Buffer> {
        let bytes = (n.max(1) * 4) as u64;
        self.check_size(what, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    pub fn upload(&self, what: &str, data: &[f32]) -> Result<wgpu::Buffer> {
        let one = [0f32];
        let data = if data.is_empty() { &one[..] } else { data };
        self.check_size(what, (data.len() * 4) as u64)?;
        Ok(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(what),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        }))
    }

    pub fn upload_u32(&self, what: &str, data: &[u32]) -> Result<wgpu::Buffer> {
        let one = [0u32];
        let data = if data.is_empty() { &one[..] } else { data };
        self.check_size(what, (data.len() * 4) as u64)?;
        Ok(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(what),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        }))
    }

    pub fn staging(&self, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Maps every staging buffer for reading (all after one submission) and waits for them.
    pub async fn map_all(&self, bufs: &[wgpu::Buffer]) -> Result<()> {
        let state = Arc::new(Mutex::new(MapState { pending: bufs.len(), error: None, waker: None }));
        for b in bufs {
            let s = state.clone();
            b.map_async(wgpu::MapMode::Read, .., move |r| {
                let mut st = s.lock().unwrap();
                st.pending -= 1;
                if let Err(e) = r {
                    st.error.get_or_insert_with(|| e.to_string());
                }
                if let Some(w) = st.waker.take() {
                    w.wake();
                }
            });
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Backend(format!("waiting for the GPU failed: {e}")))?;
        MapWait(state).await
    }
}

struct MapState {
    pending: usize,
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
        if st.pending == 0 {
            return Poll::Ready(Ok(()));
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
