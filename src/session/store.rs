//! The activations of a whole context, one growing tensor per (layer, part): each run
//! appends its rows, and going back in the history (or editing the end of the prompt)
//! truncates them, in place.

use crate::error::{Error, Result};
use crate::instruments;
use crate::trace::{Layout, Part, PartSource, Parts, Tensor, TokenInfo, Trace};
use serde::Serialize;

/// The L2 norm of the residual stream and of what each block adds to it, per token:
/// what the page's residual view draws. Where a block's output passes a norm before it is
/// added (Gemma's post-norms), what it adds is that norm's output.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResidualNorms {
    /// ‖embedding‖ (token + position embedding: the stream entering layer 1) [T].
    pub embedding: Vec<f32>,
    /// Per layer: ‖residual after the block‖ [L][T].
    pub after_layer: Vec<Vec<f32>>,
    /// Per layer: ‖attention output‖ (Gemma: after its post-norm) [L][T].
    pub attention: Vec<Vec<f32>>,
    /// Per layer: ‖MLP output‖ (Gemma: after its post-norm) [L][T].
    pub mlp: Vec<Vec<f32>>,
}

fn l2(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

impl ResidualNorms {
    fn truncate(&mut self, n: usize) {
        self.embedding.truncate(n);
        for v in self.after_layer.iter_mut().chain(&mut self.attention).chain(&mut self.mlp) {
            v.truncate(n);
        }
    }
}

/// The activations of the whole context, one growing tensor per (layer, part).
#[derive(Default)]
pub struct Store {
    tokens: Vec<TokenInfo>,
    parts: Vec<(Option<usize>, Part, Tensor)>,
    norms: ResidualNorms,
    /// Next-token logits after the first `n` tokens, for each `n` a run ended at.
    next_logits: Vec<(usize, Vec<f32>)>,
}

/// Reshapes, in place, each of `h` blocks of `r0` rows × `w0` columns to `r1` × `w1`: the
/// rows and columns both keep their top-left values, and new cells are zero (for attention,
/// the mask). Growing moves data from the back, shrinking from the front, so no value is
/// overwritten before it has moved; the store is never copied whole.
fn regrid(data: &mut Vec<f32>, h: usize, (r0, w0): (usize, usize), (r1, w1): (usize, usize)) {
    debug_assert!((r1 >= r0 && w1 >= w0) || (r1 <= r0 && w1 <= w0), "rows and columns grow or shrink together");
    let (rows, w) = (r0.min(r1), w0.min(w1));
    let mv = |data: &mut Vec<f32>, k: usize, i: usize| {
        let (from, to) = ((k * r0 + i) * w0, (k * r1 + i) * w1);
        data.copy_within(from..from + w, to);
        data[to + w..to + w1].fill(0.0);
    };
    if r1 * w1 >= r0 * w0 {
        data.resize(h * r1 * w1, 0.0);
        for k in (0..h).rev() {
            data[(k * r1 + rows) * w1..(k + 1) * r1 * w1].fill(0.0);
            for i in (0..rows).rev() {
                mv(data, k, i);
            }
        }
    } else {
        for k in 0..h {
            for i in 0..rows {
                mv(data, k, i);
            }
        }
        data.truncate(h * r1 * w1);
    }
}

/// A stored tensor of `tokens` tokens as blocks of rows × columns, in its layout: [T, w]
/// is one block, per-head [H, T, w] and attention [H, T, T] one block per head.
fn grid(layout: Layout, t: &Tensor, tokens: usize) -> (usize, (usize, usize)) {
    match layout {
        Layout::Rows => (1, (tokens, t.shape[1])),
        Layout::Heads => (t.shape[0], (tokens, t.shape[2])),
        Layout::Keys => (t.shape[0], (tokens, tokens)),
    }
}

/// Resizes a stored tensor of `t0` tokens to `t1` tokens in place (new cells zero), and
/// sets its shape.
fn resize(layout: Layout, t: &mut Tensor, t0: usize, t1: usize) {
    let (h, from) = grid(layout, t, t0);
    let (_, to) = grid(layout, t, t1);
    if layout == Layout::Rows {
        // Rows are token-major: only the end moves.
        t.data.resize(t1 * from.1, 0.0);
    } else {
        regrid(&mut t.data, h, from, to);
    }
    let axis = usize::from(layout != Layout::Rows);
    t.shape[axis] = t1;
    if layout == Layout::Keys {
        t.shape[2] = t1;
    }
}

/// Appends a run's rows `add` (its part's layout; keys span the whole context) to the
/// stored tensor `old` of `t0` tokens.
fn append(layout: Layout, old: &mut Tensor, t0: usize, add: &Tensor) {
    let t = add.shape[usize::from(layout != Layout::Rows)];
    let tn = t0 + t;
    resize(layout, old, t0, tn);
    let (h, (_, w)) = grid(layout, old, tn);
    for k in 0..h {
        old.data[(k * tn + t0) * w..(k + 1) * tn * w].copy_from_slice(&add.data[k * t * w..(k + 1) * t * w]);
    }
}

impl Store {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[TokenInfo] {
        &self.tokens
    }

    pub fn norms(&self) -> &ResidualNorms {
        &self.norms
    }

    /// Appends a run of the tokens after the stored ones. The run must have recorded the
    /// attention output, MLP output (or their post-norms) and residual stream (for the
    /// norms) and the token embeddings.
    pub fn append(&mut self, mut tr: Trace, keep: Parts) -> Result<()> {
        let t0 = self.len();
        if tr.start_position != t0 {
            return Err(Error::Input(format!("a run starting at position {} cannot follow {t0} stored tokens", tr.start_position)));
        }
        let missing = |what: &str| Error::Input(format!("the run did not record {what}, which the page needs"));
        let emb = instruments::embedding_stream(&tr)?;
        self.norms.embedding.extend(emb.rows().into_iter().map(|r| l2(r.as_slice().expect("contiguous"))));
        let n_layer = tr.layers.len();
        self.norms.after_layer.resize(n_layer, Vec::new());
        self.norms.attention.resize(n_layer, Vec::new());
        self.norms.mlp.resize(n_layer, Vec::new());
        for (l, layer) in tr.layers.iter().enumerate() {
            let rows = |p: Part| layer.get(p).map(|x| (0..x.shape[0]).map(|i| l2(x.row(i))).collect::<Vec<_>>()).ok_or_else(|| missing(p.name()));
            // What the block adds: the post-norm's output where the model has one.
            let added = |post: Part, out: Part| if layer.get(post).is_some() { rows(post) } else { rows(out) };
            self.norms.after_layer[l].extend(rows(Part::ResidPost)?);
            self.norms.attention[l].extend(added(Part::PostAttnNorm, Part::AttnOut)?);
            self.norms.mlp[l].extend(added(Part::PostMlpNorm, Part::MlpOut)?);
        }
        let mut add = |layer: Option<usize>, p: Part, t: Tensor| {
            if !keep.has(p) {
                return;
            }
            let layout = p.spec().layout;
            match self.parts.iter_mut().find(|(l, q, _)| *l == layer && *q == p) {
                Some((_, _, old)) => append(layout, old, t0, &t),
                None if t0 == 0 => self.parts.push((layer, p, t)),
                // A part not recorded before cannot be filled in for earlier tokens.
                None => {}
            }
        };
        for p in Part::all() {
            if let Some(t) = tr.global.take(p) {
                add(None, p, t);
            }
        }
        for (l, layer) in tr.layers.iter_mut().enumerate() {
            for p in Part::all() {
                if let Some(t) = layer.take(p) {
                    add(Some(l), p, t);
                }
            }
        }
        self.tokens.append(&mut tr.tokens);
        let n = self.len();
        self.next_logits.retain(|(k, _)| *k != n);
        self.next_logits.push((n, tr.next_logits));
        Ok(())
    }

    /// Keeps the first `n` tokens (going back in the history, or to a prefix of an edited
    /// prompt).
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        let t0 = self.len();
        self.tokens.truncate(n);
        if n == 0 {
            self.parts.clear();
        }
        for (_, p, t) in &mut self.parts {
            resize(p.spec().layout, t, t0, n);
        }
        self.norms.truncate(n);
        self.next_logits.retain(|(k, _)| *k <= n);
    }

    /// Next-token logits after the first `n` tokens, if a run ended there.
    pub fn logits_at(&self, n: usize) -> Option<&[f32]> {
        self.next_logits.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_slice())
    }
}

impl PartSource for Store {
    fn part(&self, layer: Option<usize>, p: Part) -> Option<&Tensor> {
        self.parts.iter().find(|(l, q, _)| *l == layer && *q == p).map(|(_, _, t)| t)
    }
    fn n_layers(&self) -> usize {
        self.norms.after_layer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], from: f32) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new(shape.to_vec(), (0..n).map(|i| from + i as f32).collect())
    }

    fn appended(layout: Layout, a: &Tensor, t0: usize, b: &Tensor) -> Tensor {
        let mut x = a.clone();
        append(layout, &mut x, t0, b);
        x
    }

    fn truncated(layout: Layout, a: &Tensor, t0: usize, n: usize) -> Tensor {
        let mut x = a.clone();
        resize(layout, &mut x, t0, n);
        x
    }

    #[test]
    fn rows_append_then_truncate_round_trips() {
        let a = t(&[2, 3], 0.0);
        let b = t(&[1, 3], 100.0);
        let ab = appended(Layout::Rows, &a, 2, &b);
        assert_eq!(ab.shape, vec![3, 3]);
        assert_eq!(&ab.data[6..], &b.data[..]);
        assert_eq!(truncated(Layout::Rows, &ab, 3, 2), a);
    }

    #[test]
    fn heads_append_keeps_each_head_contiguous() {
        // [2 heads, 2 tokens, width 2] + [2 heads, 1 token, width 2]
        let a = t(&[2, 2, 2], 0.0);
        let b = t(&[2, 1, 2], 100.0);
        let ab = appended(Layout::Heads, &a, 2, &b);
        assert_eq!(ab.shape, vec![2, 3, 2]);
        assert_eq!(ab.data, vec![0.0, 1.0, 2.0, 3.0, 100.0, 101.0, 4.0, 5.0, 6.0, 7.0, 102.0, 103.0]);
        assert_eq!(truncated(Layout::Heads, &ab, 3, 2), a);
    }

    #[test]
    fn keys_append_masks_earlier_rows_and_truncates_to_the_square() {
        // One head, 2 tokens [1, 2, 2], then a step of 1 token [1, 1, 3].
        let a = Tensor::new(vec![1, 2, 2], vec![1.0, 0.0, 0.4, 0.6]);
        let b = Tensor::new(vec![1, 1, 3], vec![0.2, 0.3, 0.5]);
        let ab = appended(Layout::Keys, &a, 2, &b);
        assert_eq!(ab.shape, vec![1, 3, 3]);
        assert_eq!(ab.data, vec![1.0, 0.0, 0.0, 0.4, 0.6, 0.0, 0.2, 0.3, 0.5]);
        assert_eq!(truncated(Layout::Keys, &ab, 3, 2), a);
        assert_eq!(truncated(Layout::Keys, &ab, 3, 1).data, vec![1.0]);
    }

    /// Several heads grown in place twice (the moves run back to front, across blocks) equal
    /// the squares written out directly, and shrinking walks back through the same squares.
    #[test]
    fn keys_of_several_heads_grow_and_shrink_in_place() {
        // Head k's score of query i for key j is k·100 + i·10 + j (j ≤ i), else masked 0.
        let square = |h: usize, n: usize| {
            let data =
                (0..h * n * n).map(|x| (x / (n * n), x / n % n, x % n)).map(|(k, i, j)| if j <= i { (k * 100 + i * 10 + j) as f32 } else { 0.0 }).collect();
            Tensor::new(vec![h, n, n], data)
        };
        let rows = |h: usize, from: usize, to: usize| {
            let data =
                (0..h).flat_map(|k| (from..to).flat_map(move |i| (0..to).map(move |j| if j <= i { (k * 100 + i * 10 + j) as f32 } else { 0.0 }))).collect();
            Tensor::new(vec![h, to - from, to], data)
        };
        let mut x = square(3, 2);
        append(Layout::Keys, &mut x, 2, &rows(3, 2, 5));
        assert_eq!(x, square(3, 5));
        append(Layout::Keys, &mut x, 5, &rows(3, 5, 6));
        assert_eq!(x, square(3, 6));
        resize(Layout::Keys, &mut x, 6, 4);
        assert_eq!(x, square(3, 4));
        resize(Layout::Keys, &mut x, 4, 0);
        assert_eq!(x.data.len(), 0);
    }

    #[test]
    fn residual_norms_truncate_every_field() {
        let mut n = ResidualNorms {
            embedding: vec![1.0, 2.0, 3.0],
            after_layer: vec![vec![1.0, 2.0, 3.0]],
            attention: vec![vec![4.0, 5.0, 6.0]],
            mlp: vec![vec![7.0, 8.0, 9.0]],
        };
        n.truncate(1);
        assert_eq!(n, ResidualNorms { embedding: vec![1.0], after_layer: vec![vec![1.0]], attention: vec![vec![4.0]], mlp: vec![vec![7.0]] });
    }
}
