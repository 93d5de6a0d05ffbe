//! Launches of `kernels/message_passing.cu`; mirrors `cpu::message_passing`.

use super::launch::{need, Arg, Gpu, Shape};
use super::network::DeviceGraphs;
use crate::Result;

/// The edge weights of S steps: `step[s]` for every edge of step `s`, or, with `edge`,
/// `edge[s · E + e]` per (step, edge) (`step` is then ignored).
pub struct Weights<'a, G: Gpu> {
    /// One weight per step `[S]`.
    pub step: &'a G::Buf<f32>,
    /// One weight per step and edge `[S·E]`, by edge id.
    pub edge: Option<&'a G::Buf<f32>>,
}

impl<G: Gpu> Clone for Weights<'_, G> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<G: Gpu> Copy for Weights<'_, G> {}

impl<'a, G: Gpu> Weights<'a, G> {
    /// The same weight for every edge of a step.
    pub fn per_step(step: &'a G::Buf<f32>) -> Self {
        Weights { step, edge: None }
    }

    /// Checks the buffers hold `steps` steps of a chunk with `edges` edges.
    fn check(&self, gpu: &G, steps: usize, edges: usize, what: &str) -> Result<()> {
        need(gpu, self.step, steps, &format!("{what} step_w"))?;
        if let Some(e) = self.edge {
            need(gpu, e, steps * edges, &format!("{what} edge_w"))?;
        }
        Ok(())
    }
}

/// `agg[s, i] = Σ_{e=j→i} w(s, e) h[s, j]` for all steps; see the kernel `mp_forward`.
pub fn scatter_add_forward<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    w: Weights<'_, G>,
    steps: usize,
    h: &G::Buf<f32>,
    dim: usize,
    agg: &mut G::Buf<f32>,
) -> Result<()> {
    let rows = steps * g.num_nodes;
    w.check(gpu, steps, g.num_edges, "mp_forward")?;
    need(gpu, h, rows * dim, "mp_forward h")?;
    need(gpu, agg, rows * dim, "mp_forward agg")?;
    gpu.launch(
        "mp_forward",
        Shape::per_item(gpu, rows * dim),
        &mut [
            Arg::I(&g.in_ptr),
            Arg::I(&g.in_src),
            Arg::I(&g.in_eid),
            Arg::F(w.step),
            w.edge.map_or(Arg::Null, Arg::F),
            Arg::F(h),
            Arg::Out(agg),
            Arg::Int(g.num_nodes as i32),
            Arg::Int(g.num_edges as i32),
            Arg::Int(steps as i32),
            Arg::Int(dim as i32),
        ],
    )
}

/// `dh[s, j] = [mask > 0](dh[s, j] + Σ_{e=j→i} w(s, e) g_agg[s, i])`; see `mp_backward_input`.
#[allow(clippy::too_many_arguments)]
pub fn scatter_add_backward_input<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    w: Weights<'_, G>,
    steps: usize,
    g_agg: &G::Buf<f32>,
    mask: Option<&G::Buf<f32>>,
    dim: usize,
    dh: &mut G::Buf<f32>,
) -> Result<()> {
    let rows = steps * g.num_nodes;
    w.check(gpu, steps, g.num_edges, "mp_backward_input")?;
    need(gpu, g_agg, rows * dim, "mp_backward_input g_agg")?;
    need(gpu, dh, rows * dim, "mp_backward_input dh")?;
    if let Some(m) = mask {
        need(gpu, m, rows * dim, "mp_backward_input mask")?;
    }
    gpu.launch(
        "mp_backward_input",
        Shape::per_item(gpu, rows * dim),
        &mut [
            Arg::I(&g.out_ptr),
            Arg::I(&g.out_dst),
            Arg::I(&g.out_eid),
            Arg::F(w.step),
            w.edge.map_or(Arg::Null, Arg::F),
            Arg::F(g_agg),
            mask.map_or(Arg::Null, Arg::F),
            Arg::Out(dh),
            Arg::Int(g.num_nodes as i32),
            Arg::Int(g.num_edges as i32),
            Arg::Int(steps as i32),
            Arg::Int(dim as i32),
        ],
    )
}

/// `dw[s, e] += ⟨g_agg[s, dst_e], h[s, src_e]⟩`; see the kernel `mp_backward_weight`.
pub fn scatter_add_backward_weight<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    steps: usize,
    g_agg: &G::Buf<f32>,
    h: &G::Buf<f32>,
    dim: usize,
    dw: &mut G::Buf<f32>,
) -> Result<()> {
    let rows = steps * g.num_nodes;
    need(gpu, g_agg, rows * dim, "mp_backward_weight g_agg")?;
    need(gpu, h, rows * dim, "mp_backward_weight h")?;
    need(gpu, dw, steps * g.num_edges, "mp_backward_weight dw")?;
    if g.num_edges == 0 {
        return Ok(());
    }
    gpu.launch(
        "mp_backward_weight",
        Shape::per_item(gpu, steps * g.num_edges),
        &mut [
            Arg::I(&g.src),
            Arg::I(&g.dst),
            Arg::F(g_agg),
            Arg::F(h),
            Arg::Out(dw),
            Arg::Int(g.num_nodes as i32),
            Arg::Int(g.num_edges as i32),
            Arg::Int(steps as i32),
            Arg::Int(dim as i32),
        ],
    )
}
