//! Launches of `kernels/pooling.cu`; mirrors `cpu::pooling`.

use super::launch::{need, Arg, Gpu, Shape, BLOCK};
use super::network::DeviceGraphs;
use crate::{Pool, Result};

fn mode(pool: Pool) -> i32 {
    match pool {
        Pool::Add => 0,
        Pool::Mean => 1,
        Pool::Max => 2,
    }
}

/// Pools every (step, graph) instance; `ties` receives max-pool tie counts.
#[allow(clippy::too_many_arguments)]
pub fn pool_forward<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    pool: Pool,
    steps: usize,
    h: &G::Buf<f32>,
    dim: usize,
    pooled: &mut G::Buf<f32>,
    ties: &mut G::Buf<f32>,
) -> Result<()> {
    let inst = steps * g.num_graphs;
    need(gpu, h, steps * g.num_nodes * dim, "pool_forward h")?;
    need(gpu, pooled, inst * dim, "pool_forward pooled")?;
    need(gpu, ties, inst * dim, "pool_forward ties")?;
    let mut shape = Shape::blocks(gpu, inst);
    shape.smem = 2 * (BLOCK / 32) * dim as u32 * 4;
    gpu.launch(
        "pool_forward",
        shape,
        &mut [
            Arg::I(&g.node_ptr),
            Arg::F(h),
            Arg::Out(pooled),
            Arg::Out(ties),
            Arg::Int(g.num_graphs as i32),
            Arg::Int(g.num_nodes as i32),
            Arg::Int(steps as i32),
            Arg::Int(dim as i32),
            Arg::Int(mode(pool)),
        ],
    )
}

/// Backward of [`pool_forward`] with the last conv layer's ReLU mask.
#[allow(clippy::too_many_arguments)]
pub fn pool_backward<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    pool: Pool,
    steps: usize,
    h: &G::Buf<f32>,
    pooled: &G::Buf<f32>,
    ties: &G::Buf<f32>,
    dpooled: &G::Buf<f32>,
    dim: usize,
    relu_mask: bool,
    dh: &mut G::Buf<f32>,
) -> Result<()> {
    let rows = steps * g.num_nodes;
    let inst = steps * g.num_graphs;
    need(gpu, h, rows * dim, "pool_backward h")?;
    need(gpu, pooled, inst * dim, "pool_backward pooled")?;
    need(gpu, ties, inst * dim, "pool_backward ties")?;
    need(gpu, dpooled, inst * dim, "pool_backward dpooled")?;
    need(gpu, dh, rows * dim, "pool_backward dh")?;
    gpu.launch(
        "pool_backward",
        Shape::per_item(gpu, rows * dim),
        &mut [
            Arg::I(&g.node_ptr),
            Arg::I(&g.node_graph),
            Arg::F(h),
            Arg::F(pooled),
            Arg::F(ties),
            Arg::F(dpooled),
            Arg::Out(dh),
            Arg::Int(g.num_graphs as i32),
            Arg::Int(g.num_nodes as i32),
            Arg::Int(steps as i32),
            Arg::Int(dim as i32),
            Arg::Int(mode(pool)),
            Arg::Int(i32::from(relu_mask)),
        ],
    )
}
