//! Rotary position embedding (RoPE).

use ndarray::Array2;

/// (sin, cos) of every angle RoPE uses for T tokens from `start`: [T, hd/2], the angle of
/// pair i at position p being p·inv_freq[i] (inv_freq as `Config::rope_inv_freq` computes it).
pub fn rope_angles(start: usize, t: usize, inv_freq: &[f32]) -> Vec<(f32, f32)> {
    (start..start + t).flat_map(|pos| inv_freq.iter().map(move |f| (pos as f32 * f).sin_cos())).collect()
}

/// RoPE, HF's rotate-half convention: in each head of x [T, heads·hd], the pair
/// (x[i], x[i + hd/2]) of the token at position start + t is rotated by the angle
/// (start + t)·inv_freq[i].
pub fn rope(x: &mut Array2<f32>, hd: usize, start: usize, inv_freq: &[f32]) {
    let half = hd / 2;
    let angles = rope_angles(start, x.nrows(), inv_freq);
    for (t, mut row) in x.rows_mut().into_iter().enumerate() {
        for h in 0..row.len() / hd {
            for i in 0..half {
                let (sin, cos) = angles[t * half + i];
                let (a, b) = (row[h * hd + i], row[h * hd + i + half]);
                row[h * hd + i] = a * cos - b * sin;
                row[h * hd + i + half] = b * cos + a * sin;
            }
        }
    }
}
