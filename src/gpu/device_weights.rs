//! The model's weights on the device, uploaded once: embedding tables in row chunks that
//! each fit one storage binding, every layer's linear layers and norms, the KV cache, the
//! ablation masks and the RoPE tables.

use super::context::Context;
use super::ops::linear::GpuLinear;
use super::ops::{embed, u};
use super::recorder::Recorder;
use crate::config::Config;
use crate::cpu;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::weights::{Linear, NormWeights};

/// A tensor [rows, cols] uploaded as row chunks, each within one storage binding:
/// (first row, rows, buffer).
pub(crate) struct Table {
    pub chunks: Vec<(usize, usize, wgpu::Buffer)>,
}

impl Table {
    pub fn upload(ctx: &Context, name: &str, data: &[f32], cols: usize, max_bytes: u64) -> Result<Table> {
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

    /// Rows picked by token id (`pos_start` None) or by position pos_start.. into out
    /// [t, d]: one dispatch per chunk, each writing the rows that fall in its chunk.
    pub fn gather(&self, r: &mut Recorder, ids: &wgpu::Buffer, t: usize, d: usize, pos_start: Option<usize>, out: &wgpu::Buffer) {
        for (row0, n, chunk) in &self.chunks {
            let p =
                embed::Params { rows: u(t), d: u(d), row0: u(*row0), nrows: u(*n), pos_start: u(pos_start.unwrap_or(0)), use_ids: pos_start.is_none() as u32 };
            embed::run(r, p, ids, chunk, out);
        }
    }
}

/// A norm's gain, and its bias for LayerNorm.
pub(crate) struct GpuNorm {
    pub g: wgpu::Buffer,
    pub b: Option<wgpu::Buffer>,
}

pub(crate) struct GpuLayer {
    pub ln_1: GpuNorm,
    pub qkv: GpuLinear,
    pub o: GpuLinear,
    pub ln_2: GpuNorm,
    pub up: GpuLinear,
    pub gate: Option<GpuLinear>,
    pub down: GpuLinear,
    /// [n_positions, kv_width].
    pub k_cache: wgpu::Buffer,
    pub v_cache: wgpu::Buffer,
    /// Ablated heads: keep-mask [H] and replacements [H·hd].
    pub mask: Option<(wgpu::Buffer, wgpu::Buffer)>,
}

pub(crate) struct DeviceWeights {
    pub wte: Table,
    pub wpe: Option<Table>,
    /// None: tied, the unembedding is `wte`.
    pub lm_head: Option<Table>,
    pub layers: Vec<GpuLayer>,
    pub ln_f: GpuNorm,
    /// cos and sin of every position's RoPE angles [n_positions, hd/2].
    pub rope: Option<(wgpu::Buffer, wgpu::Buffer)>,
    /// The most bytes one table chunk or one row block of logits may take: the binding
    /// limit, or less where a test asks (`GpuOptions`).
    pub table_bytes: u64,
}

/// The largest single buffer this model would like: the biggest weight, or the attention
/// scores / logits of a full context.
pub(crate) fn wanted_binding(c: &Config) -> u64 {
    let (v, d, p, f, h) = (c.vocab_size as u64, c.n_embd as u64, c.n_positions as u64, c.n_inner as u64, c.n_head as u64);
    4 * [v * d, p * d, d * c.qkv_width() as u64, d * f, h * p * p, p * v, p * f].into_iter().max().unwrap_or(0)
}

impl DeviceWeights {
    /// Uploads every weight, allocates the KV cache; running out of device memory is an
    /// error naming the adapter.
    pub async fn upload(ctx: &Context, model: &Model, table_bytes: u64) -> Result<DeviceWeights> {
        let (cfg, w) = (&model.config, &model.weights);
        let d = cfg.n_embd;
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
        let wte = Table::upload(ctx, "token embedding", flat(&w.wte), d, table_bytes)?;
        let wpe = w.wpe.as_ref().map(|p| Table::upload(ctx, "position embedding", flat(p), d, table_bytes)).transpose()?;
        let lm_head = w.lm_head.as_ref().map(|h| Table::upload(ctx, "unembedding", flat(h), d, table_bytes)).transpose()?;
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
        Ok(DeviceWeights { wte, wpe, lm_head, layers, ln_f, rope, table_bytes })
    }
}
