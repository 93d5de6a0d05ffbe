//! The node-level methods of Pope et al. (CVPR 2019) on the device: Grad-CAM (per conv
//! layer, or averaged over the layers), the contrastive gradient, Excitation Backprop
//! and contrastive EB; mirrors `cpu::cam`.
//!
//! Each chunk of graphs (sized by the memory budget) runs one forward pass at the real
//! input; the targets are resolved from its log-probabilities, then the class score's
//! gradient (Grad-CAM, contrastive gradient) or the excitation pass (EB, c-EB) gives one
//! score per node. Only the log-probabilities and the scores come back.

use super::attribute::plan;
use super::excitation::{excitation, PositiveWeights};
use super::integrate::accumulate_steps;
use super::launch::{need, Arg, Gpu, Shape};
use super::message_passing::Weights;
use super::network::{backward, forward, Activations, DeviceGraphs, DeviceModel};
use crate::explain::{Attributions, ExplainConfig, Method};
use crate::{Error, GraphBatch, GraphConvNet, Result};

/// Grad-CAM of layer `l` (1-based) added into `score [N]`, divided by `layers`; see the
/// kernel `grad_cam_layer`.
#[allow(clippy::too_many_arguments)]
fn grad_cam_layer<G: Gpu>(
    gpu: &G,
    g: &DeviceGraphs<G>,
    h: &G::Buf<f32>,
    grad: &G::Buf<f32>,
    dim: usize,
    layers: usize,
    score: &mut G::Buf<f32>,
) -> Result<()> {
    let n = g.num_nodes;
    need(gpu, h, n * dim, "grad_cam_layer h")?;
    need(gpu, grad, n * dim, "grad_cam_layer grad")?;
    need(gpu, score, n, "grad_cam_layer score")?;
    let mut shape = Shape::blocks(gpu, g.num_graphs);
    shape.smem = (dim * 4) as u32;
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
            Arg::Int(layers as i32),
        ],
    )
}

/// `score[i] = ‖ReLU(dx[i])‖₂`; see the kernel `contrastive_gradient`.
fn contrastive_gradient<G: Gpu>(
    gpu: &G,
    dx: &G::Buf<f32>,
    n: usize,
    dim: usize,
) -> Result<G::Buf<f32>> {
    need(gpu, dx, n * dim, "contrastive_gradient dx")?;
    let mut score = gpu.zeros::<f32>(n)?;
    gpu.launch(
        "contrastive_gradient",
        Shape::per_item(gpu, n),
        &mut [
            Arg::F(dx),
            Arg::Out(&mut score),
            Arg::Int(n as i32),
            Arg::Int(dim as i32),
        ],
    )?;
    Ok(score)
}

/// The node scores of one chunk after its forward pass; `onehot [G, C]` marks each
/// graph's class.
#[allow(clippy::too_many_arguments)]
fn chunk_scores<G: Gpu>(
    gpu: &G,
    model: &GraphConvNet,
    dm: &DeviceModel<G>,
    pw: Option<&PositiveWeights<G>>,
    dg: &DeviceGraphs<G>,
    w: Weights<'_, G>,
    mut act: Activations<G>,
    onehot: &[f32],
    method: Method,
) -> Result<G::Buf<f32>> {
    let n = dg.num_nodes;
    let top = gpu.upload(onehot)?;
    match method {
        Method::ContrastiveGradient | Method::GradCam(_) => {
            // The gradient of the class score (before the softmax): dz2 is one-hot.
            act.dz2 = Some(top);
            if method == Method::ContrastiveGradient {
                let (dx, _) = backward(gpu, dm, dg, 1, w, &act, true, false, None)?;
                let dx = dx.ok_or_else(|| Error::Device("internal error: no gradient".into()))?;
                return contrastive_gradient(gpu, &dx, n, dg.num_features);
            }
            let mut grads = Vec::new();
            backward(gpu, dm, dg, 1, w, &act, false, false, Some(&mut grads))?;
            let layers: Vec<usize> = match method {
                Method::GradCam(Some(l)) => vec![l],
                _ => (1..=model.num_layers()).collect(),
            };
            let mut score = gpu.zeros::<f32>(n)?;
            for &l in &layers {
                let dim = model.widths()[l];
                grad_cam_layer(
                    gpu,
                    dg,
                    &act.h[l],
                    &grads[l - 1],
                    dim,
                    layers.len(),
                    &mut score,
                )?;
            }
            Ok(score)
        }
        Method::ExcitationBackprop | Method::ContrastiveEb => {
            let pw = pw.ok_or_else(|| {
                Error::Device("internal error: excitation without positive weights".into())
            })?;
            let mut eb = excitation(gpu, dm, pw, dg, &act, &top, false)?;
            if method == Method::ContrastiveEb {
                let neg = excitation(gpu, dm, pw, dg, &act, &top, true)?;
                accumulate_steps(gpu, &neg, &gpu.upload(&[-1.0f32])?, 1, n, &mut eb)?;
            }
            Ok(eb)
        }
        other => Err(Error::Device(format!(
            "internal error: {} is not a node-level method of the GPU path",
            other.cli_name()
        ))),
    }
}

/// Runs a node-level method over every graph of `batch` on `gpu`, in chunks that fit
/// the memory budget. The configuration must already be validated. `progress` is called
/// as chunks finish.
pub fn explain<G: Gpu>(
    gpu: &G,
    model: &GraphConvNet,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    let dm = DeviceModel::upload(gpu, model)?;
    let pw = match cfg.method {
        Method::ExcitationBackprop | Method::ContrastiveEb => {
            Some(PositiveWeights::upload(gpu, model)?)
        }
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
    let ones = gpu.upload(&[1.0f32])?;
    let w = Weights::per_step(&ones);
    for (range, _) in plan(model, batch, 1, budget)? {
        let sub = batch.subset(range.clone())?;
        let dg = DeviceGraphs::upload(gpu, &sub)?;
        let (gn, n) = (sub.num_graphs(), sub.num_nodes());
        let no_target = gpu.upload(&vec![0i32; gn])?;
        let h0 = gpu.upload(sub.features())?;
        let act = forward(gpu, &dm, &dg, 1, h0, w, &no_target, false)?;
        let mut lp = gpu.download(&act.logp)?;
        lp.truncate(gn * c);
        let mut onehot = vec![0.0f32; gn * c];
        for k in 0..gn {
            let t = cfg
                .target
                .resolve(batch, range.start + k, &lp[k * c..(k + 1) * c]);
            onehot[k * c + t] = 1.0;
            out.target.push(t);
        }
        out.log_probs.extend(lp.iter().map(|&v| v as f64));
        let score = chunk_scores(
            gpu,
            model,
            &dm,
            pw.as_ref(),
            &dg,
            w,
            act,
            &onehot,
            cfg.method,
        )?;
        let mut s = gpu.download(&score)?;
        s.truncate(n);
        scores.extend(s.iter().map(|&v| v as f64));
        progress(gn);
    }
    out.node_score = Some(scores);
    Ok(out)
}
