//! graph-ig: Integrated Gradients and friends for PyTorch Geometric models
//! (GraphConv, GCNConv, GINConv, SAGEConv, GATConv with MLP heads; graph and node
//! tasks), over whole datasets at once, with the same numbers as PyG's Explainer +
//! captum.
//!
//! ```
//! use graph_ig::{explain, Device, ExplainConfig};
//!
//! // The built-in synthetic molecules and the model trained on them.
//! let data = graph_ig::synthetic::generate(&graph_ig::synthetic::SyntheticConfig {
//!     num_graphs: 4,
//!     ..Default::default()
//! })?;
//! let model = graph_ig::default_model::synthetic()?;
//!
//! // Integrated Gradients over the edge mask, 50 Gauss-Legendre steps, predicted class.
//! let attr = explain(&model, &data.batch, &ExplainConfig::default(), Device::Cpu)?;
//! let edge = attr.edge.as_ref().unwrap();
//! assert_eq!(edge.len(), data.batch.num_edges());
//! println!("largest |delta|: {:.2e}", attr.max_abs_delta());
//! # Ok::<(), graph_ig::Error>(())
//! ```
//!
//! Any other PyG model loads from its state dict and architecture card
//! ([`Model::from_safetensors`], [`model::Card`]); node tasks explain each target's
//! computation subgraph ([`graph::khop`]); [`attention`] reads GAT's coefficients.
//!
//! Conventions:
//! - Edge outputs follow the edge order of the input (for TU datasets, the line
//!   order of `NAME_A.txt`).
//! - The CPU reference computes in f64 and matches captum's float64 results;
//!   see the README for the measured bound.
//! - IG integration rules and step weights follow captum 0.9 exactly
//!   ([`explain::rules`]).

#![warn(missing_docs)]

pub mod args;
pub mod attention;
#[cfg(feature = "cpu-ref")]
pub mod cpu;
#[cfg(any(feature = "cuda", feature = "interpret"))]
pub mod cuda;
pub mod default_model;
mod device;
pub mod embed;
mod error;
pub mod explain;
pub mod forward;
pub mod fuzzing;
pub mod graph;
pub mod labels;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod output;
pub mod render;
pub mod shard;
pub mod sweep;
pub mod synthetic;
pub mod topk;
pub mod tsne;

pub use device::{devices_name, parse_devices, Device};
pub use error::{Error, Result};
pub use explain::{
    Adaptive, Attributions, ExplainConfig, GpuKernel, Method, NodeBaseline, Rule, Smoothing,
    Storage, Target, Wrt,
};
pub use graph::{GraphBatch, GraphParts};
pub use model::{GraphConvNet, Model, Pool};

/// Explains every graph of `batch` with `model` on `device`.
pub fn explain(
    model: &GraphConvNet,
    batch: &GraphBatch,
    config: &ExplainConfig,
    device: Device,
) -> Result<Attributions> {
    explain_with_progress(model, batch, config, device, &|_| {})
}

/// Like [`explain()`], calling `progress(k)` as each group of `k` graphs finishes.
pub fn explain_with_progress(
    model: &GraphConvNet,
    batch: &GraphBatch,
    config: &ExplainConfig,
    device: Device,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    config.validate(model, batch)?;
    device.check()?;
    if let Method::Attention(_) = config.method {
        // One forward pass, on the CPU reference whatever the device.
        return attention::explain(model, batch, config, None);
    }
    device.supports_storage(config.storage)?;
    match device {
        #[cfg(feature = "cpu-ref")]
        Device::Cpu => cpu::explain(model, batch, config, progress),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => {
            let gpu = cuda::driver::CudaGpu::get(n)?;
            cuda::attribute::explain(&*gpu, model, batch, config, progress)
        }
        #[cfg(feature = "interpret")]
        Device::Interpret => {
            let gpu = cuda::interpret::InterpretGpu::default();
            cuda::attribute::explain(&gpu, model, batch, config, progress)
        }
        #[allow(unreachable_patterns)]
        _ => {
            let _ = progress;
            Err(Error::Device(format!(
                "{device} is not available in this build"
            )))
        }
    }
}
