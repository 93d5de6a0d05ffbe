//! The node-level methods of Pope et al. (CVPR 2019) on the CPU reference path:
//! Grad-CAM (per conv layer, or averaged over the layers) and the contrastive
//! gradient. Both explain the class score `y_c`, the output before the softmax.
//!
//! - Grad-CAM on layer `l` with node features `F^l [n, K]` (after the ReLU):
//!   `α_k = (1/n) Σ_n ∂y_c/∂F^l_{n,k}` and `score_n = ReLU(Σ_k α_k F^l_{n,k})`;
//!   the average is `(1/L) Σ_l score^l_n`.
//! - Contrastive gradient: `score_n = ‖ReLU(∂y_c/∂X_n)‖₂` over node `n`'s input features.
//! - Excitation Backprop and contrastive EB: see [`super::excitation`].

use super::excitation::{excitation, negated};
use super::network::{backward_from, Activations, LocalGraph, Network};
use crate::explain::{Attributions, ExplainConfig, Method};
use crate::{GraphBatch, GraphConvNet, Result};
use rayon::prelude::*;

/// Scores of one graph: `(log_probs, target, scores [n])`.
fn graph_scores(
    net: &Network,
    batch: &GraphBatch,
    gidx: usize,
    cfg: &ExplainConfig,
) -> (Vec<f64>, usize, Vec<f64>) {
    let model = net.model;
    let gr = batch.graph(gidx);
    let f = batch.num_features();
    let g = LocalGraph::from_batch(batch, gidx);
    let x: Vec<f64> = batch.features()[gr.nodes.start * f..gr.nodes.end * f]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let w = vec![1.0; g.src.len()];
    let mut act = Activations::default();
    net.forward(&g, &x, &w, &mut act);
    let target = cfg.target.resolve(batch, gidx, &act.log_probs);
    let mut dz = vec![0.0; model.num_classes()];
    dz[target] = 1.0;
    let n = g.n;
    let scores = match cfg.method {
        Method::ContrastiveGradient => {
            let mut dx = vec![0.0; n * f];
            backward_from(model, &g, &w, &act, &dz, Some(&mut dx), None, None);
            dx.chunks(f)
                .map(|row| row.iter().map(|v| v.max(0.0).powi(2)).sum::<f64>().sqrt())
                .collect()
        }
        Method::GradCam(layer) => {
            let mut grads = Vec::new();
            backward_from(model, &g, &w, &act, &dz, None, None, Some(&mut grads));
            let layers: Vec<usize> = match layer {
                Some(l) => vec![l],
                None => (1..=model.num_layers()).collect(),
            };
            let mut total = vec![0.0; n];
            for &l in &layers {
                let k = model.widths()[l];
                let (h, dh) = (&act.h[l], &grads[l - 1]);
                let alpha: Vec<f64> = (0..k)
                    .map(|c| (0..n).map(|i| dh[i * k + c]).sum::<f64>() / n as f64)
                    .collect();
                for (i, t) in total.iter_mut().enumerate() {
                    let s: f64 = (0..k).map(|c| alpha[c] * h[i * k + c]).sum();
                    *t += s.max(0.0);
                }
            }
            total.iter().map(|t| t / layers.len() as f64).collect()
        }
        Method::ExcitationBackprop | Method::ContrastiveEb => {
            let mut top = vec![0.0; model.num_classes()];
            top[target] = 1.0;
            let eb = excitation(model, &g, &w, &act, &top, &model.lin2);
            if cfg.method == Method::ExcitationBackprop {
                eb
            } else {
                let neg = excitation(model, &g, &w, &act, &top, &negated(&model.lin2, target));
                eb.iter().zip(&neg).map(|(a, b)| a - b).collect()
            }
        }
        _ => vec![0.0; n],
    };
    (act.log_probs, target, scores)
}

/// Runs a node-level method over every graph of `batch`, graphs in parallel.
/// `progress` is called with 1 after each graph.
pub fn explain(
    model: &GraphConvNet,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    let net = Network::new(model);
    let results: Vec<(Vec<f64>, usize, Vec<f64>)> = (0..batch.num_graphs())
        .into_par_iter()
        .map(|g| {
            let r = graph_scores(&net, batch, g, cfg);
            progress(1);
            r
        })
        .collect();
    Ok(Attributions {
        num_classes: model.num_classes(),
        num_features: batch.num_features(),
        log_probs: results.iter().flat_map(|r| r.0.iter().copied()).collect(),
        target: results.iter().map(|r| r.1).collect(),
        node_score: Some(results.iter().flat_map(|r| r.2.iter().copied()).collect()),
        ..Default::default()
    })
}
