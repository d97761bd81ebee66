//! The model's weights on the device, uploaded once: embedding tables in row chunks that
//! each fit one storage binding, every layer's linear layers and norms, the KV cache, the
//! ablation masks and the RoPE tables (one per RoPE base: Gemma's sliding-window layers have
//! their own).

use super::context::Context;
use super::ops::linear::{GpuBlocks, GpuLinear, GpuWeight};
use super::ops::{embed, matmul, qembed, qmatmul, u};
use super::recorder::Recorder;
use crate::config::Config;
use crate::cpu;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::weights::{Linear, Matrix, NormWeights};

/// One chunk of a table's rows: rows row0..row0 + rows in `buf` (`words` u32 words).
pub(crate) struct Chunk {
    pub row0: usize,
    pub rows: usize,
    pub buf: wgpu::Buffer,
    pub words: usize,
}

/// A table [rows, cols] (an embedding, the unembedding) uploaded as row chunks, each
/// within one storage binding, as f32 or in its ggml blocks.
pub(crate) struct Table {
    pub chunks: Vec<Chunk>,
    /// Blocks: (ggml type id, bytes per row); None: f32.
    pub blocks: Option<(u32, usize)>,
}

impl Table {
    pub fn upload(ctx: &Context, name: &str, m: &Matrix, max_bytes: u64) -> Result<Table> {
        let (rows, cols) = (m.rows(), m.cols());
        let (bytes, row_bytes, blocks) = match m {
            Matrix::F32(a) => (bytemuck::cast_slice(a.as_slice().expect("weights are contiguous")), 4 * cols, None),
            Matrix::Blocks(parts) => {
                // Tables are single tensors; only fused projections stack parts.
                let [p] = &parts[..] else { unreachable!("a table of {} stacked parts", parts.len()) };
                (p.data(), p.row_bytes(), Some((p.ty.id(), p.row_bytes())))
            }
        };
        let per = ((max_bytes / row_bytes.max(1) as u64) as usize).max(1);
        let mut chunks = Vec::new();
        let mut r0 = 0;
        while r0 < rows {
            let n = per.min(rows - r0);
            let data = &bytes[r0 * row_bytes..(r0 + n) * row_bytes];
            let buf = ctx.upload_bytes(&format!("{name} rows {r0}..{}", r0 + n), data)?;
            chunks.push(Chunk { row0: r0, rows: n, buf, words: data.len().div_ceil(4) });
            r0 += n;
        }
        Ok(Table { chunks, blocks })
    }

    /// Rows picked by token id (`pos_start` None) or by position pos_start.. into out
    /// [t, d]: one dispatch per chunk, each writing the rows that fall in its chunk.
    pub fn gather(&self, r: &mut Recorder, ids: &wgpu::Buffer, t: usize, d: usize, pos_start: Option<usize>, out: &wgpu::Buffer) {
        let (pos, use_ids) = (u(pos_start.unwrap_or(0)), pos_start.is_none() as u32);
        for c in &self.chunks {
            match self.blocks {
                None => embed::run(r, embed::Params { rows: u(t), d: u(d), row0: u(c.row0), nrows: u(c.rows), pos_start: pos, use_ids }, ids, &c.buf, out),
                Some((ty, row_bytes)) => {
                    let p = qembed::Params { rows: u(t), d: u(d), row0: u(c.row0), nrows: u(c.rows), pos_start: pos, use_ids, ty, row_bytes: u(row_bytes) };
                    qembed::run(r, p, ids, &c.buf, c.words, out)
                }
            }
        }
    }

    /// x [rows, d] from row `a_row` times the table's rows, into out [rows, ldc] (each
    /// chunk of rows writes its own columns): logits from the unembedding.
    #[allow(clippy::too_many_arguments)]
    pub fn times_rows(&self, r: &mut Recorder, x: &wgpu::Buffer, rows: usize, a_row: usize, d: usize, ldc: usize, out: &wgpu::Buffer) {
        for c in &self.chunks {
            let (m, n, k, ldc, c_off, a_off) = (u(rows), u(c.rows), u(d), u(ldc), u(c.row0), u(a_row * d));
            match self.blocks {
                None => matmul::run(r, matmul::Params { m, n, k, ldc, c_off, a_off, trans_b: 1 }, x, &c.buf, out),
                Some((ty, row_bytes)) => {
                    let p = qmatmul::Params { m, n, k, ldc, c_off, a_off, ty, row_bytes: u(row_bytes), perm_hd: 0 };
                    qmatmul::run(r, p, x, &c.buf, c.words, out)
                }
            }
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
    /// QK-norm gains [hd] of the query and key heads (Gemma 3).
    pub q_norm: Option<wgpu::Buffer>,
    pub k_norm: Option<wgpu::Buffer>,
    pub o: GpuLinear,
    /// The norm of the attention's output before the residual add (Gemma).
    pub post_attn_norm: Option<GpuNorm>,
    pub ln_2: GpuNorm,
    pub up: GpuLinear,
    pub gate: Option<GpuLinear>,
    pub down: GpuLinear,
    /// The norm of the MLP's output before the residual add (Gemma).
    pub post_mlp_norm: Option<GpuNorm>,
    /// [n_positions, kv_width].
    pub k_cache: wgpu::Buffer,
    pub v_cache: wgpu::Buffer,
    /// Ablated heads: keep-mask [H] and replacements [H·hd].
    pub mask: Option<(wgpu::Buffer, wgpu::Buffer)>,
}

/// cos and sin of RoPE's angles for one base θ.
pub(crate) struct RopeTable {
    pub theta: f32,
    pub cos: wgpu::Buffer,
    pub sin: wgpu::Buffer,
}

pub(crate) struct DeviceWeights {
    pub wte: Table,
    pub wpe: Option<Table>,
    /// None: tied, the unembedding is `wte`.
    pub lm_head: Option<Table>,
    pub layers: Vec<GpuLayer>,
    pub ln_f: GpuNorm,
    /// Per RoPE base θ, cos and sin of every position's angles [n_positions, hd/2]; empty
    /// without RoPE.
    pub rope: Vec<RopeTable>,
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

/// A linear layer's weights and bias on the device: f32 as they are, blocks as u32 words.
pub(crate) fn upload_linear(ctx: &Context, name: &str, l: &Linear) -> Result<GpuLinear> {
    let b = l.b.as_ref().map(|b| ctx.upload(&format!("{name}.bias"), b.as_slice().expect("weights are contiguous"))).transpose()?;
    let w = match &l.w {
        Matrix::F32(w) => GpuWeight::F32(ctx.upload(&format!("{name}.weight"), w.as_slice().expect("weights are contiguous"))?),
        Matrix::Blocks(parts) => GpuWeight::Blocks(
            parts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    Ok(GpuBlocks {
                        buf: ctx.upload_bytes(&format!("{name}.weight part {i} ({})", p.ty), p.data())?,
                        words: p.data().len().div_ceil(4),
                        ty: p.ty.id(),
                        rows: p.rows,
                        row_bytes: p.row_bytes(),
                        perm_hd: p.permuted.map_or(0, u),
                    })
                })
                .collect::<Result<_>>()?,
        ),
    };
    Ok(GpuLinear { w, b, k: l.n_in(), n: l.n_out() })
}

impl DeviceWeights {
    /// Uploads every weight, allocates the KV cache; running out of device memory is an
    /// error naming the adapter.
    pub async fn upload(ctx: &Context, model: &Model, table_bytes: u64) -> Result<DeviceWeights> {
        let (cfg, w) = (&model.config, &model.weights);
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        fn flat<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> &[f32] {
            a.as_slice().expect("weights are contiguous")
        }
        let linear = |name: String, l: &Linear| upload_linear(ctx, &name, l);
        let norm = |name: String, n: &NormWeights| -> Result<GpuNorm> {
            let b = n.b.as_ref().map(|b| ctx.upload(&format!("{name}.bias"), flat(b))).transpose()?;
            Ok(GpuNorm { g: ctx.upload(&format!("{name}.weight"), flat(&n.g))?, b })
        };
        let wte = Table::upload(ctx, "token embedding", &w.wte, table_bytes)?;
        let wpe = w.wpe.as_ref().map(|p| Table::upload(ctx, "position embedding", p, table_bytes)).transpose()?;
        let lm_head = w.lm_head.as_ref().map(|h| Table::upload(ctx, "unembedding", h, table_bytes)).transpose()?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for (i, lw) in w.layers.iter().enumerate() {
            let n = |s: &str| format!("layer {i} {s}");
            layers.push(GpuLayer {
                ln_1: norm(n("ln_1"), &lw.ln_1)?,
                qkv: linear(n("q|k|v"), &lw.qkv)?,
                q_norm: lw.q_norm.as_ref().map(|g| ctx.upload(&n("QK-norm of queries.weight"), flat(g))).transpose()?,
                k_norm: lw.k_norm.as_ref().map(|g| ctx.upload(&n("QK-norm of keys.weight"), flat(g))).transpose()?,
                o: linear(n("attention output"), &lw.o)?,
                post_attn_norm: lw.post_attn_norm.as_ref().map(|pn| norm(n("post-attention norm"), pn)).transpose()?,
                ln_2: norm(n("ln_2"), &lw.ln_2)?,
                up: linear(n("MLP up"), &lw.up)?,
                gate: lw.gate.as_ref().map(|g| linear(n("MLP gate"), g)).transpose()?,
                down: linear(n("MLP down"), &lw.down)?,
                post_mlp_norm: lw.post_mlp_norm.as_ref().map(|pn| norm(n("post-MLP norm"), pn)).transpose()?,
                k_cache: ctx.storage(&n("key cache"), cfg.n_positions * cfg.kv_width())?,
                v_cache: ctx.storage(&n("value cache"), cfg.n_positions * cfg.kv_width())?,
                mask: None,
            });
        }
        let ln_f = norm("final norm".into(), &w.ln_f)?;
        let mut rope: Vec<RopeTable> = Vec::new();
        for l in 0..cfg.n_layer {
            if let Some(theta) = cfg.layer_rope_theta(l).filter(|th| !rope.iter().any(|r| r.theta == *th)) {
                let (s, c): (Vec<f32>, Vec<f32>) = cpu::ops::rope_angles(0, cfg.n_positions, &cfg.layer_rope_inv_freq(l)).into_iter().unzip();
                rope.push(RopeTable {
                    theta,
                    cos: ctx.upload(&format!("RoPE cos (base {theta})"), &c)?,
                    sin: ctx.upload(&format!("RoPE sin (base {theta})"), &s)?,
                });
            }
        }
        if let Some(e) = scope.pop().await {
            return Err(Error::Backend(format!("the GPU \"{}\" ran out of memory uploading the weights: {e}", ctx.summary.name)));
        }
        Ok(DeviceWeights { wte, wpe, lm_head, layers, ln_f, rope, table_bytes })
    }

    /// The RoPE table of layer `l` (0-based); None for a model without RoPE.
    pub fn rope_of(&self, cfg: &Config, l: usize) -> Option<&RopeTable> {
        let theta = cfg.layer_rope_theta(l)?;
        Some(self.rope.iter().find(|r| r.theta == theta).expect("a RoPE table was uploaded for every layer's base"))
    }
}
