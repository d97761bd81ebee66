//! GPU backend: wgpu + WGSL (being written).
