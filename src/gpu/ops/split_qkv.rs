//! Splits the fused q|k|v projection into per-head tensors (split_qkv.wgsl).

use crate::gpu::recorder::{grid, Kernel, Recorder};

params!(
    /// `t` tokens, `hq` query heads and `hkv` key/value heads of width `hd`.
    t: u32,
    hq: u32,
    hkv: u32,
    hd: u32,
);

pub(crate) static SPLIT_QKV: Kernel = Kernel {
    name: "split_qkv",
    file: "split_qkv.wgsl",
    source: include_str!("split_qkv.wgsl"),
    entry: "main",
    params: Params::FIELDS,
    bindings: &["qkv", "q", "k", "v"],
};

/// qkv [t, (hq + 2·hkv)·hd] into q [hq, t, hd], k and v [hkv, t, hd].
pub(crate) fn run(r: &mut Recorder, p: Params, qkv: &wgpu::Buffer, q: &wgpu::Buffer, k: &wgpu::Buffer, v: &wgpu::Buffer) {
    let (t, hq, hkv, hd) = (p.t as usize, p.hq as usize, p.hkv as usize, p.hd as usize);
    let n = t * (hq + 2 * hkv) * hd;
    r.dispatch(&SPLIT_QKV, &p, &[(qkv, n), (q, t * hq * hd), (k, t * hkv * hd), (v, t * hkv * hd)], grid(n));
}
