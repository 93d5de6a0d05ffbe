//! Node and graph embeddings after any conv block (`graph-ig embed`), from one forward
//! pass of the model's body over every graph of the batch at once, on the CPU
//! reference (f64).
//!
//! Layer `k` (1-based) is the output of conv block `k`: the conv and the ops after it
//! up to the next conv (its activation, BatchNorm, dropout). For a graph task the
//! graph embeddings are those node embeddings pooled per graph with the model's own
//! pool (add, mean or max).
//!
//! ```
//! let data = graph_ig::synthetic::generate(&graph_ig::synthetic::SyntheticConfig {
//!     num_graphs: 3,
//!     ..Default::default()
//! })?;
//! let model = graph_ig::default_model::synthetic()?;
//! let e = graph_ig::embed::embeddings(&model, &data.batch, None)?;
//! assert_eq!(e.nodes.len(), data.batch.num_nodes() * e.dim);
//! assert_eq!(e.graphs.as_ref().unwrap().len(), 3 * e.dim);
//! # Ok::<(), graph_ig::Error>(())
//! ```

#[cfg(feature = "cpu-ref")]
use crate::cpu::network::whole_batch_body;
#[cfg(feature = "cpu-ref")]
use crate::cpu::Cpu;
use crate::model::{Model, Pool};
#[cfg(feature = "cpu-ref")]
use crate::nn::Network;
use crate::{Error, GraphBatch, Result};

/// The embeddings of one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// The conv block, 1-based.
    pub layer: usize,
    /// Width `d`.
    pub dim: usize,
    /// Node embeddings `[N, d]`, row-major.
    pub nodes: Vec<f64>,
    /// Graph embeddings `[G, d]` (graph tasks: the model's pool of `nodes`).
    pub graphs: Option<Vec<f64>>,
}

/// The embeddings after conv block `layer` (1-based; `None`: the last block).
#[cfg(feature = "cpu-ref")]
pub fn embeddings(model: &Model, batch: &GraphBatch, layer: Option<usize>) -> Result<Embeddings> {
    model.check_batch(batch)?;
    let layers = model.num_layers();
    let layer = layer.unwrap_or(layers);
    if layer == 0 || layer > layers {
        return Err(Error::Config(format!(
            "--layer {layer}: the model ({}) has conv blocks 1..={layers}",
            model.describe()
        )));
    }
    let net = Network::new(&Cpu, model)?;
    let (_, tape) = whole_batch_body(&net, batch)?;
    let (values, dim) = net.seq_block_values(&tape)[layer - 1];
    let nodes = values.clone();
    let graphs = model.pool().map(|p| pool(batch, &nodes, dim, p));
    Ok(Embeddings {
        layer,
        dim,
        nodes,
        graphs,
    })
}

/// `nodes` `[N, d]` pooled per graph of `batch`.
fn pool(batch: &GraphBatch, nodes: &[f64], d: usize, p: Pool) -> Vec<f64> {
    let ptr = batch.node_ptr();
    let mut out = vec![0.0; batch.num_graphs() * d];
    for g in 0..batch.num_graphs() {
        let rows = ptr[g]..ptr[g + 1];
        let o = &mut out[g * d..(g + 1) * d];
        if rows.is_empty() {
            continue;
        }
        for c in 0..d {
            let col = rows.clone().map(|i| nodes[i * d + c]);
            o[c] = match p {
                Pool::Add => col.sum(),
                Pool::Mean => col.sum::<f64>() / rows.len() as f64,
                Pool::Max => col.fold(f64::NEG_INFINITY, f64::max),
            };
        }
    }
    out
}
