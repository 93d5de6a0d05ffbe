//! Global pooling of one graph's node embeddings `[n, d]` on the CPU.

use crate::model::Pool;

/// Pools `h [n, d]` into `[d]`. A graph always has at least one node.
pub fn pool_forward(pool: Pool, h: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut out = match pool {
        Pool::Max => vec![f64::NEG_INFINITY; d],
        _ => vec![0.0; d],
    };
    for i in 0..n {
        let row = &h[i * d..(i + 1) * d];
        for (o, &v) in out.iter_mut().zip(row) {
            match pool {
                Pool::Max => *o = o.max(v),
                _ => *o += v,
            }
        }
    }
    if pool == Pool::Mean {
        for o in &mut out {
            *o /= n as f64;
        }
    }
    out
}

/// Backward of [`pool_forward`]: writes `dh [n, d]` from `dg [d]`.
///
/// For max pooling the gradient of a channel is split evenly among all nodes
/// that reach the maximum, as PyTorch's `scatter_reduce(amax)` does.
pub fn pool_backward(pool: Pool, h: &[f64], n: usize, d: usize, dg: &[f64], dh: &mut [f64]) {
    match pool {
        Pool::Add | Pool::Mean => {
            let scale = if pool == Pool::Mean {
                1.0 / n as f64
            } else {
                1.0
            };
            for i in 0..n {
                for c in 0..d {
                    dh[i * d + c] = dg[c] * scale;
                }
            }
        }
        Pool::Max => {
            let max = pool_forward(Pool::Max, h, n, d);
            let mut ties = vec![0usize; d];
            for i in 0..n {
                for c in 0..d {
                    ties[c] += usize::from(h[i * d + c] == max[c]);
                }
            }
            for i in 0..n {
                for c in 0..d {
                    dh[i * d + c] = if h[i * d + c] == max[c] {
                        dg[c] / ties[c] as f64
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}
