//! The node-level methods of Pope et al. (CVPR 2019) on the CPU reference path:
//! Grad-CAM (per conv block, or averaged over the blocks), the contrastive gradient,
//! Excitation Backprop and contrastive EB. The gradient methods explain the class
//! score `y_c`, the logit before any softmax.
//!
//! - Grad-CAM on block `l` with node features `F^l [n, K]` (the block's output, after
//!   its activation): `α_k = (1/n) Σ_n ∂y_c/∂F^l_{n,k}` and
//!   `score_n = ReLU(Σ_k α_k F^l_{n,k})`; the average is `(1/L) Σ_l score^l_n`.
//! - Contrastive gradient: `score_n = ‖ReLU(∂y_c/∂X_n)‖₂` over node `n`'s input features.
//! - Excitation Backprop and contrastive EB: see [`crate::nn::excitation`].

use super::backend::Cpu;
use super::network::LocalGraph;
use crate::explain::{Attributions, ExplainConfig, Method};
use crate::nn::excitation::Excitation;
use crate::nn::{Backend, Instances, Mask, Network, Seed, Want};
use crate::{GraphBatch, Model, Result};
use rayon::prelude::*;

/// Scores of one graph: `(outputs, target, scores [n])`.
fn graph_scores(
    net: &Network<'_, Cpu>,
    ex: Option<&Excitation<Cpu>>,
    batch: &GraphBatch,
    gidx: usize,
    cfg: &ExplainConfig,
) -> Result<(Vec<f64>, usize, Vec<f64>)> {
    let model = net.model;
    let gr = batch.graph(gidx);
    let f = batch.num_features();
    let g = LocalGraph::from_batch(batch, gidx);
    let x: Vec<f64> = batch.features()[gr.nodes.start * f..gr.nodes.end * f]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let w = vec![1.0; g.src.len()];
    let st = net.structure(&Cpu, &g)?;
    let inst = Instances {
        graph: &g,
        steps: 1,
    };
    let mask = Mask::Edge(&w);
    let tape = net.forward(&Cpu, inst, &st, x, mask)?;
    let target = cfg.target.resolve(batch, gidx, &tape.out);
    let targets = vec![target];
    let n = g.n;
    let scores = match cfg.method {
        Method::ContrastiveGradient => {
            let want = Want {
                x: true,
                ..Default::default()
            };
            let gr = net.backward(&Cpu, inst, &st, &tape, mask, Seed::Logit, &targets, want)?;
            let dx = gr.x.unwrap_or_default();
            Cpu.relu_norms(f, &dx)?
        }
        Method::GradCam(layer) => {
            let want = Want {
                blocks: true,
                ..Default::default()
            };
            let grads = net.backward(&Cpu, inst, &st, &tape, mask, Seed::Logit, &targets, want)?;
            let values = net.block_values(&tape);
            let layers: Vec<usize> = match layer {
                Some(l) => vec![l],
                None => (1..=model.num_layers()).collect(),
            };
            let mut total = vec![0.0; n];
            let scale = 1.0 / layers.len() as f64;
            for &l in &layers {
                let (h, k) = values[l - 1];
                Cpu.grad_cam_layer(&g, h, &grads.blocks[l - 1], k, scale, &mut total)?;
            }
            total
        }
        Method::ExcitationBackprop | Method::ContrastiveEb => {
            let ex =
                ex.ok_or_else(|| crate::nn::network::internal("excitation without its weights"))?;
            let mut top = vec![0.0; model.num_classes()];
            top[target] = 1.0;
            let eb = net.excitation(&Cpu, ex, inst, &st, &tape, mask, &top, false)?;
            if cfg.method == Method::ExcitationBackprop {
                eb
            } else {
                let neg = net.excitation(&Cpu, ex, inst, &st, &tape, mask, &top, true)?;
                eb.iter().zip(&neg).map(|(a, b)| a - b).collect()
            }
        }
        other => {
            return Err(crate::Error::Config(format!(
                "{} is not a node-level method",
                other.cli_name()
            )))
        }
    };
    Ok((tape.out, target, scores))
}

/// Runs a node-level method over every graph of `batch`, graphs in parallel.
/// `progress` is called with 1 after each graph.
pub fn explain(
    model: &Model,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    let net = Network::new(&Cpu, model)?;
    let ex = match cfg.method {
        Method::ExcitationBackprop | Method::ContrastiveEb => Some(Excitation::new(
            &Cpu,
            model,
            cfg.method == Method::ContrastiveEb,
        )?),
        _ => None,
    };
    let results: Vec<(Vec<f64>, usize, Vec<f64>)> = (0..batch.num_graphs())
        .into_par_iter()
        .map(|g| {
            let r = graph_scores(&net, ex.as_ref(), batch, g, cfg);
            progress(1);
            r
        })
        .collect::<Result<_>>()?;
    Ok(Attributions {
        num_classes: model.num_classes(),
        num_features: batch.num_features(),
        log_probs: results.iter().flat_map(|r| r.0.iter().copied()).collect(),
        target: results.iter().map(|r| r.1).collect(),
        node_score: Some(results.iter().flat_map(|r| r.2.iter().copied()).collect()),
        ..Default::default()
    })
}
