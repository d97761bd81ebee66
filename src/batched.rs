//! "The batched matrix": one head's queries for every token of a prompt as one matrix
//! product. The tokens' vectors, as the attention block reads them (the output of the norm
//! before attention, `ln_1`), stacked into a T × d matrix X, times that head's slice of the
//! learned query projection W_Q (d × head_dim, plus its bias where the model has one) give
//! Q, T × head_dim: every token's query at once, as the forward pass computes it (there
//! for all heads, keys and values together, in one product).
//!
//! X is recomputed from the recorded residual stream entering the layer with the layer's
//! own norm weights, the same op the forward pass runs, so Q equals the run's `q` part. The
//! product is timed here, for real: repeated until the repeats take at least
//! [`TIMED_MS`] (the clock's resolution in a browser is coarse), and the mean is reported.

use crate::clock::now_ms;
use crate::cpu::fast::{linear, norm};
use crate::error::{Error, Result};
use crate::instruments::embedding_stream;
use crate::model::Model;
use crate::trace::{Part, PartSource};
use crate::weights::{Linear, Matrix};
use ndarray::{s, Array2};
use serde::Serialize;

/// How long the timed repeats of the product run, at least (ms).
pub const TIMED_MS: f64 = 5.0;
/// At most this many repeats, whatever the clock says.
const MAX_REPEATS: usize = 10_000;

/// X · W_Q = Q for one layer and head, with the product's measured time.
#[derive(Debug, Clone, Serialize)]
pub struct BatchedMatrix {
    /// Counted from 1.
    pub layer: usize,
    pub head: usize,
    /// T: the tokens (rows of X and Q).
    pub tokens: usize,
    /// d: the model's width (columns of X, rows of W_Q).
    pub d: usize,
    /// The head's width (columns of W_Q and Q).
    pub head_dim: usize,
    /// X [T][d], row-major: the norm's output the projection reads.
    pub x: Vec<f32>,
    /// W_Q [d][head_dim], row-major: this head's columns of the learned query projection.
    pub w: Vec<f32>,
    /// The head's slice of the query bias, if the model has one.
    pub bias: Option<Vec<f32>>,
    /// Q [T][head_dim] = X · W_Q (+ bias), before any rotary position encoding.
    pub q: Vec<f32>,
    /// Multiply-adds in one product: T · d · head_dim.
    pub multiply_adds: usize,
    /// Mean time of one product on this machine's CPU (the blocked SGEMM), ms; None when the
    /// clock did not advance (no timer to measure with).
    pub product_ms: Option<f64>,
    /// How many times the product ran for that mean.
    pub repeats: usize,
}

fn flat(a: &Array2<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

/// The query product of `head` in `layer` (both 0-based) over the first `at` tokens of a run
/// that recorded the embeddings and the residual stream after each block.
pub fn batched_query(model: &Model, tr: &(impl PartSource + ?Sized), layer: usize, head: usize, at: usize) -> Result<BatchedMatrix> {
    let cfg = &model.config;
    if layer >= cfg.n_layer || head >= cfg.n_head {
        return Err(Error::Input(format!("there is no layer {} head {}: this model has {} layers of {} heads", layer + 1, head + 1, cfg.n_layer, cfg.n_head)));
    }
    // The residual stream entering the layer: the embeddings, or the previous block's output.
    let stream = if layer == 0 {
        embedding_stream(tr)?
    } else {
        let r = tr.part(Some(layer - 1), Part::ResidPost).ok_or_else(|| Error::Input(format!("the run did not record residual_after_mlp of layer {layer}")))?;
        Array2::from_shape_vec((r.shape[0], r.shape[1]), r.data.clone()).expect("shape checked by the recorder")
    };
    let t = at.clamp(1, stream.nrows());
    let lw = &model.weights.layers[layer];
    let x = norm(&stream.slice(s![..t, ..]).to_owned(), &lw.ln_1, cfg.norm, cfg.layer_norm_epsilon);
    let hd = cfg.head_dim;
    // The head's columns of W_Q [in, out]; held in blocks, they are its rows of [out, in].
    let w = match &lw.qkv.w {
        Matrix::F32(w) => w.slice(s![.., head * hd..(head + 1) * hd]).to_owned(),
        m => m.gather(head * hd..(head + 1) * hd).reversed_axes().as_standard_layout().into_owned(),
    };
    let proj = Linear::f32(w.clone(), lw.qkv.b.as_ref().map(|b| b.slice(s![head * hd..(head + 1) * hd]).to_owned()));
    // The first product is left out of the timing: it runs on cold caches.
    let q = linear(&x, &proj);
    let (mut repeats, started) = (0usize, now_ms());
    while now_ms() - started < TIMED_MS && repeats < MAX_REPEATS {
        std::hint::black_box(linear(&x, &proj));
        repeats += 1;
    }
    let spent = now_ms() - started;
    let product_ms = (spent > 0.0 && repeats > 0).then(|| spent / repeats as f64);
    Ok(BatchedMatrix {
        layer: layer + 1,
        head: head + 1,
        tokens: t,
        d: cfg.n_embd,
        head_dim: hd,
        x: flat(&x),
        w: flat(&w),
        bias: proj.b.map(|b| b.to_vec()),
        q: flat(&q),
        multiply_adds: t * cfg.n_embd * hd,
        product_ms,
        repeats,
    })
}
