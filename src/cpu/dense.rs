//! Dense layers, ReLU and log-softmax on the CPU, in f64.
//!
//! Matrices are row-major; a weight `W` is `[out, in]` as in PyTorch.

use crate::model::Linear;

/// `y[r, :] = W x[r, :] + b` for `rows` rows (`y` is overwritten).
pub fn linear_forward(lin: &Linear, x: &[f64], rows: usize, y: &mut [f64]) {
    for r in 0..rows {
        let xr = &x[r * lin.in_dim..(r + 1) * lin.in_dim];
        let yr = &mut y[r * lin.out_dim..(r + 1) * lin.out_dim];
        for (o, yo) in yr.iter_mut().enumerate() {
            *yo = lin.bias[o] + dot(&lin.weight[o * lin.in_dim..(o + 1) * lin.in_dim], xr);
        }
    }
}

/// `dx[r, :] += Wᵀ dy[r, :]` for `rows` rows: the gradient of a linear layer's input.
pub fn linear_backward_input(lin: &Linear, dy: &[f64], rows: usize, dx: &mut [f64]) {
    rows_times_transposed(&lin.weight, lin.out_dim, lin.in_dim, dy, rows, dx);
}

/// In-place ReLU.
pub fn relu(x: &mut [f64]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// ReLU backward from the layer's output: `dy *= (y > 0)`, as PyTorch does
/// (the gradient at exactly 0 is 0).
pub fn relu_backward(y: &[f64], dy: &mut [f64]) {
    for (d, &v) in dy.iter_mut().zip(y) {
        if v <= 0.0 {
            *d = 0.0;
        }
    }
}

/// `log_softmax` of one row.
pub fn log_softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let lse = m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
    z.iter().map(|&v| v - lse).collect()
}

/// Gradient of `log_softmax(z)[target]` with respect to `z`: `onehot(target) − softmax(z)`,
/// given the log-probabilities.
///
/// The target's entry `1 − p_t` is computed as `Σ_{c≠t} p_c`, which keeps full
/// relative precision when the model is nearly certain (`p_t → 1`), where
/// `1 − exp(log p_t)` would cancel.
pub fn log_softmax_target_grad(log_probs: &[f64], target: usize) -> Vec<f64> {
    let mut g: Vec<f64> = log_probs.iter().map(|&lp| -lp.exp()).collect();
    g[target] = log_probs
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != target)
        .map(|(_, &lp)| lp.exp())
        .sum();
    g
}

/// Dot product.
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four independent accumulators let the compiler vectorise the loop.
    let mut acc = [0.0f64; 4];
    let chunks = a.len() / 4;
    for i in 0..chunks {
        for k in 0..4 {
            acc[k] += a[4 * i + k] * b[4 * i + k];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in 4 * chunks..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// `y += a x`.
#[inline(always)]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `y[r, :] += Σ_i x[r, i] · wt[i, :]` for `rows` rows, where `wt` is `[in, out]`
/// (a weight `[out, in]` transposed, or a weight itself for its input gradient).
/// Zero inputs are skipped: their terms are exact zeros. Each output sums its
/// terms in input order.
pub fn rows_times_transposed(
    wt: &[f64],
    in_dim: usize,
    out_dim: usize,
    x: &[f64],
    rows: usize,
    y: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { rows_times_transposed_avx2(wt, in_dim, out_dim, x, rows, y) };
        return;
    }
    rows_times_transposed_portable(wt, in_dim, out_dim, x, rows, y);
}

/// [`rows_times_transposed`] compiled for AVX2: wider vectors, the same operations
/// in the same order (no fused multiply-add), so the same bits. Outputs go in
/// blocks of 32, held in (eight) vector registers across the whole input loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_times_transposed_avx2(
    wt: &[f64],
    in_dim: usize,
    out_dim: usize,
    x: &[f64],
    rows: usize,
    y: &mut [f64],
) {
    const BLOCK: usize = 32;
    let full = out_dim - out_dim % BLOCK;
    for r in 0..rows {
        let xr = &x[r * in_dim..(r + 1) * in_dim];
        let yr = &mut y[r * out_dim..(r + 1) * out_dim];
        for o in (0..full).step_by(BLOCK) {
            let mut acc = [0.0f64; BLOCK];
            acc.copy_from_slice(&yr[o..o + BLOCK]);
            for (wi, &xi) in wt.chunks_exact(out_dim).zip(xr) {
                if xi != 0.0 {
                    for (a, &w) in acc.iter_mut().zip(&wi[o..o + BLOCK]) {
                        *a += xi * w;
                    }
                }
            }
            yr[o..o + BLOCK].copy_from_slice(&acc);
        }
        if full < out_dim {
            for (wi, &xi) in wt.chunks_exact(out_dim).zip(xr) {
                if xi != 0.0 {
                    axpy(xi, &wi[full..], &mut yr[full..]);
                }
            }
        }
    }
}

#[inline(always)]
fn rows_times_transposed_portable(
    wt: &[f64],
    in_dim: usize,
    out_dim: usize,
    x: &[f64],
    rows: usize,
    y: &mut [f64],
) {
    for r in 0..rows {
        let xr = &x[r * in_dim..(r + 1) * in_dim];
        let yr = &mut y[r * out_dim..(r + 1) * out_dim];
        for (i, &xi) in xr.iter().enumerate() {
            if xi != 0.0 {
                axpy(xi, &wt[i * out_dim..(i + 1) * out_dim], yr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portable loop and the AVX2 one (where this CPU has it) give the same bits,
    /// for every width around the block size, with many exact zeros in the input.
    #[test]
    fn portable_and_vector_paths_agree_bit_for_bit() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            let mut next = || rng.gen_range(-1.0..1.0);
            for in_dim in [1, 3, 14, 32, 33] {
                for out_dim in [1, 2, 5, 14, 31, 32, 33, 64, 70] {
                    let rows = 3;
                    let wt: Vec<f64> = (0..in_dim * out_dim).map(|_| next()).collect();
                    let x: Vec<f64> = (0..rows * in_dim)
                        .map(|_| {
                            let v = next();
                            if v < -0.3 {
                                0.0
                            } else {
                                v
                            }
                        })
                        .collect();
                    let y0: Vec<f64> = (0..rows * out_dim).map(|_| next()).collect();
                    let (mut a, mut b) = (y0.clone(), y0);
                    rows_times_transposed_portable(&wt, in_dim, out_dim, &x, rows, &mut a);
                    // SAFETY: the CPU supports AVX2 (checked above).
                    unsafe { rows_times_transposed_avx2(&wt, in_dim, out_dim, &x, rows, &mut b) };
                    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a), bits(&b), "in {in_dim}, out {out_dim}");
                }
            }
        }
    }
}
