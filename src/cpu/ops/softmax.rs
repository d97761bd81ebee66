//! Softmax, for attention and for the next-token distribution.

/// In-place softmax of one row, shifted by its maximum; −∞ entries become exactly 0.
pub fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum: f32 = row.iter().sum();
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// The gradient of a softmax row with respect to its inputs, given its output p and the
/// upstream gradient dp: p ⊙ (dp − Σ p·dp). Entries with p = 0 (masked) get 0.
pub fn softmax_backward(p: &[f32], dp: &[f32]) -> Vec<f32> {
    let dot: f32 = p.iter().zip(dp).map(|(p, d)| p * d).sum();
    p.iter().zip(dp).map(|(p, d)| p * (d - dot)).collect()
}

/// Mean cross-entropy of rows of logits [N, V] against target ids: the mean over rows of
/// log Σ exp(logits) − logits[target], the max subtracted first; the sum taken in f64.
pub fn cross_entropy(logits: ndarray::ArrayView2<f32>, targets: &[u32]) -> f32 {
    assert_eq!(logits.nrows(), targets.len(), "one target per row of logits");
    let total: f64 = logits
        .rows()
        .into_iter()
        .zip(targets)
        .map(|(row, &t)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|&z| (z - max).exp()).sum();
            (sum.ln() + max - row[t as usize]) as f64
        })
        .sum();
    (total / targets.len() as f64) as f32
}

/// The gradient of [`cross_entropy`] with respect to the logits: (softmax(row) − one-hot of
/// the target) / N for each row.
pub fn cross_entropy_backward(logits: ndarray::ArrayView2<f32>, targets: &[u32]) -> ndarray::Array2<f32> {
    let n = targets.len() as f32;
    let mut d = logits.to_owned();
    for (mut row, &t) in d.rows_mut().into_iter().zip(targets) {
        let r = row.as_slice_mut().expect("fresh array is contiguous");
        softmax(r);
        r[t as usize] -= 1.0;
        r.iter_mut().for_each(|v| *v /= n);
    }
    d
}
