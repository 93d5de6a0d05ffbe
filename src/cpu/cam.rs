//! The node-level methods of Pope et al. (CVPR 2019) on the CPU reference path, one
//! graph at a time and graphs in parallel: Grad-CAM, the contrastive gradient,
//! Excitation Backprop and contrastive EB, as [`crate::nn::scores`] writes them.

use super::backend::Cpu;
use super::network::LocalGraph;
use crate::explain::{Attributions, ExplainConfig, Method};
use crate::nn::excitation::Excitation;
use crate::nn::{Instances, Mask, Network};
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
    let scores = net.node_scores(&Cpu, ex, inst, &st, &tape, mask, &[target], cfg.method)?;
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
