//! The forward pass as kernels, read as the model: embeddings, each transformer block,
//! the final norm and the unembedding, with each part the caller asked for copied into
//! the readback before any later kernel overwrites its buffer (working buffers are reused
//! later in the same layer or by the next). Fills the same parts as the CPU reference.

use super::context::Context;
use super::device_weights::{DeviceWeights, GpuNorm};
use super::ops::{activation, add, attention, embed, head_mask, kv_append, linear, norm, rope, scale, softmax, split_qkv, u};
use super::recorder::{Recorder, Slot};
use crate::config::Config;
use crate::error::Result;
use crate::trace::{self, Part};

/// What one run read back.
pub(super) struct Output {
    /// Each saved (layer, part) with its values, in the order they were recorded.
    pub parts: Vec<(Option<usize>, Part, Vec<f32>)>,
    /// The last token's logits [V].
    pub next_logits: Vec<f32>,
    /// (kernel, milliseconds) per dispatch when profiled.
    pub times: Vec<(&'static str, f64)>,
}

/// One run of `t` tokens at positions start.. being recorded.
pub(super) struct Pass<'a> {
    pub ctx: &'a Context,
    pub cfg: &'a Config,
    pub w: &'a DeviceWeights,
    /// Which parts the caller asked for, and their shapes.
    pub rec: &'a trace::Recorder,
    pub start: usize,
    pub t: usize,
}

impl Pass<'_> {
    /// Records every kernel of the run, submits once and reads back once.
    pub async fn run(&self, ids: &[u32], r: Recorder<'_>) -> Result<Output> {
        let b = Buffers::new(self.ctx, self.cfg, self.t, self.start)?;
        let mut s = State { r, saved: Vec::new(), b: &b };
        let mut x = self.embed(&mut s, ids)?;
        for l in 0..self.cfg.n_layer {
            x = self.layer(&mut s, l, &x);
        }
        let next = self.unembed(&mut s, &x)?;

        let saved = s.saved;
        let mut groups: Vec<&[Slot]> = saved.iter().map(|(_, _, slots)| &slots[..]).collect();
        groups.push(std::slice::from_ref(&next));
        let (mut data, times) = s.r.finish(&groups).await?;
        let next_logits = data.pop().expect("the next-token logits were read back");
        let parts = saved.into_iter().zip(data).map(|((layer, part, _), values)| (layer, part, values)).collect();
        Ok(Output { parts, next_logits, times })
    }

    /// Reads back `buf` as part `p` (of layer `l`) if the caller asked for it; its length
    /// comes from the part's description, so the data comes back in the part's shape.
    fn save(&self, s: &mut State, l: Option<usize>, p: Part, buf: &wgpu::Buffer) {
        if self.rec.wants(p) {
            let len = (p.spec().shape)(&self.rec.dims()).iter().product();
            s.saved.push((l, p, vec![s.r.save(buf, 0, len)]));
        }
    }

    /// The model's norm of the rows of x into y.
    fn norm(&self, s: &mut State, x: &wgpu::Buffer, n: &GpuNorm, y: &wgpu::Buffer) {
        let p = norm::Params { rows: u(self.t), n: u(self.cfg.n_embd), eps: self.cfg.layer_norm_epsilon };
        norm::run(&mut s.r, p, self.cfg.norm, x, &n.g, y, n.b.as_ref());
    }

    /// Token embeddings (scaled, where the model scales them), plus the learned position
    /// table where the model has one: the residual stream entering layer 1.
    fn embed(&self, s: &mut State, ids: &[u32]) -> Result<wgpu::Buffer> {
        let (t, d, b) = (self.t, self.cfg.n_embd, s.b);
        let ids_buf = self.ctx.scratch_u32("token ids", ids)?;
        self.w.wte.gather(&mut s.r, &ids_buf, t, d, None, &b.tok);
        if let Some(factor) = self.cfg.embedding_scale {
            scale::run(&mut s.r, scale::Params { n: u(t * d), s: factor }, &b.tok);
        }
        self.save(s, None, Part::TokEmb, &b.tok);
        let Some(wpe) = &self.w.wpe else {
            return Ok(b.tok.clone());
        };
        wpe.gather(&mut s.r, &ids_buf, t, d, Some(self.start), &b.pos);
        self.save(s, None, Part::PosEmb, &b.pos);
        add::run(&mut s.r, add::Params { n: u(t * d) }, &b.tok, &b.pos, &b.resid[1]);
        Ok(b.resid[1].clone())
    }

    /// One transformer block on the residual stream x; returns the buffer holding its output.
    fn layer(&self, s: &mut State, l: usize, x: &wgpu::Buffer) -> wgpu::Buffer {
        let (cfg, b, lw) = (self.cfg, s.b, &self.w.layers[l]);
        let (t, start) = (self.t, self.start);
        let (d, h, kv, hd, f) = (cfg.n_embd, cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.n_inner);
        let at = Some(l);

        self.norm(s, x, &lw.ln_1, &b.h);
        self.save(s, at, Part::Ln1, &b.h);
        linear::run(&mut s.r, &b.h, t, &lw.qkv, &b.qkv);
        split_qkv::run(&mut s.r, split_qkv::Params { t: u(t), hq: u(h), hkv: u(kv), hd: u(hd) }, &b.qkv, &b.q, &b.k, &b.v);
        self.save(s, at, Part::Q, &b.q);
        self.save(s, at, Part::K, &b.k);
        self.save(s, at, Part::V, &b.v);
        let (q, k) = match (&lw.q_norm, &lw.k_norm) {
            (Some(qn), Some(kn)) => {
                let eps = cfg.layer_norm_epsilon;
                norm::heads(&mut s.r, u(h * t), u(hd), eps, &b.q, qn, &b.q_norm);
                norm::heads(&mut s.r, u(kv * t), u(hd), eps, &b.k, kn, &b.k_norm);
                self.save(s, at, Part::QNorm, &b.q_norm);
                self.save(s, at, Part::KNorm, &b.k_norm);
                (&b.q_norm, &b.k_norm)
            }
            _ => (&b.q, &b.k),
        };
        let (q, k) = match self.w.rope_of(cfg, l) {
            Some(rt) => {
                rope::run(&mut s.r, rope::Params { heads: u(h), t: u(t), hd: u(hd), start: u(start) }, q, &rt.cos, &rt.sin, &b.q_rot);
                rope::run(&mut s.r, rope::Params { heads: u(kv), t: u(t), hd: u(hd), start: u(start) }, k, &rt.cos, &rt.sin, &b.k_rot);
                self.save(s, at, Part::QRot, &b.q_rot);
                self.save(s, at, Part::KRot, &b.k_rot);
                (&b.q_rot, &b.k_rot)
            }
            None => (q, k),
        };
        let rows = kv_append::Params { heads: u(kv), t: u(t), hd: u(hd), start: u(start) };
        kv_append::run(&mut s.r, rows, k, &lw.k_cache);
        kv_append::run(&mut s.r, rows, &b.v, &lw.v_cache);
        let shape = attention::Shape { h, kv, hd, t, start, scale: cfg.attention_scale(), window: cfg.layer_window(l) };
        attention::run(&mut s.r, shape, attention::Buffers { q, k_cache: &lw.k_cache, v_cache: &lw.v_cache, scores: &b.scores, probs: &b.probs, z: &b.z });
        self.save(s, at, Part::AttnScores, &b.scores);
        self.save(s, at, Part::AttnProbs, &b.probs);
        if let Some((keep, repl)) = &lw.mask {
            head_mask::run(&mut s.r, head_mask::Params { t: u(t), h: u(h), hd: u(hd) }, keep, repl, &b.z);
        }
        self.save(s, at, Part::HeadOutputs, &b.z);
        linear::run(&mut s.r, &b.z, t, &lw.o, &b.attn_out);
        self.save(s, at, Part::AttnOut, &b.attn_out);
        let added = self.post_norm(s, l, &b.attn_out, lw.post_attn_norm.as_ref(), Part::PostAttnNorm);
        add::run(&mut s.r, add::Params { n: u(t * d) }, x, added, &b.mid);
        self.save(s, at, Part::ResidMid, &b.mid);

        self.norm(s, &b.mid, &lw.ln_2, &b.h);
        self.save(s, at, Part::Ln2, &b.h);
        let act = activation::Params { n: u(t * f), kind: activation::kind(cfg.activation) };
        linear::run(&mut s.r, &b.h, t, &lw.up, &b.up);
        match &lw.gate {
            None => {
                self.save(s, at, Part::MlpPre, &b.up);
                activation::run(&mut s.r, act, &b.up, &b.act);
            }
            Some(gate) => {
                linear::run(&mut s.r, &b.h, t, gate, &b.gate);
                self.save(s, at, Part::MlpGate, &b.gate);
                self.save(s, at, Part::MlpUp, &b.up);
                activation::gated(&mut s.r, act, &b.gate, &b.act, &b.up);
            }
        }
        self.save(s, at, Part::MlpPost, &b.act);
        linear::run(&mut s.r, &b.act, t, &lw.down, &b.mlp_out);
        self.save(s, at, Part::MlpOut, &b.mlp_out);
        let added = self.post_norm(s, l, &b.mlp_out, lw.post_mlp_norm.as_ref(), Part::PostMlpNorm);
        // Blocks alternate between the two residual buffers; the embedding output is in
        // resid[1] or its own buffer, so block l never writes its own input.
        let out = &b.resid[l % 2];
        add::run(&mut s.r, add::Params { n: u(t * d) }, &b.mid, added, out);
        self.save(s, at, Part::ResidPost, out);
        out.clone()
    }

    /// What a branch (attention or MLP) of layer `l` adds to the residual stream: its output
    /// `out`, or, where the model norms it first (Gemma's post-norms), that norm of it,
    /// recorded as `part`.
    fn post_norm<'b>(&self, s: &mut State<'_, 'b>, l: usize, out: &'b wgpu::Buffer, n: Option<&GpuNorm>, part: Part) -> &'b wgpu::Buffer {
        let Some(n) = n else { return out };
        let b: &'b Buffers = s.b;
        let post = &b.post;
        self.norm(s, out, n, post);
        self.save(s, Some(l), part, post);
        post
    }

    /// Final norm and logits = ln_f · Uᵀ, one dispatch per vocabulary chunk of U, in row
    /// blocks small enough that [rows, V] fits one binding, for the rows whose logits or
    /// probabilities are kept ([`trace::Recorder::rows`]) and the last row, whose logits
    /// generation needs (the only row without a request for either): with a large
    /// vocabulary the unembedding is the largest matmul of a run. Kept rows that are not
    /// consecutive are gathered first. Returns where the next-token logits are read back.
    fn unembed(&self, s: &mut State, x: &wgpu::Buffer) -> Result<Slot> {
        let (cfg, w, t, b) = (self.cfg, self.w, self.t, s.b);
        let (d, v) = (cfg.n_embd, cfg.vocab_size);
        self.norm(s, x, &w.ln_f, &b.h);
        self.save(s, None, Part::LnF, &b.h);
        let u_table = w.lm_head.as_ref().unwrap_or(&w.wte);
        let (want_logits, want_probs) = (self.rec.wants(Part::Logits), self.rec.wants(Part::Probs));
        let kept = if want_logits || want_probs { self.rec.rows() } else { Vec::new() };
        let mut rows = kept.clone();
        if rows.last() != Some(&(t - 1)) {
            rows.push(t - 1);
        }
        let (src, first) = if rows.iter().enumerate().all(|(i, &r)| r == rows[0] + i) {
            (b.h.clone(), rows[0])
        } else {
            let ids: Vec<u32> = rows.iter().map(|&r| u(r)).collect();
            let ids = self.ctx.scratch_u32("kept rows", &ids)?;
            let out = self.ctx.scratch("kept rows of the final norm [rows, d]", rows.len() * d)?;
            embed::run(&mut s.r, embed::Params { rows: u(rows.len()), d: u(d), row0: 0, nrows: u(t), pos_start: 0, use_ids: 1 }, &ids, &b.h, &out);
            (out, 0)
        };
        let n = rows.len();
        let block = ((w.table_bytes / (v as u64 * 4)) as usize).clamp(1, n);
        let logits = self.ctx.scratch("logits [rows, V]", block * v)?;
        let probs = if want_probs { Some(self.ctx.scratch("probabilities [rows, V]", block * v)?) } else { None };
        let (mut logit_blocks, mut prob_blocks, mut next) = (Vec::new(), Vec::new(), None);
        for b0 in (0..n).step_by(block) {
            let br = block.min(n - b0);
            u_table.times_rows(&mut s.r, &src, br, first + b0, d, v, &logits);
            // The rows of this block that are kept (the last row may be there only for
            // generation).
            let keep = kept.len().saturating_sub(b0).min(br);
            if want_logits && keep > 0 {
                logit_blocks.push(s.r.save(&logits, 0, keep * v));
            }
            if b0 + br == n {
                next = Some(s.r.save(&logits, (br - 1) * v, v));
            }
            if let (Some(p), true) = (&probs, keep > 0) {
                softmax::run(&mut s.r, softmax::Params { rows: u(keep), n: u(v), causal: 0, start: 0, t: u(keep), window: 0 }, &logits, p);
                prob_blocks.push(s.r.save(p, 0, keep * v));
            }
        }
        if want_logits {
            s.saved.push((None, Part::Logits, logit_blocks));
        }
        if want_probs {
            s.saved.push((None, Part::Probs, prob_blocks));
        }
        Ok(next.expect("the last block holds the last row"))
    }
}

/// What a pass accumulates while recording.
struct State<'r, 'b> {
    r: Recorder<'r>,
    /// The readbacks: each saved (layer, part) once, with where its values land, in order
    /// (logits and probabilities come in row blocks).
    saved: Vec<(Option<usize>, Part, Vec<Slot>)>,
    b: &'b Buffers,
}

/// One run's working buffers, pooled by role in the context.
struct Buffers {
    tok: wgpu::Buffer,
    pos: wgpu::Buffer,
    /// Two residual-stream buffers: each block reads one and writes the other.
    resid: [wgpu::Buffer; 2],
    h: wgpu::Buffer,
    qkv: wgpu::Buffer,
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    q_norm: wgpu::Buffer,
    k_norm: wgpu::Buffer,
    q_rot: wgpu::Buffer,
    k_rot: wgpu::Buffer,
    scores: wgpu::Buffer,
    probs: wgpu::Buffer,
    z: wgpu::Buffer,
    attn_out: wgpu::Buffer,
    /// A branch's output after its post-norm (Gemma), attention's then the MLP's.
    post: wgpu::Buffer,
    mid: wgpu::Buffer,
    up: wgpu::Buffer,
    gate: wgpu::Buffer,
    act: wgpu::Buffer,
    mlp_out: wgpu::Buffer,
}

impl Buffers {
    fn new(ctx: &Context, cfg: &Config, t: usize, start: usize) -> Result<Buffers> {
        let (d, f, qw, kvw, tk) = (cfg.n_embd, cfg.n_inner, cfg.q_width(), cfg.kv_width(), start + t);
        let s = |role: &'static str, n: usize| ctx.scratch(role, n);
        Ok(Buffers {
            tok: s("token embeddings [T, d]", t * d)?,
            pos: s("position embeddings [T, d]", t * d)?,
            resid: [s("residual stream A [T, d]", t * d)?, s("residual stream B [T, d]", t * d)?],
            h: s("norm output [T, d]", t * d)?,
            qkv: s("q|k|v projection [T, qkv]", t * cfg.qkv_width())?,
            q: s("q [H, T, hd]", t * qw)?,
            k: s("k [Hkv, T, hd]", t * kvw)?,
            v: s("v [Hkv, T, hd]", t * kvw)?,
            q_norm: s("q after QK-norm [H, T, hd]", if cfg.qk_norm { t * qw } else { 1 })?,
            k_norm: s("k after QK-norm [Hkv, T, hd]", if cfg.qk_norm { t * kvw } else { 1 })?,
            q_rot: s("rotated q [H, T, hd]", if cfg.rope_theta.is_some() { t * qw } else { 1 })?,
            k_rot: s("rotated k [Hkv, T, hd]", if cfg.rope_theta.is_some() { t * kvw } else { 1 })?,
            scores: s("attention scores [H, T, Tk]", cfg.n_head * t * tk)?,
            probs: s("attention probabilities [H, T, Tk]", cfg.n_head * t * tk)?,
            z: s("head outputs [T, H·hd]", t * qw)?,
            attn_out: s("attention output [T, d]", t * d)?,
            post: s("branch output after its post-norm [T, d]", if cfg.post_norms { t * d } else { 1 })?,
            mid: s("residual after attention [T, d]", t * d)?,
            up: s("MLP up [T, F]", t * f)?,
            gate: s("MLP gate [T, F]", if cfg.gated_mlp { t * f } else { 1 })?,
            act: s("MLP activation [T, F]", t * f)?,
            mlp_out: s("MLP output [T, d]", t * d)?,
        })
    }
}
