//! Forward passes of masked variants of every graph on the CPU reference path (see
//! [`crate::forward`]); graphs in parallel, f64.

use super::backend::Cpu;
use super::network::LocalGraph;
use crate::forward::MaskedInputs;
use crate::nn::{Instances, Mask, Network};
use crate::{GraphBatch, Model, Result};
use rayon::prelude::*;

/// The output rows `[G, S, C]` of every variant of every graph. The inputs must have
/// been validated against the batch.
pub fn masked_log_probs(
    model: &Model,
    batch: &GraphBatch,
    inputs: &MaskedInputs,
) -> Result<Vec<f64>> {
    let (s, e, n) = (inputs.variants, batch.num_edges(), batch.num_nodes());
    let f = batch.num_features();
    let net = Network::new(&Cpu, model)?;
    let per_graph: Vec<Vec<f64>> = (0..batch.num_graphs())
        .into_par_iter()
        .map(|gi| {
            let gr = batch.graph(gi);
            let g = LocalGraph::from_batch(batch, gi);
            let st = net.structure(&Cpu, &g)?;
            let inst = Instances {
                graph: &g,
                steps: 1,
            };
            let feats = &batch.features()[gr.nodes.start * f..gr.nodes.end * f];
            let mut out = Vec::with_capacity(s * model.num_classes());
            for v in 0..s {
                let w: Vec<f64> = inputs.edge_weight[v * e + gr.edges.start..v * e + gr.edges.end]
                    .iter()
                    .map(|&x| f64::from(x))
                    .collect();
                let x: Vec<f64> = match &inputs.node_keep {
                    None => feats.iter().map(|&x| f64::from(x)).collect(),
                    Some(k) => feats
                        .chunks(f)
                        .zip(&k[v * n + gr.nodes.start..v * n + gr.nodes.end])
                        .flat_map(|(row, &keep)| {
                            row.iter().map(move |&x| f64::from(x) * f64::from(keep))
                        })
                        .collect(),
                };
                out.extend(net.outputs(&Cpu, inst, &st, x, Mask::Edge(&w))?);
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(per_graph.concat())
}
