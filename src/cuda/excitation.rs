//! Excitation Backprop and contrastive EB on the device; mirrors `cpu::excitation`.
//!
//! Each layer of the CPU's top-down pass (a parent passes its mass `P` to its children in
//! proportion to `a · w⁺`, normalised over the children) is written with the existing
//! kernels: `Z = W⁺ a` (the layer's forward with positive weights and no bias),
//! `R = P / Z` (`eb_ratio`, 0 where `P` or `Z` is 0), `P_child = a ⊙ W⁺ᵀ R` (the
//! layer's input backward, then an elementwise product). For a GraphConv layer `W⁺ a`
//! is `W_rel⁺ Σ_{j→i} w_ji a_j + W_root⁺ a_i` and `W⁺ᵀ R` goes back through the
//! transposed aggregation.

use super::dense::{linear_backward_input, linear_forward, DeviceWeight};
use super::integrate::elementwise_product;
use super::launch::{need, Arg, Gpu, Shape};
use super::message_passing::{scatter_add_backward_input, scatter_add_forward, Weights};
use super::network::{Activations, DeviceGraphs, DeviceModel};
use super::pooling::{pool_backward, pool_forward};
use crate::model::Linear;
use crate::{GraphConvNet, Pool, Result};

/// The excitatory (positive) parts of a model's weights on the device.
pub struct PositiveWeights<G: Gpu> {
    /// Per conv layer: `W_rel⁺` and `W_root⁺`.
    pub convs: Vec<(DeviceWeight<G>, DeviceWeight<G>)>,
    /// `W1⁺` of the head's hidden layer.
    pub lin1: DeviceWeight<G>,
    /// `W2⁺` of the output layer.
    pub lin2: DeviceWeight<G>,
    /// `(−W2)⁺`: row `c` is the positive part of the contrastive classifier for class `c`
    /// (`cpu::excitation::negated`); only the explained class's row carries mass.
    pub lin2_negated: DeviceWeight<G>,
}

impl<G: Gpu> PositiveWeights<G> {
    /// Uploads `max(w, 0)` (and `max(−w, 0)` for the output layer), rounded to f32.
    pub fn upload(gpu: &G, m: &GraphConvNet) -> Result<Self> {
        let pos = |l: &Linear, sign: f64| -> Result<DeviceWeight<G>> {
            let w: Vec<f32> = l
                .weight
                .iter()
                .map(|&v| (sign * v).max(0.0) as f32)
                .collect();
            DeviceWeight::upload(gpu, &w, l.out_dim, l.in_dim)
        };
        let m = m.require_tutorial("the GPU path")?;
        Ok(PositiveWeights {
            convs: m
                .convs
                .iter()
                .map(|c| Ok((pos(&c.lin_rel, 1.0)?, pos(&c.lin_root, 1.0)?)))
                .collect::<Result<_>>()?,
            lin1: pos(m.lin1, 1.0)?,
            lin2: pos(m.lin2, 1.0)?,
            lin2_negated: pos(m.lin2, -1.0)?,
        })
    }
}

/// `r = mass / z` where both are non-zero, else 0; see the kernel `eb_ratio`.
fn ratio<G: Gpu>(gpu: &G, mass: &G::Buf<f32>, z: &G::Buf<f32>, len: usize) -> Result<G::Buf<f32>> {
    need(gpu, mass, len, "eb_ratio mass")?;
    need(gpu, z, len, "eb_ratio z")?;
    let mut r = gpu.zeros::<f32>(len)?;
    gpu.launch(
        "eb_ratio",
        Shape::per_item(gpu, len),
        &mut [
            Arg::F(mass),
            Arg::F(z),
            Arg::Out(&mut r),
            Arg::Long(len as i64),
        ],
    )?;
    Ok(r)
}

/// The mass of the children of a dense layer with positive weights `w⁺ [out, in]`:
/// `child ⊙ w⁺ᵀ (mass / (w⁺ child))`, over `rows` rows. Mirrors `dense_down`.
fn dense_down<G: Gpu>(
    gpu: &G,
    w: &DeviceWeight<G>,
    child: &G::Buf<f32>,
    mass: &G::Buf<f32>,
    rows: usize,
    in_dim: usize,
    out_dim: usize,
) -> Result<G::Buf<f32>> {
    let mut z = gpu.zeros::<f32>(rows * out_dim)?;
    linear_forward(
        gpu, child, w, None, None, &mut z, rows, in_dim, out_dim, false,
    )?;
    let r = ratio(gpu, mass, &z, rows * out_dim)?;
    let mut t = gpu.zeros::<f32>(rows * in_dim)?;
    linear_backward_input(gpu, &r, w, None, &mut t, rows, in_dim, out_dim, false)?;
    elementwise_product(gpu, child, &t, rows * in_dim)
}

/// Excitation Backprop after [`super::network::forward`] of one step (edge weights 1) on
/// the chunk `g`: the mass reaching each node's input features `[N]`, for the output
/// mass `top [G, C]` (one-hot at each graph's class). With `contrastive`, the output
/// layer is the negated classifier (contrastive EB subtracts that result).
#[allow(clippy::too_many_arguments)]
pub fn excitation<G: Gpu>(
    gpu: &G,
    m: &DeviceModel<G>,
    pw: &PositiveWeights<G>,
    g: &DeviceGraphs<G>,
    act: &Activations<G>,
    top: &G::Buf<f32>,
    contrastive: bool,
) -> Result<G::Buf<f32>> {
    let (gn, n) = (g.num_graphs, g.num_nodes);
    let hidden = m.lin1.out_dim;
    let d = m.lin1.in_dim;
    let w2 = if contrastive {
        &pw.lin2_negated
    } else {
        &pw.lin2
    };
    let p_z1 = dense_down(gpu, w2, &act.z1, top, gn, hidden, m.lin2.out_dim)?;
    let p_pooled = dense_down(gpu, &pw.lin1, &act.pooled, &p_z1, gn, d, hidden)?;
    // Pooling: each channel's mass to its nodes.
    let layers = m.convs.len();
    let hl = &act.h[layers];
    let mut mass = gpu.zeros::<f32>(n * d)?;
    match m.pool {
        Pool::Add | Pool::Mean => {
            // In proportion to the values: h ⊙ (P / Σ_i h).
            let mut zsum = gpu.zeros::<f32>(gn * d)?;
            let mut ties = gpu.zeros::<f32>(gn * d)?;
            pool_forward(gpu, g, Pool::Add, 1, hl, d, &mut zsum, &mut ties)?;
            let r = ratio(gpu, &p_pooled, &zsum, gn * d)?;
            let mut bcast = gpu.zeros::<f32>(n * d)?;
            pool_backward(
                gpu,
                g,
                Pool::Add,
                1,
                hl,
                &zsum,
                &ties,
                &r,
                d,
                false,
                &mut bcast,
            )?;
            mass = elementwise_product(gpu, hl, &bcast, n * d)?;
        }
        Pool::Max => {
            // Evenly among the nodes that reach the maximum: the max pool's backward.
            pool_backward(
                gpu,
                g,
                Pool::Max,
                1,
                hl,
                &act.pooled,
                &act.ties,
                &p_pooled,
                d,
                false,
                &mut mass,
            )?;
        }
    }
    // Conv layers, top-down.
    let ones = gpu.upload(&[1.0f32])?;
    let w = Weights::per_step(&ones);
    for l in (0..layers).rev() {
        let (rel, _) = &m.convs[l];
        let (din, dout) = (rel.in_dim, rel.out_dim);
        let (rel_pos, root_pos) = &pw.convs[l];
        let h = &act.h[l];
        let mut agg = gpu.zeros::<f32>(n * din)?;
        scatter_add_forward(gpu, g, w, 1, h, din, &mut agg)?;
        let mut z = gpu.zeros::<f32>(n * dout)?;
        linear_forward(
            gpu,
            &agg,
            rel_pos,
            None,
            Some((h, root_pos)),
            &mut z,
            n,
            din,
            dout,
            false,
        )?;
        let r = ratio(gpu, &mass, &z, n * dout)?;
        let mut t = gpu.zeros::<f32>(n * din)?;
        linear_backward_input(gpu, &r, root_pos, None, &mut t, n, din, dout, false)?;
        let mut t_agg = gpu.zeros::<f32>(n * din)?;
        linear_backward_input(gpu, &r, rel_pos, None, &mut t_agg, n, din, dout, false)?;
        scatter_add_backward_input(gpu, g, w, 1, &t_agg, None, din, &mut t)?;
        mass = elementwise_product(gpu, h, &t, n * din)?;
    }
    let f = g.num_features;
    let mut score = gpu.zeros::<f32>(n)?;
    gpu.launch(
        "eb_node_mass",
        Shape::per_item(gpu, n),
        &mut [
            Arg::F(&mass),
            Arg::Out(&mut score),
            Arg::Int(n as i32),
            Arg::Int(f as i32),
        ],
    )?;
    Ok(score)
}
