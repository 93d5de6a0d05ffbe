//! Launches of `kernels/pooling.cu`: the readouts (global pooling, the node tasks'
//! centres) and their backwards; mirrors `cpu::pooling` and the readout primitives of
//! `cpu::backend`.

use super::launch::{need, Arg, Gpu, Shape, BLOCK};
use super::network::DeviceGraphs;
use crate::{Error, Pool, Result};

/// A device buffer of floats.
type Buf<G> = <G as Gpu>::Buf<f32>;

fn mode(pool: Pool) -> i32 {
    match pool {
        Pool::Add => 0,
        Pool::Mean => 1,
        Pool::Max => 2,
    }
}

/// Pools every (step, graph) instance; `ties` receives max-pool tie counts (0 for the
/// other pools).
#[allow(clippy::too_many_arguments)]
pub fn pool_forward<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    pool: Pool,
    steps: usize,
    h: &Buf<G>,
    dim: usize,
    pooled: &mut Buf<G>,
    ties: &mut Buf<G>,
) -> Result<()> {
    let inst = steps * g.num_graphs;
    need(gpu, h, steps * g.num_nodes * dim, "pool_forward h")?;
    need(gpu, pooled, inst * dim, "pool_forward pooled")?;
    need(gpu, ties, inst * dim, "pool_forward ties")?;
    let mut shape = Shape::blocks(gpu, inst);
    shape.smem = 2 * (BLOCK / 32) * dim as u32 * 4;
    // SAFETY: h, pooled and ties were checked for S steps of the chunk above; node_ptr
    // comes from a validated batch.
    unsafe {
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
}

/// Backward of [`pool_forward`]: `dh [S·N, dim]` from `dpooled [S·G, dim]`.
#[allow(clippy::too_many_arguments)]
pub fn pool_backward<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    pool: Pool,
    steps: usize,
    h: &Buf<G>,
    pooled: &Buf<G>,
    ties: &Buf<G>,
    dpooled: &Buf<G>,
    dim: usize,
    dh: &mut Buf<G>,
) -> Result<()> {
    let rows = steps * g.num_nodes;
    let inst = steps * g.num_graphs;
    need(gpu, h, rows * dim, "pool_backward h")?;
    need(gpu, pooled, inst * dim, "pool_backward pooled")?;
    need(gpu, ties, inst * dim, "pool_backward ties")?;
    need(gpu, dpooled, inst * dim, "pool_backward dpooled")?;
    need(gpu, dh, rows * dim, "pool_backward dh")?;
    // SAFETY: every buffer was checked for S steps of the chunk above; node_ptr and
    // node_graph come from a validated batch.
    unsafe {
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
            ],
        )
    }
}

/// Checks that the chunk is a node task's (its centres were checked at upload).
fn check_centers<G: Gpu>(gpu: &G, g: &DeviceGraphs<G>, what: &str) -> Result<()> {
    if g.host.centers.is_none() {
        return Err(Error::Device(format!(
            "internal error: {what}: a node readout on graphs without explained nodes"
        )));
    }
    need(gpu, &g.center, g.num_graphs, &format!("{what} centers"))
}

/// The explained node's row of every instance, `[S·G, dim]` from `[S·N, dim]`; see
/// `select_centers`.
pub fn select_centers<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    steps: usize,
    h: &Buf<G>,
    dim: usize,
    out: &mut Buf<G>,
) -> Result<()> {
    check_centers(gpu, g, "select_centers")?;
    need(gpu, h, steps * g.num_nodes * dim, "select_centers h")?;
    need(gpu, out, steps * g.num_graphs * dim, "select_centers out")?;
    // SAFETY: h and out were checked for S steps of the chunk above; every centre is a
    // node of its graph (DeviceGraphs::upload).
    unsafe {
        gpu.launch(
            "select_centers",
            Shape::per_item(gpu, steps * g.num_graphs * dim),
            &mut [
                Arg::I(&g.center),
                Arg::F(h),
                Arg::Out(out),
                Arg::Int(g.num_graphs as i32),
                Arg::Int(g.num_nodes as i32),
                Arg::Int(steps as i32),
                Arg::Int(dim as i32),
            ],
        )
    }
}

/// The backward of [`select_centers`]: `dh` zero but for the centres' rows; see
/// `select_centers_t`.
pub fn select_centers_t<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    steps: usize,
    d: &Buf<G>,
    dim: usize,
    dh: &mut Buf<G>,
) -> Result<()> {
    check_centers(gpu, g, "select_centers_t")?;
    need(gpu, d, steps * g.num_graphs * dim, "select_centers_t d")?;
    need(gpu, dh, steps * g.num_nodes * dim, "select_centers_t dh")?;
    // SAFETY: as in `select_centers`; node_graph comes from a validated batch.
    unsafe {
        gpu.launch(
            "select_centers_t",
            Shape::per_item(gpu, steps * g.num_nodes * dim),
            &mut [
                Arg::I(&g.node_graph),
                Arg::I(&g.center),
                Arg::F(d),
                Arg::Out(dh),
                Arg::Int(g.num_graphs as i32),
                Arg::Int(g.num_nodes as i32),
                Arg::Int(steps as i32),
                Arg::Int(dim as i32),
            ],
        )
    }
}
