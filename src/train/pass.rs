//! One training pass of a GPT-2 over a batch of B sequences of T tokens: the forward pass,
//! keeping every activation the backward pass needs, the mean cross-entropy, and the
//! backward pass into a flat gradient buffer ([`super::params::Layout`]). Every op is a
//! kernel of [`crate::cpu::fast`] (the blocked SGEMM for every product); the activations
//! live in buffers allocated once for (B, T) and reused by every step.
//!
//! Rows are the B·T tokens of the batch, sequence after sequence, so every op but attention
//! treats the batch as one matrix; attention runs per sequence.

use super::params::Layout;
use crate::cpu::fast::activate_into;
use crate::cpu::fast::backward::{
    activation_backward, attention_backward, attention_forward, layer_norm_backward, layer_norm_forward, linear_backward, matmul_into, unembed_cross_entropy,
    AttentionScratch,
};
use ndarray::{s, ArrayView2, ArrayViewMut2};

/// A layer norm's output with the mean and 1/σ of each row.
struct Normed {
    y: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
}

impl Normed {
    fn new(n: usize, d: usize) -> Normed {
        Normed { y: vec![0.0; n * d], mean: vec![0.0; n], rstd: vec![0.0; n] }
    }
}

/// What one block keeps for the backward pass.
struct Block {
    ln1: Normed,
    /// q | k | v, [N, 3d].
    qkv: Vec<f32>,
    /// Attention probabilities, [B, H, T, T].
    probs: Vec<f32>,
    /// The heads' outputs side by side, [N, d]: the input of the output projection.
    heads: Vec<f32>,
    /// The residual stream after attention, [N, d].
    mid: Vec<f32>,
    ln2: Normed,
    /// The MLP before and after its nonlinearity, [N, f].
    fc: Vec<f32>,
    act: Vec<f32>,
}

/// Gradients of activations, one of each shape, reused layer after layer.
struct Grads {
    /// The residual stream's gradient, [N, d].
    resid: Vec<f32>,
    /// A norm's output gradient, [N, d].
    normed: Vec<f32>,
    qkv: Vec<f32>,
    heads: Vec<f32>,
    fc: Vec<f32>,
    act: Vec<f32>,
    /// The unembedding's gradient transposed, [d, V].
    unembed_t: Vec<f32>,
    attention: AttentionScratch,
}

pub struct Pass {
    b: usize,
    t: usize,
    /// The residual stream entering each block, and after the last: L + 1 of [N, d].
    resid: Vec<Vec<f32>>,
    blocks: Vec<Block>,
    lnf: Normed,
    /// One block of logits (see `unembed_cross_entropy`).
    logits: Vec<f32>,
    inputs: Vec<u32>,
    targets: Vec<u32>,
    grads: Grads,
    /// Whether `grads.normed` and `grads.unembed_t` hold the gradients of the unembedding
    /// for the last forward pass.
    ready: bool,
}

fn view(buf: &[f32], rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, cols), buf).expect("buffer shape")
}

fn view_mut(buf: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols), buf).expect("buffer shape")
}

impl Pass {
    /// Buffers for batches of `b` sequences of `t` tokens of a model of `layout`.
    pub fn new(layout: &Layout, b: usize, t: usize) -> Pass {
        let c = &layout.config;
        let (n, d, f, v, h) = (b * t, c.n_embd, c.n_inner, c.vocab_size, c.n_head);
        let blocks = (0..c.n_layer)
            .map(|_| Block {
                ln1: Normed::new(n, d),
                qkv: vec![0.0; n * 3 * d],
                probs: vec![0.0; b * h * t * t],
                heads: vec![0.0; n * d],
                mid: vec![0.0; n * d],
                ln2: Normed::new(n, d),
                fc: vec![0.0; n * f],
                act: vec![0.0; n * f],
            })
            .collect();
        let grads = Grads {
            resid: vec![0.0; n * d],
            normed: vec![0.0; n * d],
            qkv: vec![0.0; n * 3 * d],
            heads: vec![0.0; n * d],
            fc: vec![0.0; n * f],
            act: vec![0.0; n * f],
            unembed_t: vec![0.0; d * v],
            attention: AttentionScratch::new(t),
        };
        Pass {
            b,
            t,
            resid: (0..=c.n_layer).map(|_| vec![0.0; n * d]).collect(),
            blocks,
            lnf: Normed::new(n, d),
            logits: Vec::new(),
            inputs: Vec::new(),
            targets: Vec::new(),
            grads,
            ready: false,
        }
    }

    /// (sequences, tokens per sequence) this pass was made for.
    pub fn size(&self) -> (usize, usize) {
        (self.b, self.t)
    }

    /// The forward pass over `inputs` (B·T ids, sequence after sequence, each id below the
    /// vocabulary size: the caller checks). With `targets`, returns the mean cross-entropy
    /// and leaves its gradient for [`Pass::backward`]; without, stops before the
    /// unembedding (the head census needs attention only).
    pub fn forward(&mut self, layout: &Layout, params: &[f32], inputs: &[u32], targets: Option<&[u32]>) -> Option<f64> {
        self.run(layout, params, inputs, targets, true)
    }

    /// As [`Pass::forward`] without preparing a backward pass (a held-out loss).
    pub fn evaluate(&mut self, layout: &Layout, params: &[f32], inputs: &[u32], targets: &[u32]) -> f64 {
        self.run(layout, params, inputs, Some(targets), false).expect("targets were given")
    }

    fn run(&mut self, layout: &Layout, params: &[f32], inputs: &[u32], targets: Option<&[u32]>, train: bool) -> Option<f64> {
        let c = &layout.config;
        let (b, t) = (self.b, self.t);
        let (n, d, f, v, h) = (b * t, c.n_embd, c.n_inner, c.vocab_size, c.n_head);
        assert_eq!(inputs.len(), n, "the pass was made for {b} sequences of {t} tokens");
        self.inputs.clear();
        self.inputs.extend_from_slice(inputs);
        let (wte, wpe) = (layout.get(params, layout.wte), layout.get(params, layout.wpe));
        for (i, (row, &id)) in self.resid[0].chunks_mut(d).zip(inputs).enumerate() {
            let (tok, pos) = (&wte[id as usize * d..][..d], &wpe[(i % t) * d..][..d]);
            for ((r, a), p) in row.iter_mut().zip(tok).zip(pos) {
                *r = a + p;
            }
        }
        let eps = c.layer_norm_epsilon;
        for (l, (s, blk)) in layout.layers.iter().zip(&mut self.blocks).enumerate() {
            let (before, after) = self.resid.split_at_mut(l + 1);
            let x = &before[l];
            layer_norm_forward(
                view(x, n, d),
                layout.get(params, s.ln1_g),
                layout.get(params, s.ln1_b),
                eps,
                view_mut(&mut blk.ln1.y, n, d),
                &mut blk.ln1.mean,
                &mut blk.ln1.rstd,
            );
            matmul_into(view(&blk.ln1.y, n, d), layout.mat(params, s.qkv_w), Some(layout.get(params, s.qkv_b)), view_mut(&mut blk.qkv, n, 3 * d));
            for seq in 0..b {
                let qkv = view(&blk.qkv[seq * t * 3 * d..(seq + 1) * t * 3 * d], t, 3 * d);
                let (q, k, vv) = (qkv.slice(s![.., ..d]), qkv.slice(s![.., d..2 * d]), qkv.slice(s![.., 2 * d..]));
                let out = view_mut(&mut blk.heads[seq * t * d..(seq + 1) * t * d], t, d);
                attention_forward(q, k, vv, h, out, &mut blk.probs[seq * h * t * t..(seq + 1) * h * t * t]);
            }
            // mid = x + heads·W_o + b_o
            matmul_into(view(&blk.heads, n, d), layout.mat(params, s.o_w), Some(layout.get(params, s.o_b)), view_mut(&mut blk.mid, n, d));
            add_assign(&mut blk.mid, x);
            layer_norm_forward(
                view(&blk.mid, n, d),
                layout.get(params, s.ln2_g),
                layout.get(params, s.ln2_b),
                eps,
                view_mut(&mut blk.ln2.y, n, d),
                &mut blk.ln2.mean,
                &mut blk.ln2.rstd,
            );
            matmul_into(view(&blk.ln2.y, n, d), layout.mat(params, s.fc_w), Some(layout.get(params, s.fc_b)), view_mut(&mut blk.fc, n, f));
            activate_into(c.activation, &blk.fc, &mut blk.act);
            let out = &mut after[0];
            matmul_into(view(&blk.act, n, f), layout.mat(params, s.proj_w), Some(layout.get(params, s.proj_b)), view_mut(out, n, d));
            add_assign(out, &blk.mid);
        }
        self.ready = false;
        let targets = targets?;
        assert_eq!(targets.len(), n, "one target per input");
        self.targets.clear();
        self.targets.extend_from_slice(targets);
        let last = &self.resid[c.n_layer];
        layer_norm_forward(
            view(last, n, d),
            layout.get(params, layout.lnf_g),
            layout.get(params, layout.lnf_b),
            eps,
            view_mut(&mut self.lnf.y, n, d),
            &mut self.lnf.mean,
            &mut self.lnf.rstd,
        );
        // The unembedding's backward runs with its forward, block by block; `backward` picks
        // up its gradients.
        let g = &mut self.grads;
        g.unembed_t.fill(0.0);
        let grads = train.then(|| (view_mut(&mut g.normed, n, d), view_mut(&mut g.unembed_t, d, v)));
        let loss = unembed_cross_entropy(view(&self.lnf.y, n, d), layout.mat(params, layout.unembedding()), targets, grads, &mut self.logits);
        self.ready = train;
        Some(loss)
    }

    /// The attention probabilities of block `layer` (from 0) of the last forward pass:
    /// [B, H, T, T].
    pub fn probs(&self, layer: usize) -> &[f32] {
        &self.blocks[layer].probs
    }

    /// The gradient of the last forward pass's loss with respect to every learned
    /// parameter, added to `grads` (a buffer of the layout, zeroed by the caller).
    pub fn backward(&mut self, layout: &Layout, params: &[f32], grads: &mut [f32]) {
        assert!(self.ready, "backward needs a forward pass with targets first");
        let c = &layout.config;
        let (b, t) = (self.b, self.t);
        let (n, d, f, v, h) = (b * t, c.n_embd, c.n_inner, c.vocab_size, c.n_head);
        let g = &mut self.grads;
        {
            let mut du = layout.mat_mut(grads, layout.unembedding());
            du += &view(&g.unembed_t, d, v).t();
        }
        g.resid.fill(0.0);
        let (dg, db) = two_mut(layout, grads, layout.lnf_g, layout.lnf_b);
        layer_norm_backward(
            view(&self.resid[c.n_layer], n, d),
            layout.get(params, layout.lnf_g),
            &self.lnf.mean,
            &self.lnf.rstd,
            view(&g.normed, n, d),
            view_mut(&mut g.resid, n, d),
            dg,
            db,
        );

        for (l, (s, blk)) in layout.layers.iter().zip(&self.blocks).enumerate().rev() {
            // MLP output projection; its output joined the stream, so dy is the stream's gradient.
            let (dw, db) = two_mut(layout, grads, s.proj_w, s.proj_b);
            linear_backward(
                view(&blk.act, n, f),
                layout.mat(params, s.proj_w),
                view(&g.resid, n, d),
                Some(view_mut(&mut g.act, n, f)),
                view_mut(dw, f, d),
                Some(db),
            );
            activation_backward(c.activation, &blk.fc, &g.act, &mut g.fc);
            let (dw, db) = two_mut(layout, grads, s.fc_w, s.fc_b);
            linear_backward(
                view(&blk.ln2.y, n, d),
                layout.mat(params, s.fc_w),
                view(&g.fc, n, f),
                Some(view_mut(&mut g.normed, n, d)),
                view_mut(dw, d, f),
                Some(db),
            );
            let (dg, db) = two_mut(layout, grads, s.ln2_g, s.ln2_b);
            layer_norm_backward(
                view(&blk.mid, n, d),
                layout.get(params, s.ln2_g),
                &blk.ln2.mean,
                &blk.ln2.rstd,
                view(&g.normed, n, d),
                view_mut(&mut g.resid, n, d),
                dg,
                db,
            );
            // Attention output projection.
            let (dw, db) = two_mut(layout, grads, s.o_w, s.o_b);
            linear_backward(
                view(&blk.heads, n, d),
                layout.mat(params, s.o_w),
                view(&g.resid, n, d),
                Some(view_mut(&mut g.heads, n, d)),
                view_mut(dw, d, d),
                Some(db),
            );
            for seq in 0..b {
                let rows = seq * t * 3 * d..(seq + 1) * t * 3 * d;
                let qkv = view(&blk.qkv[rows.clone()], t, 3 * d);
                let (q, k, vv) = (qkv.slice(s![.., ..d]), qkv.slice(s![.., d..2 * d]), qkv.slice(s![.., 2 * d..]));
                let mut dqkv = view_mut(&mut g.qkv[rows], t, 3 * d);
                let (dq, rest) = dqkv.view_mut().split_at(ndarray::Axis(1), d);
                let (dk, dv) = rest.split_at(ndarray::Axis(1), d);
                let probs = &blk.probs[seq * h * t * t..(seq + 1) * h * t * t];
                let dout = view(&g.heads[seq * t * d..(seq + 1) * t * d], t, d);
                attention_backward(q, k, vv, probs, dout, h, dq, dk, dv, &mut g.attention);
            }
            let (dw, db) = two_mut(layout, grads, s.qkv_w, s.qkv_b);
            linear_backward(
                view(&blk.ln1.y, n, d),
                layout.mat(params, s.qkv_w),
                view(&g.qkv, n, 3 * d),
                Some(view_mut(&mut g.normed, n, d)),
                view_mut(dw, d, 3 * d),
                Some(db),
            );
            let (dg, db) = two_mut(layout, grads, s.ln1_g, s.ln1_b);
            layer_norm_backward(
                view(&self.resid[l], n, d),
                layout.get(params, s.ln1_g),
                &blk.ln1.mean,
                &blk.ln1.rstd,
                view(&g.normed, n, d),
                view_mut(&mut g.resid, n, d),
                dg,
                db,
            );
        }

        // Embeddings: each token's row and each position's row gets the stream's gradient.
        let (dwte, dwpe) = two_mut(layout, grads, layout.wte, layout.wpe);
        for (i, (row, &id)) in g.resid.chunks(d).zip(&self.inputs).enumerate() {
            add_assign(&mut dwte[id as usize * d..][..d], row);
            add_assign(&mut dwpe[(i % t) * d..][..d], row);
        }
    }
}

fn add_assign(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Two different slots of a buffer, mutably at once (slots never overlap).
fn two_mut<'a>(layout: &Layout, buf: &'a mut [f32], a: usize, b: usize) -> (&'a mut [f32], &'a mut [f32]) {
    let (sa, sb) = (&layout.slots[a], &layout.slots[b]);
    assert!(sa.offset + sa.len <= sb.offset, "slots in layout order");
    let (lo, hi) = buf.split_at_mut(sb.offset);
    (&mut lo[sa.offset..sa.offset + sa.len], &mut hi[..sb.len])
}
