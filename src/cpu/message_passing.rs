//! Scatter-add message passing on the CPU: `agg_i = Σ_{e=(j→i)} w_e h_j`.
//!
//! The forward pass gathers over a CSR sorted by destination, and, within a
//! destination, by source (then input position). This is the order in which
//! PyG sums messages on a `TUDataset` graph (its edges are sorted by source),
//! so sums of symmetric atoms are bit-identical exactly when they are in PyG,
//! which decides how max pooling splits its gradient among ties.

use super::dense::{axpy, dot};

/// Edges grouped by destination: `edges[ptr[i]..ptr[i+1]]` are the edges into node `i`,
/// sorted by source, then by input position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Csr {
    /// Offsets `[n+1]`.
    pub ptr: Vec<usize>,
    /// Edge ids.
    pub edges: Vec<u32>,
}

impl Csr {
    /// Builds the destination-major CSR of `n` nodes (local ids).
    pub fn by_destination(n: usize, src: &[u32], dst: &[u32]) -> Csr {
        let mut edges: Vec<u32> = (0..src.len() as u32).collect();
        edges.sort_by_key(|&e| (dst[e as usize], src[e as usize], e));
        let mut ptr = vec![0usize; n + 1];
        for &d in dst {
            ptr[d as usize + 1] += 1;
        }
        for i in 0..n {
            ptr[i + 1] += ptr[i];
        }
        Csr { ptr, edges }
    }
}

/// Forward: `agg[i] = Σ w_e · h[src_e]` over the edges into `i`, in CSR order (`agg` is overwritten).
pub fn scatter_add_forward(
    csr: &Csr,
    src: &[u32],
    w: &[f64],
    h: &[f64],
    dim: usize,
    agg: &mut [f64],
) {
    agg.fill(0.0);
    for i in 0..csr.ptr.len() - 1 {
        let ai = &mut agg[i * dim..(i + 1) * dim];
        for &e in &csr.edges[csr.ptr[i]..csr.ptr[i + 1]] {
            let (e, s) = (e as usize, src[e as usize] as usize);
            for (a, &v) in ai.iter_mut().zip(&h[s * dim..(s + 1) * dim]) {
                // The message is formed first, then added, as PyG does.
                let m = w[e] * v;
                *a += m;
            }
        }
    }
}

/// Backward to the node features: `dh[src_e] += w_e · g_agg[dst_e]` (accumulates, edges in input order).
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
            let (gd, hs) = (
                &g_agg[d * dim..(d + 1) * dim],
                &mut dh[s * dim..(s + 1) * dim],
            );
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
