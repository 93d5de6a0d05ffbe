//! Forward passes of masked variants of every graph on the device (see
//! [`crate::forward`]); mirrors `cpu::masked`.
//!
//! The variants of a chunk's graphs run as the steps of one forward pass of
//! [`crate::nn::Network`], with per-(variant, edge) mask values; the graph structure is
//! uploaded once per chunk. Chunks (and, for a large graph, runs of variants) fit the
//! memory budget.

use super::attribute::plan;
use super::backend::GpuBackend;
use super::launch::Gpu;
use super::network::DeviceGraphs;
use crate::forward::MaskedInputs;
use crate::nn::{Instances, Mask, Network};
use crate::{GraphBatch, Model, Result};

/// The output rows `[G, S, C]` of every variant of every graph (f32 arithmetic, returned
/// as f64). The inputs must have been validated against the batch.
pub fn masked_log_probs<G: Gpu>(
    gpu: &G,
    model: &Model,
    batch: &GraphBatch,
    inputs: &MaskedInputs,
    memory_budget: Option<usize>,
) -> Result<Vec<f64>> {
    let b = GpuBackend::new(gpu);
    let net = Network::new(&b, model)?;
    let budget = gpu.budget(memory_budget)?;
    let (s, e_all, n_all) = (inputs.variants, batch.num_edges(), batch.num_nodes());
    let (c, f) = (model.num_classes(), batch.num_features());
    let mut out = vec![0.0f64; batch.num_graphs() * s * c];
    if s == 0 {
        return Ok(out);
    }
    for (range, per_launch) in plan(model, batch, s, budget)? {
        let sub = batch.subset(range.clone())?;
        let dg = DeviceGraphs::upload(gpu, &sub)?;
        let st = net.structure(&b, &dg)?;
        let (gn, n) = (sub.num_graphs(), sub.num_nodes());
        let edges = batch.edge_ptr()[range.start]..batch.edge_ptr()[range.end];
        let nodes = batch.node_ptr()[range.start]..batch.node_ptr()[range.end];
        let mut v0 = 0;
        while v0 < s {
            let v1 = (v0 + per_launch).min(s);
            let count = v1 - v0;
            let mut ew = Vec::with_capacity(count * edges.len());
            let mut h0 = Vec::with_capacity(count * n * f);
            for v in v0..v1 {
                ew.extend_from_slice(
                    &inputs.edge_weight[v * e_all + edges.start..v * e_all + edges.end],
                );
                match &inputs.node_keep {
                    None => h0.extend_from_slice(sub.features()),
                    Some(k) => {
                        let keep = &k[v * n_all + nodes.start..v * n_all + nodes.end];
                        for (row, &kv) in sub.features().chunks(f).zip(keep) {
                            h0.extend(row.iter().map(|&x| x * kv));
                        }
                    }
                }
            }
            let ew = gpu.upload(&ew)?;
            let inst = Instances {
                graph: &dg,
                steps: count,
            };
            let rows = net.outputs(&b, inst, &st, gpu.upload(&h0)?, Mask::Edge(&ew))?;
            let lp = gpu.download(&rows)?;
            // Rows are variant-major within the launch: row = (v − v0) · gn + k.
            for v in v0..v1 {
                for k in 0..gn {
                    let row = ((v - v0) * gn + k) * c;
                    let dst = ((range.start + k) * s + v) * c;
                    for j in 0..c {
                        out[dst + j] = f64::from(lp[row + j]);
                    }
                }
            }
            v0 = v1;
        }
    }
    Ok(out)
}
