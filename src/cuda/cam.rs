//! The node-level methods of Pope et al. (CVPR 2019) on the device: Grad-CAM (per conv
//! block, or averaged over the blocks), the contrastive gradient, Excitation Backprop
//! and contrastive EB, as [`crate::nn::scores`] writes them; mirrors `cpu::cam`.
//!
//! Each chunk of graphs (sized by the memory budget) runs one forward pass at the real
//! input; the targets are resolved from its output rows, then the class score's gradient
//! (Grad-CAM, contrastive gradient) or the excitation pass (EB, c-EB) gives one score per
//! node. Only the output rows and the scores come back.

use super::attribute::plan;
use super::backend::GpuBackend;
use super::launch::{need, Arg, Gpu, Shape};
use super::network::DeviceGraphs;
use crate::explain::{Attributions, ExplainConfig, Method};
use crate::nn::excitation::Excitation;
use crate::nn::{Backend, Instances, Mask, Network};
use crate::{GraphBatch, Model, Result};

/// Grad-CAM of one conv block added into `score [N]`, times `scale`; see the kernel
/// `grad_cam_layer`.
pub fn grad_cam_layer<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    h: &G::Buf<f32>,
    grad: &G::Buf<f32>,
    dim: usize,
    scale: f64,
    score: &mut G::Buf<f32>,
) -> Result<()> {
    let n = g.num_nodes;
    need(gpu, h, n * dim, "grad_cam_layer h")?;
    need(gpu, grad, n * dim, "grad_cam_layer grad")?;
    need(gpu, score, n, "grad_cam_layer score")?;
    let mut shape = Shape::blocks(gpu, g.num_graphs);
    shape.smem = (dim * 4) as u32;
    // SAFETY: h and grad hold the chunk's node rows of `dim` values, score one value per
    // node (checked above); node_ptr comes from a validated batch.
    unsafe {
        gpu.launch(
            "grad_cam_layer",
            shape,
            &mut [
                Arg::I(&g.node_ptr),
                Arg::F(h),
                Arg::F(grad),
                Arg::Out(score),
                Arg::Int(g.num_graphs as i32),
                Arg::Int(dim as i32),
                Arg::Float(scale as f32),
            ],
        )
    }
}

/// Runs a node-level method over every graph of `batch` on `gpu`, in chunks that fit
/// the memory budget. The configuration must already be validated. `progress` is called
/// as chunks finish.
pub fn explain<G: Gpu>(
    gpu: &G,
    model: &Model,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    let b = GpuBackend::new(gpu);
    let net = Network::new(&b, model)?;
    let ex = match cfg.method {
        Method::ExcitationBackprop | Method::ContrastiveEb => Some(Excitation::new(
            &b,
            model,
            cfg.method == Method::ContrastiveEb,
        )?),
        _ => None,
    };
    let budget = gpu.budget(cfg.memory_budget)?;
    let c = model.num_classes();
    let mut out = Attributions {
        num_classes: c,
        num_features: batch.num_features(),
        ..Default::default()
    };
    let mut scores = Vec::with_capacity(batch.num_nodes());
    let ones = b.upload(&[1.0])?;
    let mask = Mask::Step(&ones);
    for (range, _) in plan(model, batch, 1, budget)? {
        let sub = batch.subset(range.clone())?;
        let dg = DeviceGraphs::upload(gpu, &sub)?;
        let st = net.structure(&b, &dg)?;
        let inst = Instances {
            graph: &dg,
            steps: 1,
        };
        let tape = net.forward(&b, inst, &st, gpu.upload(sub.features())?, mask)?;
        let rows = b.download(&tape.out)?;
        let targets: Vec<usize> = (0..sub.num_graphs())
            .map(|k| {
                cfg.target
                    .resolve(batch, range.start + k, &rows[k * c..(k + 1) * c])
            })
            .collect();
        let score = net.node_scores(
            &b,
            ex.as_ref(),
            inst,
            &st,
            &tape,
            mask,
            &targets,
            cfg.method,
        )?;
        scores.extend(b.download(&score)?);
        out.target.extend(targets);
        out.log_probs.extend(rows);
        progress(sub.num_graphs());
    }
    out.node_score = Some(scores);
    Ok(out)
}
