//! Excitation Backprop (Zhang et al. 2016) for GraphConv networks, as Pope et al.
//! (CVPR 2019) adapt it, and its contrastive variant, on the CPU reference path.
//!
//! A probability mass of 1 starts at the explained class and flows top-down. A
//! parent neuron `b` passes its mass to each child `a` in proportion to
//! `a · w⁺(a → b)` (only excitatory, positive weights), normalised over its
//! children: `P(a) = Σ_b P(b) · a w⁺_ab / Σ_a' a' w⁺_a'b`. The edges of the flow:
//! - `lin2` and `lin1`: the weights `W⁺`;
//! - pooling: add and mean pass mass to every node in proportion to its value,
//!   max only to the nodes that reach the maximum (evenly among ties);
//! - a GraphConv output `(i, o)` has the children `(j, k)` for every edge `j → i`
//!   (weight `w_ji · W_rel⁺[o, k]`) and `(i, k)` (weight `W_root⁺[o, k]`).
//!
//! A parent whose children carry no excitation (normaliser 0) passes nothing. The
//! score of node `n` is the mass that reaches its input features, `Σ_f P(x_{n,f})`.
//! Contrastive EB is EB for class `c` minus EB for the negated classifier (the
//! row `W2[c]` negated, so that `W2⁺` keeps the weights that argue against `c`).

use super::network::{Activations, LocalGraph};
use crate::model::Linear;
use crate::GraphConvNet;
use crate::Pool;

/// `P(child) += Σ_parent P(parent) · child · w⁺ / Z(parent)` for a dense layer
/// (`w` is `[parents, children]`).
fn dense_down(w: &Linear, child: &[f64], parent_mass: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; w.in_dim];
    for (p, &mass) in parent_mass.iter().enumerate() {
        if mass == 0.0 {
            continue;
        }
        let row = &w.weight[p * w.in_dim..(p + 1) * w.in_dim];
        let z: f64 = row.iter().zip(child).map(|(&wi, &a)| a * wi.max(0.0)).sum();
        if z == 0.0 {
            continue;
        }
        for ((o, &wi), &a) in out.iter_mut().zip(row).zip(child) {
            *o += mass * a * wi.max(0.0) / z;
        }
    }
    out
}

/// The mass reaching node `n`'s input features, per node, for the output mass `top`
/// (one value per class) after [`super::network::forward`] on graph `g` with edge weights `w`.
pub fn excitation(
    model: &GraphConvNet,
    g: &LocalGraph,
    w: &[f64],
    act: &Activations,
    top: &[f64],
    lin2: &Linear,
) -> Vec<f64> {
    let n = g.n;
    let p_z1 = dense_down(lin2, &act.z1, top);
    let p_pooled = dense_down(&model.lin1, &act.pooled, &p_z1);
    let layers = model.num_layers();
    let d = model.lin1.in_dim;
    let hl = &act.h[layers];
    // Pooling: each channel's mass to its nodes.
    let mut mass = vec![0.0; n * d];
    for c in 0..d {
        if p_pooled[c] == 0.0 {
            continue;
        }
        match model.pool {
            Pool::Add | Pool::Mean => {
                let z: f64 = (0..n).map(|i| hl[i * d + c]).sum();
                if z != 0.0 {
                    for i in 0..n {
                        mass[i * d + c] = p_pooled[c] * hl[i * d + c] / z;
                    }
                }
            }
            Pool::Max => {
                let m = (0..n)
                    .map(|i| hl[i * d + c])
                    .fold(f64::NEG_INFINITY, f64::max);
                let ties = (0..n).filter(|&i| hl[i * d + c] == m).count() as f64;
                for i in 0..n {
                    if hl[i * d + c] == m {
                        mass[i * d + c] = p_pooled[c] / ties;
                    }
                }
            }
        }
    }
    // Conv layers, top-down.
    for l in (0..layers).rev() {
        let conv = &model.convs[l];
        let (din, dout) = (conv.lin_rel.in_dim, conv.lin_rel.out_dim);
        let h = &act.h[l];
        let mut below = vec![0.0; n * din];
        // Incoming edges of every node, in input order.
        let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in 0..g.src.len() {
            incoming[g.dst[e] as usize].push(e);
        }
        for i in 0..n {
            for o in 0..dout {
                let pm = mass[i * dout + o];
                if pm == 0.0 {
                    continue;
                }
                let rel = &conv.lin_rel.weight[o * din..(o + 1) * din];
                let root = &conv.lin_root.weight[o * din..(o + 1) * din];
                let mut z = 0.0;
                for &e in &incoming[i] {
                    let j = g.src[e] as usize;
                    for k in 0..din {
                        z += w[e] * h[j * din + k] * rel[k].max(0.0);
                    }
                }
                for k in 0..din {
                    z += h[i * din + k] * root[k].max(0.0);
                }
                if z == 0.0 {
                    continue;
                }
                for &e in &incoming[i] {
                    let j = g.src[e] as usize;
                    for k in 0..din {
                        below[j * din + k] += pm * w[e] * h[j * din + k] * rel[k].max(0.0) / z;
                    }
                }
                for k in 0..din {
                    below[i * din + k] += pm * h[i * din + k] * root[k].max(0.0) / z;
                }
            }
        }
        mass = below;
    }
    let f = model.num_features();
    (0..n)
        .map(|i| mass[i * f..(i + 1) * f].iter().sum())
        .collect()
}

/// The output layer with row `c` negated (the contrastive classifier).
pub fn negated(lin2: &Linear, c: usize) -> Linear {
    let mut neg = lin2.clone();
    for v in &mut neg.weight[c * lin2.in_dim..(c + 1) * lin2.in_dim] {
        *v = -*v;
    }
    neg
}
