//! Scatter-add message passing on the CPU: `agg_i = Σ_{e=(j→i)} w_e h_j`.
//!
//! Edges use node ids local to one graph. Sums run over edges in input order,
//! so results are deterministic.

use super::dense::{axpy, dot};

/// Forward: `agg[dst_e] += w_e · h[src_e]` for every edge (`agg` is zeroed first).
pub fn scatter_add_forward(src: &[u32], dst: &[u32], w: &[f64], h: &[f64], dim: usize, agg: &mut [f64]) {
    agg.fill(0.0);
    for e in 0..src.len() {
        let (s, d) = (src[e] as usize, dst[e] as usize);
        if w[e] != 0.0 {
            let (hs, ad) = (&h[s * dim..(s + 1) * dim], &mut agg[d * dim..(d + 1) * dim]);
            axpy(w[e], hs, ad);
        }
    }
}

/// Backward to the node features: `dh[src_e] += w_e · g_agg[dst_e]` (accumulates).
pub fn scatter_add_backward_input(
    src: &[u32],
    dst: &[u32],
    w: &[f64],
    g_agg: &[f64],
    dim: usize,
    dh: &mut [f64],
) {
    for e in 0..src.len() {
        let (s, d) = (src[e] as usize, dst[e] as usize);
        if w[e] != 0.0 {
            let (gd, hs) = (&g_agg[d * dim..(d + 1) * dim], &mut dh[s * dim..(s + 1) * dim]);
            axpy(w[e], gd, hs);
        }
    }
}

/// Backward to the edge weights: `dw_e += ⟨g_agg[dst_e], h[src_e]⟩` (accumulates).
pub fn scatter_add_backward_weight(
    src: &[u32],
    dst: &[u32],
    g_agg: &[f64],
    h: &[f64],
    dim: usize,
    dw: &mut [f64],
) {
    for e in 0..src.len() {
        let (s, d) = (src[e] as usize, dst[e] as usize);
        dw[e] += dot(&g_agg[d * dim..(d + 1) * dim], &h[s * dim..(s + 1) * dim]);
    }
}
