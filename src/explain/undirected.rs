//! The undirected view of edge attributions: both directions of a bond summed,
//! like the PyG + captum tutorial's `aggregate_edge_directions`.

use crate::{Error, GraphBatch, Result};
use std::collections::HashMap;

/// Bond-level attributions: one entry per unordered node pair `{u, v}` (u ≤ v).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UndirectedEdges {
    /// Global node ids `(u, v)` with `u <= v`, grouped by graph, in order of first appearance.
    pub index: Vec<(u32, u32)>,
    /// The summed attribution of each pair.
    pub attr: Vec<f64>,
    /// Offsets `[G+1]` into `index` and `attr`.
    pub ptr: Vec<usize>,
}

/// Sums the attributions of `(u, v)` and `(v, u)` (and of repeated edges) per graph.
/// Self-loops stay single entries. `edge_attr` must have one value per edge of `batch`.
pub fn aggregate_edge_directions(batch: &GraphBatch, edge_attr: &[f64]) -> Result<UndirectedEdges> {
    if edge_attr.len() != batch.num_edges() {
        return Err(Error::Config(format!(
            "{} edge attributions for a batch of {} edges",
            edge_attr.len(),
            batch.num_edges()
        )));
    }
    let mut out = UndirectedEdges {
        ptr: vec![0],
        ..Default::default()
    };
    let mut slot: HashMap<(u32, u32), usize> = HashMap::new();
    for g in batch.graphs() {
        slot.clear();
        for e in g.edges {
            let (s, d) = (batch.src()[e], batch.dst()[e]);
            let key = (s.min(d), s.max(d));
            let i = *slot.entry(key).or_insert_with(|| {
                out.index.push(key);
                out.attr.push(0.0);
                out.attr.len() - 1
            });
            out.attr[i] += edge_attr[e];
        }
        out.ptr.push(out.index.len());
    }
    Ok(out)
}
