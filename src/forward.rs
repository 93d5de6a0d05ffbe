//! Forward passes of many masked variants of every graph at once, on any device.
//!
//! The explanation metrics (fidelity and its relatives) run the model on hard masks of
//! each graph: edge weights of 0 and 1 ("keep only the explanation", "remove it"), and,
//! for node-level explanations, nodes occluded by zeroing their features. This module
//! lays out `S` such variants of every graph and returns their log-probabilities; the
//! CPU reference (`cpu::masked`) and the GPU path (`cuda::masked`, all graphs × variants
//! of a chunk in one launch sequence with per-edge weights) compute the same thing.

use crate::{Device, Error, GraphBatch, GraphConvNet, Result};

/// `S` variants of every graph of a batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MaskedInputs {
    /// Variants per graph (`S`).
    pub variants: usize,
    /// Edge weights `[S, E]`: variant `s` of edge `e` (batch order) is `edge_weight[s * E + e]`.
    pub edge_weight: Vec<f32>,
    /// Optional node multipliers `[S, N]`: variant `s` scales node `i`'s features by
    /// `node_keep[s * N + i]` (0 occludes the node). `None`: every node as given.
    pub node_keep: Option<Vec<f32>>,
}

impl MaskedInputs {
    /// Checks the lengths against `batch`, and that every value is finite.
    pub fn validate(&self, batch: &GraphBatch) -> Result<()> {
        let (s, e, n) = (self.variants, batch.num_edges(), batch.num_nodes());
        if self.edge_weight.len() != s * e {
            return Err(Error::Config(format!(
                "masked inputs: {} edge weights for {s} variants of {e} edges (need {})",
                self.edge_weight.len(),
                s * e
            )));
        }
        if let Some(k) = &self.node_keep {
            if k.len() != s * n {
                return Err(Error::Config(format!(
                    "masked inputs: {} node multipliers for {s} variants of {n} nodes (need {})",
                    k.len(),
                    s * n
                )));
            }
        }
        let bad = self
            .edge_weight
            .iter()
            .chain(self.node_keep.iter().flatten())
            .position(|v| !v.is_finite());
        if let Some(k) = bad {
            return Err(Error::Config(format!(
                "masked inputs: value {k} is not finite"
            )));
        }
        Ok(())
    }
}

/// The log-probabilities `[G, S, C]` of every variant of every graph:
/// `out[(g * S + s) * C + c]`.
pub fn masked_log_probs(
    model: &GraphConvNet,
    batch: &GraphBatch,
    inputs: &MaskedInputs,
    device: Device,
    memory_budget: Option<usize>,
) -> Result<Vec<f64>> {
    inputs.validate(batch)?;
    model.check_batch(batch)?;
    device.check()?;
    let _ = memory_budget;
    match device {
        #[cfg(feature = "cpu-ref")]
        Device::Cpu => crate::cpu::masked::masked_log_probs(model, batch, inputs),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => {
            let gpu = crate::cuda::driver::CudaGpu::get(n)?;
            crate::cuda::masked::masked_log_probs(&*gpu, model, batch, inputs, memory_budget)
        }
        #[cfg(feature = "interpret")]
        Device::Interpret => {
            let gpu = crate::cuda::interpret::InterpretGpu::default();
            crate::cuda::masked::masked_log_probs(&gpu, model, batch, inputs, memory_budget)
        }
        #[allow(unreachable_patterns)]
        _ => Err(Error::Device(format!(
            "{device} is not available in this build"
        ))),
    }
}
